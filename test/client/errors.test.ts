import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FrameType } from '../../src/adapters/ws/frames.js';
import { BEARER_PROTOCOL_PREFIX as SERVER_BEARER_PREFIX } from '../../src/adapters/ws/options.js';
import {
  actionFor,
  fromClose,
  fromConnectError,
  fromHttpStatus,
  fromRefusal,
  isPortcullisClientError,
  needsNewCredentials,
  PortcullisClientError,
  shouldRetry,
} from '../../src/client/errors.js';
import * as client from '../../src/client/index.js';
import { BEARER_PROTOCOL_PREFIX, WS_FRAME_TYPES } from '../../src/client/websocket.js';
import { AuthError, ClientAction, ERROR_CODES, type ErrorCode } from '../../src/errors.js';

describe('client errors', () => {
  it('derives retry and action from the wire table for every code', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      assert.equal(shouldRetry(code), info.retryable, code);
      assert.equal(actionFor(code), info.action, code);
      const err = new PortcullisClientError(code);
      assert.equal(err.retryable, info.retryable);
      assert.equal(err.message, info.message);
    }
    assert.equal(shouldRetry('no_such_code'), false);
    assert.equal(actionFor('no_such_code'), ClientAction.GiveUp);
    for (const code of ['forbidden', 'origin_not_allowed', 'csrf_failed', 'tls_required', 'revoked', 'invalid_request']) {
      assert.equal(shouldRetry(code), false, `${code} is do-not-retry`);
    }
    assert.equal(needsNewCredentials('token_expired'), true);
    assert.equal(needsNewCredentials('invalid_credentials'), true);
    assert.equal(needsNewCredentials('rate_limited'), false);
  });

  it('reads server refusal objects, including unknown codes and retryAfter', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const err = fromRefusal(new AuthError(code, { retryAfter: 3 }).toJSON());
      assert.equal(err.code, code);
      assert.equal(err.retryAfter, 3);
      assert.equal(err.message, ERROR_CODES[code].message);
    }
    const future = fromRefusal({ message: 'Slow down, newer server', code: 'future_code', retryable: true });
    assert.equal(future.code, 'future_code');
    assert.equal(future.retryable, true);
    assert.equal(future.action, ClientAction.Backoff);
    assert.equal(fromRefusal('garbage').code, 'invalid_request');
  });

  it('reads Socket.IO connect_error: refusals by data.code, transport errors as connection_lost', () => {
    const refused = Object.assign(new Error('Access revoked'), { data: { code: 'revoked', retryable: false } });
    const err = fromConnectError(refused);
    assert.ok(isPortcullisClientError(err));
    assert.equal(err.code, 'revoked');
    assert.equal(err.action, ClientAction.GiveUp);
    const lost = fromConnectError(new Error('websocket error'));
    assert.equal(lost.code, 'connection_lost');
    assert.equal(lost.retryable, true);
  });

  it('maps WebSocket closes: the reason names the code, else the close code decides', () => {
    assert.equal(fromClose(1000, ''), undefined);
    assert.equal(fromClose(4401, 'token_expired')?.code, 'token_expired');
    assert.equal(fromClose(4403, 'revoked')?.code, 'revoked');
    assert.equal(fromClose(4403, 'revoked')?.closeCode, 4403);
    const byCode: [number, string, boolean][] = [
      [4400, 'invalid_request', false],
      [4401, 'invalid_credentials', true],
      [4403, 'forbidden', false],
      [4408, 'auth_timeout', true],
      [4429, 'rate_limited', true],
      [4500, 'internal_error', true],
      [4503, 'unavailable', true],
      [1001, 'connection_lost', true],
      [1006, 'connection_lost', true],
      [1011, 'connection_lost', true],
      [1002, 'protocol_error', false],
      [1009, 'protocol_error', false],
      [4999, 'connection_lost', true],
    ];
    for (const [close, code, retryable] of byCode) {
      const err = fromClose(close, '');
      assert.equal(err?.code, code, String(close));
      assert.equal(err?.retryable, retryable, String(close));
    }
    for (const info of Object.values(ERROR_CODES)) {
      assert.ok(fromClose(info.closeCode, ''), `close ${info.closeCode} maps to a code`);
    }
  });

  it('maps refused-upgrade HTTP statuses', () => {
    assert.equal(fromHttpStatus(401).code, 'invalid_credentials');
    assert.equal(fromHttpStatus(403).code, 'forbidden');
    assert.equal(fromHttpStatus(429).code, 'rate_limited');
    assert.equal(fromHttpStatus(503).code, 'unavailable');
    assert.equal(fromHttpStatus(500).code, 'internal_error');
    assert.equal(fromHttpStatus(404).retryable, false);
  });

  it('speaks the server adapter constants', () => {
    assert.equal(BEARER_PROTOCOL_PREFIX, SERVER_BEARER_PREFIX);
    assert.deepEqual(Object.values(WS_FRAME_TYPES).sort(), Object.values(FrameType).sort());
    assert.equal(typeof client.signHandshake, 'function');
    assert.equal(typeof client.createCredentialProvider, 'function');
  });
});

describe('client portability', () => {
  it('uses no Node built-ins, Node globals or DOM globals in src/client', () => {
    const dir = fileURLToPath(new URL('../../src/client/', import.meta.url));
    const forbidden = [
      /from\s+['"]node:/,
      /from\s+['"](socket\.io-client|ws|socket\.io)['"]/,
      /\bprocess\./,
      /\bBuffer\b/,
      /\brequire\(/,
      /\b(window|document|navigator|self)\./,
      /(^|[^.\w])setTimeout\(/m,
    ];
    // The wire module is loaded by the client too.
    const files = [...readdirSync(dir).filter((f) => f.endsWith('.ts')), '../protocol.ts'];
    for (const file of files) {
      const text = readFileSync(`${dir}${file}`, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const re of forbidden) assert.doesNotMatch(text, re, `${file} matches ${re}`);
      // Outside src/client, only the wire module: not the server's errors, core or adapters.
      for (const [, specifier] of text.matchAll(/from\s+['"](\.\.\/[^'"]+)['"]/g)) {
        assert.equal(specifier, '../protocol.js', `${file} imports ${specifier}`);
      }
    }
  });
});
