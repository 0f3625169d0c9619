import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Socket as ServerSocket } from 'socket.io';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { createSocketIoGuard, type SocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import { type CredentialProvider, createCredentialProvider } from '../../src/client/credential-provider.js';
import type { PortcullisClientError } from '../../src/client/errors.js';
import { connectSocketIo, type GuardedSocketIo, type GuardedSocketIoEvents, guardSocketIo } from '../../src/client/socket-io.js';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import type { AuditEvent } from '../../src/core/hooks.js';
import { AuthError } from '../../src/errors.js';
import { createMemoryStore, type MemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { createTicketIssuer, createTicketStrategy } from '../../src/strategies/ticket.js';
import { type IoFixture, startIo } from '../helpers/socket-io.js';
import { waitForEvent, withDeadline } from '../helpers/wait.js';

/** Resolves with the arguments of the next `event` of a guarded socket. */
function next<E extends keyof GuardedSocketIoEvents>(
  guarded: GuardedSocketIo<ClientSocket>,
  event: E,
  timeoutMs = 3000,
): Promise<Parameters<GuardedSocketIoEvents[E]>> {
  return withDeadline(
    new Promise((resolve) => {
      const off = guarded.on(event, ((...args: Parameters<GuardedSocketIoEvents[E]>) => {
        off();
        resolve(args);
      }) as GuardedSocketIoEvents[E]);
    }),
    timeoutMs,
    `guarded "${String(event)}"`,
  );
}

/** Client options: fast socket.io-client reconnection, websocket only, connected by the test. */
const CLIENT = { transports: ['websocket'], forceNew: true, reconnection: true, reconnectionDelay: 10, reconnectionDelayMax: 20 };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface TicketSetup {
  fx: IoFixture;
  g: SocketIoGuard;
  store: MemoryStore;
  provider: CredentialProvider<{ ticket: string }>;
  /** Every ticket the issuer handed out, in order. */
  issued: string[];
  audit: AuditEvent[];
  /** Makes the guard refuse every later attempt with this code (`undefined` lifts the ban). */
  ban(code: 'revoked' | 'forbidden' | undefined): void;
}

/** A guarded server redeeming one-time tickets, and a one-time provider asking its issuer. */
async function ticketSetup(options: Partial<SocketIoGuardOptions> = {}): Promise<TicketSetup> {
  const fx = await startIo();
  const store = createMemoryStore();
  const issuer = createTicketIssuer({ store });
  const audit: AuditEvent[] = [];
  let banned: 'revoked' | 'forbidden' | undefined;
  const gate = createCustomStrategy(() => {
    if (banned !== undefined) throw new AuthError(banned);
    return null;
  });
  const g = createSocketIoGuard(fx.io, {
    strategies: [gate, createTicketStrategy()],
    store,
    hooks: { onAudit: (e) => audit.push(e) },
    ...options,
  });
  const issued: string[] = [];
  const provider = createCredentialProvider<{ ticket: string }>({
    oneTime: true,
    getCredentials: async () => {
      const { ticket, expiresAt } = await issuer.issue({ id: 'alice' });
      issued.push(ticket);
      return { credentials: { ticket }, expiresAt };
    },
  });
  cleanups.push(
    () => fx.close(),
    () => g.close(),
    () => store.close(),
  );
  return {
    fx,
    g,
    store,
    provider,
    issued,
    audit,
    ban(code) {
      banned = code;
    },
  };
}

function guard(socket: ClientSocket, provider: CredentialProvider<object>, options: Parameters<typeof guardSocketIo>[2] = {}) {
  const guarded = guardSocketIo(socket, provider, { backoff: { initialMs: 5, maxMs: 50, jitter: 0 }, ...options });
  cleanups.push(() => guarded.close());
  return guarded;
}

const accepted = (audit: AuditEvent[]) => audit.filter((e) => e.type === 'accepted');
const rejected = (audit: AuditEvent[]) => audit.filter((e) => e.type === 'rejected');

describe('Socket.IO glue: a fresh one-time ticket for every reconnect', () => {
  for (const mode of ['handshake', 'message'] as const) {
    it(`${mode} mode: 5 transport kills, 6 tickets, 6 successful redemptions`, async () => {
      const s = await ticketSetup({ mode });
      const serverSockets: ServerSocket[] = [];
      s.fx.io.on('connection', (socket) => serverSockets.push(socket));
      const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
      const guarded = guard(socket, s.provider, { mode });
      let reconnectAttempts = 0;
      socket.io.on('reconnect_attempt', () => reconnectAttempts++);
      const authenticated: boolean[] = [];
      guarded.on('authenticated', (_info, refreshed) => authenticated.push(refreshed));
      const errors: PortcullisClientError[] = [];
      guarded.on('error', (e) => errors.push(e));

      socket.connect();
      await withDeadline(guarded.ready(), 3000, 'first authentication');
      const kills = 5;
      for (let i = 1; i <= kills; i++) {
        const victim = serverSockets.at(-1);
        assert.ok(victim);
        const reauthenticated = next(guarded, 'authenticated');
        victim.conn.close(); // the transport drops: socket.io-client reconnects by itself
        await reauthenticated;
        assert.equal(guarded.state, 'authenticated');
      }
      assert.equal(reconnectAttempts, kills);
      assert.equal(s.issued.length, kills + 1, 'one ticket per connection');
      assert.equal(new Set(s.issued).size, kills + 1, 'no ticket sent twice');
      const ok = accepted(s.audit);
      assert.equal(ok.length, kills + 1, 'every redemption succeeded');
      assert.ok(ok.every((e) => e.type === 'accepted' && e.strategy === 'ticket' && e.phase === mode));
      assert.equal(rejected(s.audit).length, 0);
      assert.deepEqual(authenticated, Array(kills + 1).fill(false));
      assert.ok(
        errors.every((e) => e.code === 'connection_lost'),
        'only transport errors',
      );
    });
  }

  it('connectSocketIo(io, url, options) passes io options through and connects once the glue is in place', async () => {
    const s = await ticketSetup();
    const guarded = connectSocketIo(ioc, s.fx.url, { ...CLIENT, provider: s.provider, backoff: { jitter: 0 } });
    cleanups.push(() => guarded.close());
    await withDeadline(guarded.ready(), 3000, 'authentication');
    assert.equal(guarded.socket.connected, true);
    assert.equal(guarded.socket.io.opts.reconnectionDelay, 10);
    assert.equal(s.issued.length, 1);
  });
});

describe('Socket.IO glue: refusals', () => {
  it('a revoked refusal at reconnect stops reconnection (one attempt, then none)', async () => {
    const s = await ticketSetup();
    const clock = createManualClock();
    const serverSockets: ServerSocket[] = [];
    s.fx.io.on('connection', (socket) => serverSockets.push(socket));
    const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
    const guarded = guard(socket, s.provider, { scheduler: clock });
    let reconnectAttempts = 0;
    socket.io.on('reconnect_attempt', () => reconnectAttempts++);
    socket.connect();
    await withDeadline(guarded.ready(), 3000, 'authentication');
    s.ban('revoked');
    const failed = next(guarded, 'failed');
    serverSockets.at(-1)?.conn.close();
    const [error] = await failed;
    assert.equal(error.code, 'revoked');
    assert.equal(error.retryable, false);
    assert.equal(guarded.state, 'failed');
    assert.equal(reconnectAttempts, 1);
    assert.equal(socket.active, false, 'socket.io-client will not reconnect it');
    assert.equal(clock.pendingTimers, 0, 'the glue scheduled no retry');
    await assert.rejects(guarded.ready(), (e: PortcullisClientError) => e.code === 'revoked');
    // After a new login the app may connect the same socket again: the glue takes part.
    s.ban(undefined);
    socket.connect();
    await withDeadline(guarded.ready(), 3000, 'authentication after a new login');
    assert.equal(guarded.state, 'authenticated');
    assert.equal(s.issued.length, 3);
  });

  it('a live revocation (unauthorized revoked) stops reconnection', async () => {
    const s = await ticketSetup();
    const clock = createManualClock();
    const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
    const guarded = guard(socket, s.provider, { scheduler: clock });
    let reconnectAttempts = 0;
    socket.io.on('reconnect_attempt', () => reconnectAttempts++);
    socket.connect();
    await withDeadline(guarded.ready(), 3000, 'authentication');
    const failed = next(guarded, 'failed');
    assert.equal(await s.g.revoke({ userId: 'alice' }), 1);
    const [error] = await failed;
    assert.equal(error.code, 'revoked');
    assert.equal(reconnectAttempts, 0);
    assert.equal(socket.active, false);
    assert.equal(socket.connected, false);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(s.issued.length, 1);
  });

  it('message mode: forbidden on the first authentication gives up at once', async () => {
    const s = await ticketSetup({ mode: 'message' });
    s.ban('forbidden');
    const clock = createManualClock();
    const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
    const guarded = guard(socket, s.provider, { mode: 'message', scheduler: clock });
    const errors: string[] = [];
    guarded.on('error', (e) => errors.push(e.code));
    const failed = next(guarded, 'failed');
    socket.connect();
    const [error] = await failed;
    assert.equal(error.code, 'forbidden');
    assert.deepEqual(errors, ['forbidden']);
    assert.equal(socket.active, false);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(s.issued.length, 1);
  });

  it('invalid_credentials is retried with backoff and new credentials', async () => {
    const s = await ticketSetup();
    let calls = 0;
    const provider = createCredentialProvider({
      oneTime: true,
      getCredentials: async () => {
        calls++;
        // First a well-formed ticket the server never issued, then real ones.
        if (calls === 1) return { credentials: { ticket: 'A'.repeat(43) } };
        return { credentials: { ticket: (await s.provider.take()).ticket } };
      },
    });
    const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
    const guarded = guard(socket, provider);
    const retry = next(guarded, 'retry');
    socket.connect();
    const [info] = await retry;
    assert.equal(info.error.code, 'invalid_credentials');
    assert.equal(info.attempt, 1);
    assert.equal(info.delayMs, 5);
    await withDeadline(guarded.ready(), 3000, 'authentication after retry');
    assert.equal(calls, 2);
    assert.equal(rejected(s.audit).length, 1);
  });

  it('gives up after maxRetries consecutive retryable refusals', async () => {
    const s = await ticketSetup();
    const provider = createCredentialProvider({ oneTime: true, getCredentials: () => ({ credentials: { ticket: 'B'.repeat(43) } }) });
    const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
    const guarded = guard(socket, provider, { maxRetries: 2 });
    const retries: number[] = [];
    guarded.on('retry', (r) => retries.push(r.delayMs));
    const failed = next(guarded, 'failed');
    socket.connect();
    const [error] = await failed;
    assert.equal(error.code, 'invalid_credentials');
    assert.deepEqual(retries, [5, 10]);
    assert.equal(rejected(s.audit).length, 3);
  });
});

/** A server whose credentials `{ token: 'v<n>' }` expire 60 s after verification (manual clock). */
async function expiringSetup(mode: 'handshake' | 'message', expiringLeadMs: number, autoRefresh = true) {
  const fx = await startIo();
  const clock: ManualClock = createManualClock();
  const audit: AuditEvent[] = [];
  const g = createSocketIoGuard(fx.io, {
    mode,
    clock,
    expiringLeadMs,
    strategies: [
      createCustomStrategy((c, ctx) =>
        typeof c.token === 'string' && c.token.startsWith('v')
          ? { id: 'alice', expiresAt: ctx.clock.now() + 60_000, data: { token: c.token } }
          : false,
      ),
    ],
    hooks: { onAudit: (e) => audit.push(e) },
  });
  let fetches = 0;
  const provider = createCredentialProvider({
    scheduler: clock,
    autoRefresh,
    getCredentials: async () => {
      fetches++;
      return { credentials: { token: `v${fetches}` }, expiresAt: clock.now() + 60_000 };
    },
  });
  cleanups.push(
    () => fx.close(),
    () => g.close(),
    () => provider.close(),
  );
  return { fx, g, clock, audit, provider, fetches: () => fetches };
}

describe('Socket.IO glue: expiry', () => {
  for (const mode of ['handshake', 'message'] as const) {
    it(`${mode} mode: auth_expiring is answered with fresh credentials on the same socket`, async () => {
      const s = await expiringSetup(mode, 20_000);
      const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
      const guarded = guard(socket, s.provider, { mode });
      const serverSide = waitForEvent<ServerSocket>(s.fx.io, 'connection');
      socket.connect();
      await withDeadline(guarded.ready(), 3000, 'authentication');
      const server = await serverSide;
      server.on('ping', (ack: (reply: string) => void) => ack('pong'));
      const id = socket.id;
      const refreshed = next(guarded, 'authenticated');
      // +30 s: the provider refreshes in the background; +40 s: the server warns (auth_expiring).
      s.clock.advance(40_000);
      const [info, wasRefresh] = await refreshed;
      assert.equal(wasRefresh, true);
      assert.equal(info.token, 'v2');
      assert.equal(info.expiresAt, s.clock.now() + 60_000);
      assert.equal(socket.id, id, 'same socket id');
      assert.equal(server.connected, true);
      assert.equal(s.fetches(), 2, 'the warning reused the credentials refreshed in the background');
      assert.equal(s.audit.filter((e) => e.type === 'refreshed').length, 1);
      // The old expiry passes: the refreshed credential holds the socket open.
      s.clock.advance(20_001);
      assert.equal(await socket.timeout(2000).emitWithAck('ping'), 'pong', 'still authenticated after the old expiry');
      assert.equal(socket.connected, true);
      assert.equal(server.connected, true);
    });
  }

  it('token_expired while connected invalidates the credentials and reconnects with new ones', async () => {
    const s = await expiringSetup('handshake', 0, false);
    const serverSockets: ServerSocket[] = [];
    s.fx.io.on('connection', (socket) => serverSockets.push(socket));
    const socket = ioc(s.fx.url, { ...CLIENT, autoConnect: false });
    const guarded = guard(socket, s.provider);
    socket.connect();
    await withDeadline(guarded.ready(), 3000, 'authentication');
    const firstId = socket.id;
    const retry = next(guarded, 'retry');
    const back = waitForEvent(socket, 'connect', 3000);
    s.clock.advance(60_000);
    const [info] = await retry;
    assert.equal(info.error.code, 'token_expired');
    await back;
    assert.notEqual(socket.id, firstId);
    assert.equal(guarded.state, 'authenticated');
    assert.equal(s.fetches(), 2, 'the refused credentials were dropped, new ones fetched');
    assert.equal(s.g.principalOf(serverSockets[1] as ServerSocket)?.data?.token, 'v2');
  });
});
