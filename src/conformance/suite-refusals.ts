/**
 * Refusals over both transports: every code of the table reaches the client as is (with
 * its fixed message, close code or HTTP status), internals never do, and malformed auth
 * payloads are refused with `invalid_request` without hurting the server.
 */
import assert from 'node:assert/strict';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { codeToken, nested, SECRET_TEXT, tokenStrategy } from './fixtures.js';
import { assertAccepted, assertRefused, type Lab, login, MODES } from './lab.js';
import { describe, it } from './runner.js';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

/** Auth payloads the sanitiser must refuse. JSON-born, so `__proto__` is an own key as on the wire. */
const MALFORMED: readonly (readonly [string, unknown])[] = [
  ['a string', 'alice'],
  ['a number', 42],
  ['a boolean', true],
  ['an array', [{ token: 'alice' }]],
  ['a huge string', { token: 'x'.repeat(20_000) }],
  ['a __proto__ key', JSON.parse('{"__proto__":{"polluted":"yes"},"token":"alice"}')],
  ['a constructor key', JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}},"token":"alice"}')],
  ['a nested __proto__ key', JSON.parse('{"token":"alice","x":{"__proto__":{"polluted":"yes"}}}')],
  ['deep nesting', { token: 'alice', deep: nested(12) }],
  ['too many keys', Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i]))],
];

function assertPrototypeUntouched(): void {
  assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
}

export function refusalBehaviours(lab: Lab): void {
  for (const mode of MODES) {
    describe(`every error code (${mode})`, () => {
      it('a strategy throwing AuthError(code) refuses with exactly that code, for every code of ERROR_CODES', async () => {
        const server = await lab.start({ mode, strategies: tokenStrategy().strategy, rateLimits: false });
        const seen: string[] = [];
        for (const code of CODES) {
          const { client, verdict } = await login(server, mode, { token: codeToken(code) });
          assertRefused(verdict, code);
          assert.equal((await client.closed()).code, code);
          assert.ok(!client.transcript().includes(SECRET_TEXT), `internal detail of ${code} reached the client`);
          seen.push(code);
        }
        assert.deepEqual(seen, CODES);
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 0 });
      });

      it('an unexpected throw is internal_error and its text never reaches the client', async () => {
        const server = await lab.start({ mode, strategies: tokenStrategy().strategy });
        const { client, verdict } = await login(server, mode, { token: 'boom' });
        assertRefused(verdict, 'internal_error');
        await client.closed();
        assert.ok(!client.transcript().includes(SECRET_TEXT), client.transcript());
        assert.ok(!client.transcript().includes('hunter2'), client.transcript());
        assertAccepted((await login(server, mode, { token: 'alice' })).verdict);
      });
    });
  }

  describe('malformed input (message)', () => {
    // Handshake credentials on ws are strings (a bearer entry, a ticket), so malformed
    // objects are a message-mode behaviour on both transports.
    for (const [what, payload] of MALFORMED) {
      it(`${what} is refused with invalid_request; the server stays up`, async () => {
        const tokens = tokenStrategy();
        const server = await lab.start({ mode: 'message', strategies: tokens.strategy });
        const bad = server.connect();
        bad.authenticate(payload);
        assertRefused(await bad.verdict(), 'invalid_request');
        assert.equal((await bad.closed()).code, 'invalid_request');
        assertPrototypeUntouched();
        assert.deepEqual(tokens.calls, [], 'the strategy never saw the malformed payload');
        assertAccepted((await login(server, 'message', { token: 'alice' })).verdict);
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 1 });
      });
    }
  });
}
