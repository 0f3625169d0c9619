import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionEvent, ConnectionState, nextState, TRANSITIONS } from '../../src/core/state-machine.js';
import { AuthError, ERROR_CODES, isAuthError, toAuthError } from '../../src/errors.js';

describe('state machine', () => {
  it('follows the documented table and refuses everything else', () => {
    assert.equal(nextState('pending', 'authenticate'), 'authenticated');
    assert.equal(nextState('authenticated', 'refresh'), 'authenticated');
    assert.equal(nextState('authenticated', 'expire'), 'expired');
    assert.equal(nextState('authenticated', 'revoke'), 'revoked');
    assert.equal(nextState('expired', 'close'), 'closed');
    assert.equal(nextState('revoked', 'close'), 'closed');
    assert.equal(nextState('pending', 'timeout'), 'closed');
    assert.equal(nextState('closed', 'authenticate'), undefined);
    assert.equal(nextState('pending', 'refresh'), undefined);
    assert.equal(nextState('expired', 'refresh'), undefined);
    for (const state of Object.values(ConnectionState)) {
      for (const event of Object.values(ConnectionEvent)) {
        const next = nextState(state, event);
        if (next !== undefined) assert.ok(next in TRANSITIONS);
      }
      assert.equal(nextState('closed', 'close'), undefined);
    }
  });
});

describe('error table', () => {
  it('maps every code to one close code, status, action and fixed message', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const err = new AuthError(code as keyof typeof ERROR_CODES, { detail: 'internal', cause: new Error('secret') });
      assert.equal(err.closeCode, info.closeCode);
      assert.ok(err.closeCode >= 4400 && err.closeCode <= 4503);
      assert.equal(err.status, info.status);
      assert.equal(err.message, info.message);
      assert.deepEqual(Object.keys(err.toJSON()).sort(), ['code', 'message', 'retryable']);
      assert.ok(!JSON.stringify(err.toJSON()).includes('secret'));
    }
    assert.equal(new AuthError('rate_limited', { retryAfter: 3 }).toJSON().retryAfter, 3);
    assert.equal(toAuthError(new Error('x')).code, 'internal_error');
    assert.ok(isAuthError(new AuthError('forbidden')));
    assert.ok(!isAuthError({ name: 'AuthError', code: 'nope' }));
  });
});
