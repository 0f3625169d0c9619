import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { WsGuardOptions } from '../../src/adapters/ws.js';
import { type CredentialProvider, createCredentialProvider } from '../../src/client/credential-provider.js';
import type { PortcullisClientError } from '../../src/client/errors.js';
import {
  createWebSocketClient,
  type WebSocketClient,
  type WebSocketClientEvents,
  type WebSocketClientOptions,
} from '../../src/client/websocket.js';
import { createManualClock, type ManualClock } from '../../src/core/clock.js';
import type { AuditEvent } from '../../src/core/hooks.js';
import type { Credentials, Strategy } from '../../src/core/types.js';
import { AuthError } from '../../src/errors.js';
import { createMemoryStore, type MemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { createTicketIssuer, createTicketStrategy } from '../../src/strategies/ticket.js';
import { withDeadline } from '../helpers/wait.js';
import { startWs } from '../helpers/ws.js';

type Events = WebSocketClientEvents;

/** Resolves with the arguments of the next `event` of a client. */
function next<E extends keyof Events>(client: WebSocketClient, event: E, timeoutMs = 3000): Promise<Parameters<Events[E]>> {
  return withDeadline(
    new Promise((resolve) => {
      const off = client.on(event, ((...args: Parameters<Events[E]>) => {
        off();
        resolve(args);
      }) as Events[E]);
    }),
    timeoutMs,
    `client "${String(event)}"`,
  );
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Setup {
  fx: Awaited<ReturnType<typeof startWs>>;
  store: MemoryStore;
  serverClock: ManualClock;
  clientClock: ManualClock;
  audit: AuditEvent[];
  provider: CredentialProvider<{ ticket: string }>;
  issued: string[];
  /** Opens a client with `ws` injected, the manual client clock and exact (jitter-free) backoff. */
  client(options?: Partial<WebSocketClientOptions<object>>): WebSocketClient;
}

/**
 * A `ws` guard (manual clock) whose strategies are `before` (test-specific) then
 * tickets; the app echoes `echo:<message>`. A one-time provider asks the issuer.
 */
async function setup(before: Strategy[] = [], options: Partial<WsGuardOptions> = {}): Promise<Setup> {
  const store = createMemoryStore();
  const serverClock = createManualClock();
  const clientClock = createManualClock();
  const audit: AuditEvent[] = [];
  const fx = await startWs({
    strategies: [...before, createTicketStrategy()],
    store,
    clock: serverClock,
    timeoutMs: 1000,
    hooks: { onAudit: (e) => audit.push(e) },
    ...options,
  });
  fx.guard.on('connection', (ws) => {
    ws.on('message', (data) => ws.send(`echo:${String(data)}`));
  });
  const issuer = createTicketIssuer({ store });
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
    () => store.close(),
  );
  return {
    fx,
    store,
    serverClock,
    clientClock,
    audit,
    provider,
    issued,
    client(opts = {}) {
      const client = createWebSocketClient({
        url: fx.url('/'),
        provider: provider as CredentialProvider<object>,
        WebSocket,
        scheduler: clientClock,
        backoff: { jitter: 0 },
        ...opts,
      });
      cleanups.push(async () => {
        if (client.socket === undefined) {
          client.close();
          return;
        }
        const closed = next(client, 'close');
        client.close();
        await closed;
      });
      return client;
    },
  };
}

describe('WebSocket client: first-message authentication', () => {
  it('authenticates with an authenticate frame, then exchanges application messages', async () => {
    const s = await setup();
    const client = s.client();
    const [info, refreshed] = await next(client, 'authenticated');
    assert.equal(refreshed, false);
    assert.deepEqual(info, {});
    await client.ready();
    assert.equal(client.state, 'open');
    const reply = next(client, 'message');
    assert.equal(client.send('hello'), true);
    assert.deepEqual(await reply, ['echo:hello']);
    assert.equal(s.fx.guard.hub.size, 1);
    const ok = s.audit.filter((e) => e.type === 'accepted');
    assert.equal(ok.length, 1);
    assert.equal(ok[0]?.type === 'accepted' && ok[0].phase, 'message');
  });

  it('send() returns false before authentication', async () => {
    const s = await setup();
    const client = s.client();
    assert.equal(client.send('too early'), false);
    await withDeadline(client.ready(), 3000, 'ready');
  });

  it('reconnects after abnormal closes with a fresh ticket each time, backoff reset by success', async () => {
    const s = await setup();
    const client = s.client();
    await withDeadline(client.ready(), 3000, 'ready');
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const reconnecting = next(client, 'reconnecting');
      for (const ws of s.fx.guard.hub.sockets) ws.terminate();
      const [r] = await reconnecting;
      assert.equal(r.error.code, 'connection_lost');
      assert.equal(r.error.closeCode, 1006);
      delays.push(r.delayMs);
      const back = next(client, 'authenticated');
      s.clientClock.advance(r.delayMs);
      await back;
    }
    assert.deepEqual(delays, [500, 500, 500]);
    assert.equal(s.issued.length, 4);
    assert.equal(new Set(s.issued).size, 4);
    assert.equal(s.audit.filter((e) => e.type === 'accepted').length, 4, 'every ticket redeemed');
  });
});

