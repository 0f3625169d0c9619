import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redact, scrubError } from '../../src/core/logger.js';
import { sanitizeCredentials } from '../../src/core/sanitize.js';
import { AuthError } from '../../src/errors.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as AuthError).code;
  }
};

describe('payload sanitiser', () => {
  it('copies plain objects onto null prototypes', () => {
    const out = sanitizeCredentials({ token: 'abc', nested: { list: [1, 'two', null, true] } });
    assert.equal(Object.getPrototypeOf(out), null);
    assert.deepEqual(JSON.parse(JSON.stringify(out)), { token: 'abc', nested: { list: [1, 'two', null, true] } });
    assert.equal(Object.keys(sanitizeCredentials(undefined)).length, 0);
  });

  it('refuses non-objects, binary, prototype keys and anything over a limit', () => {
    for (const bad of ['str', 1, true, [1], Buffer.from('x'), new Uint8Array(2), new Date(), () => 1]) {
      assert.equal(
        code(() => sanitizeCredentials(bad)),
        'invalid_request',
        String(bad),
      );
    }
    assert.equal(
      code(() => sanitizeCredentials(JSON.parse('{"__proto__":{"x":1}}'))),
      'invalid_request',
    );
    assert.equal(
      code(() => sanitizeCredentials({ constructor: 1 })),
      'invalid_request',
    );
    assert.equal(
      code(() => sanitizeCredentials({ a: { prototype: 1 } })),
      'invalid_request',
    );
    assert.equal(
      code(() => sanitizeCredentials({ a: 'x'.repeat(8193) })),
      'invalid_request',
    );
    assert.equal(
      code(() => sanitizeCredentials({ a: { b: { c: { d: 1 } } } })),
      undefined,
    );
    assert.equal(
      code(() => sanitizeCredentials({ a: { b: { c: { d: { e: 1 } } } } })),
      'invalid_request',
    );
    assert.equal(
      code(() => sanitizeCredentials(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])))),
      'invalid_request',
    );
    assert.equal(
      code(() => sanitizeCredentials({ a: 'x'.repeat(8000), b: 'x'.repeat(8000), c: 'x'.repeat(8000) })),
      'invalid_request',
    );
    assert.equal(
      code(() => sanitizeCredentials({ n: Number.NaN })),
      'invalid_request',
    );
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});

describe('log redaction', () => {
  it('masks tokens and removes every credential value from errors', () => {
    assert.ok(!redact('token=abcdef123 and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig').includes('abcdef123'));
    assert.ok(!redact('Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln').includes('eyJ'));
    const err = scrubError(new AuthError('internal_error', { cause: new Error('no user with password hunter2'), detail: 'saw hunter2' }), {
      password: 'hunter2',
    });
    assert.ok(!String((err.cause as Error).message).includes('hunter2'));
    assert.ok(!String(err.detail).includes('hunter2'));
    assert.equal(err.code, 'internal_error');
  });
});
