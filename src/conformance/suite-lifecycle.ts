/**
 * After admission, over both transports: expiry and refresh on an injected clock,
 * revocation, and the hooks (`onAuthenticated` before the verdict, `onClose` exactly once).
 */
import assert from 'node:assert/strict';
import { createManualClock } from '../core/clock.js';
import type { CloseReason } from '../core/hooks.js';
import { Gate, tokenStrategy } from './fixtures.js';
import { Signal } from './harness.js';
import { admitted, assertAccepted, assertRefused, begin, knownBug, type Lab, login, MODES } from './lab.js';
import { describe, it } from './runner.js';

const LEAD_MS = 1000;
const LIFETIME_MS = 5000;

/** Records `onClose` per connection id, waking waiters on each call. */
function closeLog() {
  const signal = new Signal();
  const byId = new Map<string, CloseReason[]>();
  return {
    byId,
    onClose(connection: { id: string }, reason: CloseReason): void {
      byId.set(connection.id, [...(byId.get(connection.id) ?? []), reason]);
      signal.notify();
    },
    until(n: number, timeoutMs?: number): Promise<void> {
      return signal.untilTrue(() => byId.size >= n, `onClose for ${n} connection(s)`, timeoutMs);
    },
    reasons(): CloseReason[] {
      return [...byId.values()].flat().sort();
    },
  };
}