describe('WebSocket client: closing', () => {
  it('close() closes once, never reconnects, and rejects later ready() calls', async () => {
    const s = await setup();
    const client = s.client();
    await withDeadline(client.ready(), 3000, 'ready');
    let reconnects = 0;
    client.on('reconnecting', () => reconnects++);
    const closed = next(client, 'close');
    client.close(1000, 'bye');
    const [info] = await closed;
    assert.equal(info.code, 1000);
    assert.equal(info.willReconnect, false);
    assert.equal(info.error, undefined);
    assert.equal(client.state, 'closed');
    assert.equal(client.send('late'), false);
    assert.equal(reconnects, 0);
    assert.equal(s.clientClock.pendingTimers, 0);
    await assert.rejects(client.ready(), (e: PortcullisClientError) => e.code === 'closed');
  });

  it('passes application JSON through, consuming only protocol frames', async () => {
    const s = await setup();
    s.fx.guard.on('connection', (ws) => ws.send(JSON.stringify({ type: 'welcome', payload: { room: 'lobby' } })));
    const client = s.client();
    const [data] = await next(client, 'message');
    assert.deepEqual(JSON.parse(String(data)), { type: 'welcome', payload: { room: 'lobby' } });
  });
});

describe('WebSocket client: backoff on retryable refusals only', () => {
  it('4408, 4500, 1006 in a row: exponential delays, a fresh ticket per attempt, then success', async () => {
    let attempt = 0;
    let release: (() => void) | undefined;
    const flaky = createCustomStrategy(async (_c: Credentials, ctx) => {
      attempt++;
      if (attempt === 1) {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return null; // too late: the deadline already closed the socket with auth_timeout
      }
      if (attempt === 2) throw new Error('database on fire');
      if (attempt === 3) {
        (ctx.socket as WebSocket).terminate();
        return false;
      }
      return null;
    });
    const s = await setup([flaky]);
    const client = s.client();
    const seen: { code: string; closeCode: number | undefined; delayMs: number }[] = [];
    client.on('reconnecting', (r) => seen.push({ code: r.error.code, closeCode: r.error.closeCode, delayMs: r.delayMs }));

    let reconnecting = next(client, 'reconnecting');
    await withDeadline(
      (async () => {
        while (release === undefined) await new Promise((r) => setImmediate(r));
      })(),
      3000,
      'first authenticate frame',
    );
    s.serverClock.advance(1000); // the server's pending deadline
    release?.();
    await reconnecting;
    for (const delayMs of [500, 1000]) {
      reconnecting = next(client, 'reconnecting');
      s.clientClock.advance(delayMs);
      await reconnecting;
    }
    const done = next(client, 'authenticated');
    s.clientClock.advance(2000);
    await done;
    assert.deepEqual(seen, [
      { code: 'auth_timeout', closeCode: 4408, delayMs: 500 },
      { code: 'internal_error', closeCode: 4500, delayMs: 1000 },
      { code: 'connection_lost', closeCode: 1006, delayMs: 2000 },
    ]);
    assert.equal(s.issued.length, 4);
    assert.equal(new Set(s.issued).size, 4);
  });

  for (const where of ['first message', 'live revocation'] as const) {
    it(`4403 revoked (${where}): no reconnect`, async () => {
      let banned = where === 'first message';
      const gate = createCustomStrategy(() => {
        if (banned) throw new AuthError('revoked');
        return null;
      });
      const s = await setup([gate]);
      const client = s.client();
      let reconnects = 0;
      client.on('reconnecting', () => reconnects++);
      const errors: PortcullisClientError[] = [];
      client.on('error', (e) => errors.push(e));
      if (where === 'live revocation') {
        await withDeadline(client.ready(), 3000, 'ready');
        banned = true;
      }
      const closed = next(client, 'close');
      if (where === 'live revocation') assert.equal(await s.fx.guard.revoke({ userId: 'alice' }), 1);
      const [info] = await closed;
      assert.equal(info.code, 4403);
      assert.equal(info.reason, 'revoked');
      assert.equal(info.willReconnect, false);
      assert.equal(info.error?.code, 'revoked');
      assert.deepEqual(
        errors.map((e) => e.code),
        ['revoked'],
      );
      assert.equal(client.state, 'closed');
      assert.equal(reconnects, 0);
      assert.equal(s.clientClock.pendingTimers, 0, 'nothing scheduled');
      await assert.rejects(client.ready(), (e: PortcullisClientError) => e.code === 'revoked');
      assert.equal(s.issued.length, 1);
    });
  }

  it('gives up after maxRetries', async () => {
    const s = await setup([
      createCustomStrategy(() => {
        throw new AuthError('unavailable', { retryAfter: 2 });
      }),
    ]);
    const client = s.client({ maxRetries: 1 });
    const [r] = await next(client, 'reconnecting');
    assert.equal(r.error.code, 'unavailable');
    assert.equal(r.delayMs, 500, 'retryAfter is only known for HTTP and Socket.IO refusals');
    const closed = next(client, 'close');
    s.clientClock.advance(r.delayMs);
    const [info] = await closed;
    assert.equal(info.willReconnect, false);
    assert.equal(client.state, 'closed');
  });
});

