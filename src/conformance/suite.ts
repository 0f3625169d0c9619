/**
 * The behaviour suite (issue #4): every behaviour is written once against the
 * transport-neutral {@link Harness} and run over each transport by `behaviour.test.ts`.
 * This file holds admission (deadline, isolation of pending sockets, pending application
 * messages, one authentication at a time) and composes the other parts.
 */
import assert from 'node:assert/strict';
import { createManualClock } from '../core/clock.js';
import { Gate, tokenStrategy } from './fixtures.js';
import type { Harness } from './harness.js';
import { admitted, assertAccepted, assertOutcome, assertRefused, begin, createLab, type Lab, untilServer } from './lab.js';
import { describe, it } from './runner.js';
import { lifecycleBehaviours } from './suite-lifecycle.js';
import { refusalBehaviours } from './suite-refusals.js';
import { strategyBehaviours } from './suite-strategies.js';

/** Registers every behaviour for `harness` (call inside a `describe`). */
export function behaviourSuite(harness: Harness): void {
  const lab = createLab(harness);
  admissionBehaviours(lab);
  strategyBehaviours(lab);
  refusalBehaviours(lab);
  lifecycleBehaviours(lab);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function admissionBehaviours(lab: Lab): void {
  describe('deadline', () => {
    const timeoutMs = 350;

    // Timed on the guard's injected clock, never on the client's wall clock: the deadline must not
    // fire at timeoutMs − 1 and must fire at timeoutMs, however busy the machine is.
    it('refuses a socket that never authenticates with auth_timeout at timeoutMs on the server clock', async () => {
      const clock = createManualClock(Date.now());
      const server = await lab.start({ mode: 'message', strategies: tokenStrategy().strategy, timeoutMs, clock });
      const client = server.connect();
      await client.opened();
      // The server registered the socket as pending (and started its deadline) before the client saw it open.
      assert.deepEqual(server.stats(), { pending: 1, authenticated: 0 });
      clock.advance(timeoutMs - 1);
      assert.deepEqual(server.stats(), { pending: 1, authenticated: 0 }, 'refused before the deadline');
      await client.flush();
      assert.equal(client.verdicts, 0, 'refused before the deadline');
      assert.equal(client.isOpen, true);
      clock.advance(1);
      assertRefused(await client.verdict(), 'auth_timeout');
      assert.equal((await client.closed()).code, 'auth_timeout');
      assert.deepEqual(server.stats(), { pending: 0, authenticated: 0 });
    });

    it('bounds a verification of handshake credentials that never ends (§4.3 #3: HTTP 408 on ws)', async () => {
      const clock = createManualClock(Date.now());
      const tokens = tokenStrategy();
      const server = await lab.start({ mode: 'handshake', strategies: tokens.strategy, timeoutMs, clock });
      const client = begin(server, 'handshake', { token: 'hang' });
      await untilServer(() => tokens.calls.length === 1, 'the strategy to be called');
      clock.advance(timeoutMs - 1);
      assert.deepEqual(server.stats(), { pending: 1, authenticated: 0 }, 'refused before the deadline');
      clock.advance(1);
      assertRefused(await client.verdict(), 'auth_timeout');
      assert.equal((await client.closed()).code, 'auth_timeout');
      assert.deepEqual(server.stats(), { pending: 0, authenticated: 0 });
    });
  });

  describe('isolation of pending sockets', () => {
    it('N broadcasts reach each of K authenticated sockets N times and K pending sockets never', async () => {
      const K = 3;
      const N = 5;
      const server = await lab.start({ mode: 'message', strategies: tokenStrategy().strategy, timeoutMs: 10_000 });
      const members = await Promise.all(range(K).map(() => admitted(server, 'message', { token: 'alice' })));
      const pending = range(K).map(() => server.connect());
      await Promise.all(pending.map((c) => c.opened()));
      assert.deepEqual(server.stats(), { pending: K, authenticated: K });
      for (const seq of range(N)) server.broadcast(seq);
      await Promise.all(members.map((c) => c.untilBroadcasts(N)));
      // Zero is proved by the marker: anything sent to a pending socket would arrive before it.
      for (const c of pending) {
        c.authenticate({ token: 'bob' });
        assertAccepted(await c.verdict());
      }
      server.broadcast(N);
      await Promise.all([...members.map((c) => c.untilBroadcasts(N + 1)), ...pending.map((c) => c.untilBroadcasts(1))]);
      await Promise.all([...members, ...pending].map((c) => c.flush()));
      assert.deepEqual(
        members.map((c) => c.broadcasts),
        range(K).map(() => N + 1),
      );
      assert.deepEqual(
        pending.map((c) => c.broadcasts),
        range(K).map(() => 1),
      );
    });

    it('an application message from a pending socket never reaches the app (§4.3 #2)', async () => {
      const server = await lab.start({ mode: 'message', strategies: tokenStrategy().strategy });
      const early = server.connect();
      await early.opened();
      early.sendApp('early');
      await early.flush();
      assert.deepEqual(server.appMessages, []);
      early.authenticate({ token: 'alice' });
      // Socket.IO drops the event and the socket may still authenticate; ws closes it with 4401.
      const verdict = await early.verdict();
      assertOutcome(verdict, lab.harness.quirks.afterPendingAppMessage);
      // The same message from an authenticated socket does reach the app.
      const member = await admitted(server, 'message', { token: 'bob' });
      member.sendApp('late');
      await server.untilAppMessages(1);
      await Promise.all([early.flush(), member.flush()]);
      assert.deepEqual(server.appMessages, ['late']);
    });
  });

  describe('one authentication at a time', () => {
    it('a second authenticate while the first is verified gets no verdict; the strategy runs once', async () => {
      const gate = new Gate();
      const tokens = tokenStrategy(gate);
      const server = await lab.start({ mode: 'message', strategies: tokens.strategy });
      const client = server.connect();
      client.authenticate({ token: 'gated.1' });
      await gate.untilEntered(1);
      client.authenticate({ token: 'gated.2' });
      await client.flush(); // the server has read the second message (while the first is in flight)
      assert.deepEqual(tokens.calls, ['gated.1']);
      assert.equal(client.verdicts, 0);
      gate.release();
      assert.deepEqual(assertAccepted(await client.verdict()), { n: 1 });
      // Nothing was queued for the ignored message: the next verdict is the next refresh's.
      client.authenticate({ token: 'gated.3' });
      assert.deepEqual(assertAccepted(await client.verdict()), { n: 3 });
      await client.flush();
      assert.deepEqual(tokens.calls, ['gated.1', 'gated.3']);
      assert.equal(client.verdicts, 2);
    });
  });
}