export function lifecycleBehaviours(lab: Lab): void {
  for (const mode of MODES) {
    describe(`expiry and refresh (${mode})`, () => {
      it('warns expiringLeadMs before expiry, then closes with token_expired', async () => {
        const clock = createManualClock(Date.now());
        const server = await lab.start({ mode, clock, expiringLeadMs: LEAD_MS, strategies: tokenStrategy().strategy });
        const client = await admitted(server, mode, { token: `exp.${LIFETIME_MS}` });
        const expiresAt = clock.now() + LIFETIME_MS;
        clock.advance(LIFETIME_MS - LEAD_MS - 1);
        await client.flush();
        assert.equal(client.warnings, 0, 'warned early');
        clock.advance(1);
        assert.deepEqual(await client.expiring(), { expiresAt });
        assert.equal(client.isOpen, true);
        clock.advance(LEAD_MS);
        assert.equal((await client.closed()).code, 'token_expired');
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 0 });
      });

      it('a refresh before expiry keeps the same socket and moves expiresAt', async () => {
        const clock = createManualClock(Date.now());
        const closes = closeLog();
        const server = await lab.start({
          mode,
          clock,
          expiringLeadMs: LEAD_MS,
          strategies: tokenStrategy().strategy,
          hooks: { onClose: closes.onClose },
        });
        const client = await admitted(server, mode, { token: `exp.${LIFETIME_MS}` });
        const first = clock.now() + LIFETIME_MS;
        clock.advance(LIFETIME_MS - LEAD_MS);
        assert.deepEqual(await client.expiring(), { expiresAt: first });
        client.authenticate({ token: `exp.${LIFETIME_MS}` });
        const refreshed = assertAccepted(await client.verdict());
        const second = first + LIFETIME_MS - LEAD_MS;
        assert.equal(refreshed?.expiresAt, second);
        // Past the first expiry: still the same, open, authenticated socket.
        clock.advance(LEAD_MS + 500);
        await client.flush();
        assert.equal(client.isOpen, true);
        assert.equal(closes.byId.size, 0);
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 1 });
        // Then the new expiry applies.
        clock.set(second);
        assert.deepEqual(await client.expiring(), { expiresAt: second });
        assert.equal((await client.closed()).code, 'token_expired');
        await closes.until(1);
        assert.deepEqual(closes.reasons(), ['token_expired']);
      });
    });

    describe(`refused refresh (${mode})`, () => {
      it('keeps the connection and its credential; a refresh as someone else is forbidden', async () => {
        const server = await lab.start({ mode, strategies: tokenStrategy().strategy });
        const client = await admitted(server, mode, { token: 'alice' });
        client.authenticate({ token: 'wrong' });
        assert.deepEqual(await client.refreshFailed(), { code: 'invalid_credentials' });
        client.authenticate({ token: 'bob' });
        assert.deepEqual(await client.refreshFailed(), { code: 'forbidden' });
        await client.flush();
        assert.equal(client.isOpen, true);
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 1 });
        client.sendApp('still here');
        await server.untilAppMessages(1);
        assert.deepEqual(server.appMessages, ['still here']);
      });
    });

    describe(`revocation (${mode})`, () => {
      it("revoke({ userId }) closes that user's sockets with revoked, others stay, the credentials are refused", async () => {
        const server = await lab.start({ mode, strategies: tokenStrategy().strategy });
        const alice = [await admitted(server, mode, { token: 'alice' }), await admitted(server, mode, { token: 'alice' })];
        const bob = await admitted(server, mode, { token: 'bob' });
        assert.equal(await server.revoke({ userId: 'alice' }), 2);
        for (const client of alice) assert.equal((await client.closed()).code, 'revoked');
        await bob.flush();
        assert.equal(bob.isOpen, true);
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 1 });
        assertRefused((await login(server, mode, { token: 'alice' })).verdict, 'revoked');
        assertAccepted((await login(server, mode, { token: 'bob' })).verdict);
      });
    });

    describe(`hooks (${mode})`, () => {
      it('onAuthenticated finishes before the verdict is sent', async () => {
        const gate = new Gate();
        const order: string[] = [];
        const server = await lab.start({
          mode,
          strategies: tokenStrategy().strategy,
          hooks: {
            async onAuthenticated() {
              await gate.pass();
              order.push('hook done');
            },
          },
        });
        const client = begin(server, mode, { token: 'alice' });
        await gate.untilEntered(1);
        // A round trip where the transport is open already (message mode): no verdict overtook the hook.
        await client.flush();
        assert.equal(client.verdicts, 0);
        assert.deepEqual(server.stats(), { pending: 1, authenticated: 0 });
        gate.release();
        const verdict = await client.verdict();
        order.push('verdict');
        assertAccepted(verdict);
        assert.deepEqual(order, ['hook done', 'verdict']);
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 1 });
      });

      it('onClose runs exactly once per connection, whatever ended it', async () => {
        const closes = closeLog();
        const server = await lab.start({ mode, strategies: tokenStrategy().strategy, hooks: { onClose: closes.onClose } });
        const leaver = await admitted(server, mode, { token: 'alice' });
        leaver.close();
        await closes.until(1);
        assertRefused((await login(server, mode, { token: 'wrong' })).verdict, 'invalid_credentials');
        await closes.until(2);
        const expired = begin(server, mode, { token: 'code.token_expired' });
        assert.equal((await expired.closed()).code, 'token_expired');
        const stayer = await admitted(server, mode, { token: 'bob' });
        await server.close();
        await stayer.closed();
        assert.equal(closes.byId.size, 4);
        for (const [id, reasons] of closes.byId) assert.equal(reasons.length, 1, `onClose ran ${reasons.length} times for ${id}`);
        assert.deepEqual(closes.reasons(), ['client_disconnect', 'invalid_credentials', 'server_disconnect', 'token_expired']);
        assert.deepEqual(server.stats(), { pending: 0, authenticated: 0 });
      });

      it(
        'a client that leaves during verification: onClose at once and once, never authenticated',
        knownBug(lab, 'client-leaves-during-verification', mode),
        async () => {
          const gate = new Gate();
          const closes = closeLog();
          const authenticated: string[] = [];
          const server = await lab.start({
            mode,
            strategies: tokenStrategy(gate).strategy,
            hooks: { onClose: closes.onClose, onAuthenticated: (c) => void authenticated.push(c.id) },
          });
          const quitter = begin(server, mode, { token: 'gated.1' });
          await gate.untilEntered(1);
          quitter.close();
          await closes.until(1, 1000);
          assert.deepEqual(closes.reasons(), ['client_disconnect']);
          assert.deepEqual(server.stats(), { pending: 0, authenticated: 0 });
          gate.release(); // the verification succeeds after the client left
          const other = await admitted(server, mode, { token: 'gated.2' });
          await other.flush();
          assert.equal(authenticated.length, 1, 'onAuthenticated ran for the client that left');
          await server.close();
          assert.deepEqual(closes.reasons(), ['client_disconnect', 'server_disconnect']);
        },
      );

      it(
        'sockets still pending or verifying when the server closes end with server_disconnect',
        knownBug(lab, 'shutdown-close-reason', mode),
        async () => {
          const gate = new Gate();
          const closes = closeLog();
          const server = await lab.start({ mode, strategies: tokenStrategy(gate).strategy, hooks: { onClose: closes.onClose } });
          const member = await admitted(server, mode, { token: 'alice' });
          const verifying = begin(server, mode, { token: 'gated.1' });
          await gate.untilEntered(1);
          await server.close();
          await Promise.all([member.closed(), verifying.closed()]);
          gate.release();
          assert.deepEqual(closes.reasons(), ['server_disconnect', 'server_disconnect']);
        },
      );
    });
  }
}