describe('WebSocket client: refresh on expiring', () => {
  it('answers expiring with fresh credentials on the same socket', async () => {
    let fetches = 0;
    const tokens = createCustomStrategy((c, ctx) =>
      typeof c.token === 'string' && c.token.startsWith('v')
        ? { id: 'alice', expiresAt: ctx.clock.now() + 60_000, data: { token: c.token } }
        : null,
    );
    const s = await setup([tokens], { expiringLeadMs: 20_000 });
    const provider = createCredentialProvider({
      autoRefresh: false,
      getCredentials: () => {
        fetches++;
        return { credentials: { token: `v${fetches}` }, expiresAt: s.serverClock.now() + 60_000 };
      },
    });
    const client = s.client({ provider });
    const [first] = await next(client, 'authenticated');
    assert.equal(first.token, 'v1');
    const socket = client.socket;
    let closes = 0;
    client.on('close', () => closes++);
    const refreshed = next(client, 'authenticated');
    s.serverClock.advance(40_000); // expiring: 20 s before the 60 s expiry
    const [info, wasRefresh] = await refreshed;
    assert.equal(wasRefresh, true);
    assert.equal(info.token, 'v2');
    assert.equal(info.expiresAt, s.serverClock.now() + 60_000);
    assert.equal(client.socket, socket, 'same socket');
    assert.equal(fetches, 2);
    s.serverClock.advance(20_001); // past the first expiry, before the next warning
    const reply = next(client, 'message');
    assert.equal(client.send('still here'), true);
    assert.deepEqual(await reply, ['echo:still here']);
    assert.equal(closes, 0);
    assert.equal(s.audit.filter((e) => e.type === 'refreshed').length, 1);
  });
});

describe('WebSocket client: credentials at the upgrade', () => {
  it('query-ticket: ?ticket= at the upgrade; a refused ticket (401) is retried with a new one', async () => {
    const s = await setup();
    let calls = 0;
    const provider = createCredentialProvider({
      oneTime: true,
      getCredentials: async () => {
        calls++;
        if (calls === 1) return { credentials: { ticket: 'C'.repeat(43) } };
        return { credentials: await s.provider.take() };
      },
    });
    const client = s.client({ provider, credentialsIn: 'query-ticket' });
    const [r] = await next(client, 'reconnecting');
    assert.equal(r.error.code, 'invalid_credentials');
    assert.equal(r.error.status, 401);
    const done = next(client, 'authenticated');
    s.clientClock.advance(r.delayMs);
    await done;
    const ok = s.audit.filter((e) => e.type === 'accepted');
    assert.equal(ok.length, 1);
    assert.equal(ok[0]?.type === 'accepted' && ok[0].phase, 'handshake');
  });

  it('bearer-protocol: the token rides in Sec-WebSocket-Protocol beside the app subprotocol; 403 gives up', async () => {
    const bearer = createCustomStrategy((c) => {
      if (c.token === 'good-token') return { id: 'bob' };
      if (c.token === 'banned-token') throw new AuthError('forbidden');
      return null;
    });
    const s = await setup([bearer], { subprotocol: 'portcullis.v1' });
    const good = createCredentialProvider({ getCredentials: () => ({ credentials: { token: 'good-token' } }) });
    const client = s.client({ provider: good, credentialsIn: 'bearer-protocol', subprotocol: 'portcullis.v1' });
    await withDeadline(client.ready(), 3000, 'ready');
    assert.equal(client.socket?.protocol, 'portcullis.v1');

    const banned = createCredentialProvider({ getCredentials: () => ({ credentials: { token: 'banned-token' } }) });
    const refused = s.client({ provider: banned, credentialsIn: 'bearer-protocol', subprotocol: 'portcullis.v1' });
    let reconnects = 0;
    refused.on('reconnecting', () => reconnects++);
    const [info] = await next(refused, 'close');
    assert.equal(info.error?.code, 'forbidden');
    assert.equal(info.error?.status, 403);
    assert.equal(info.willReconnect, false);
    assert.equal(reconnects, 0);
  });

  it('rejects invalid options with TypeError', async () => {
    const s = await setup();
    assert.throws(() => s.client({ credentialsIn: 'bearer-protocol' }), TypeError);
    assert.throws(() => s.client({ url: 'http://127.0.0.1/' }), TypeError);
    assert.throws(() => s.client({ WebSocket: undefined as never, url: 'ws://x' }), /WebSocket|url/);
  });
});
