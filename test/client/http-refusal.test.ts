/**
 * Refusals written as an HTTP response before the connection opens (Origin, the
 * handshake rate): `portcullis/client` must give up on the codes the table says
 * to give up on, and wait at least as long as `Retry-After` asks, on both
 * transports (Node; the browser side is in test/browser/client-bundle.test.ts).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { createSocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import type { WsGuardOptions } from '../../src/adapters/ws.js';
import { createCredentialProvider } from '../../src/client/credential-provider.js';
import { PortcullisClientError } from '../../src/client/errors.js';
import { fromHttpResponse, fromTransportError } from '../../src/client/http-refusal.js';
import { connectSocketIo, type GuardedSocketIo, type RetryInfo } from '../../src/client/socket-io.js';
import { createWebSocketClient, type WebSocketClient } from '../../src/client/websocket.js';
import { createManualClock } from '../../src/core/clock.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { startIo } from '../helpers/socket-io.js';
import { withDeadline } from '../helpers/wait.js';
import { startWs } from '../helpers/ws.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const anyone = createCustomStrategy({ name: 'anyone', authenticate: () => ({ id: 'u1' }) });
const provider = () => createCredentialProvider({ getCredentials: () => ({ credentials: { token: 't' } }) });
/** One handshake per IP per minute: the second is refused with 429 and `Retry-After`. */
const ONE_PER_MINUTE: SocketIoGuardOptions['rateLimits'] = { handshakesPerIp: { max: 1, windowMs: 60_000 } };

async function guardedIo(options: Partial<SocketIoGuardOptions>) {
  const fx = await startIo();
  const store = createMemoryStore();
  const guard = createSocketIoGuard(fx.io, { strategies: anyone, store, ...options });
  cleanups.push(async () => {
    await guard.close();
    await fx.close();
    await store.close();
  });
  return fx;
}

function settled(p: Promise<void>, ms = 5000): Promise<unknown> {
  return withDeadline(
    p.then(
      () => 'resolved',
      (err: unknown) => err,
    ),
    ms,
    'ready() to settle',
  );
}

function firstRetry(g: GuardedSocketIo<ClientSocket>): Promise<RetryInfo> {
  return withDeadline(
    new Promise<RetryInfo>((resolve) => {
      const off = g.on('retry', (info) => {
        off();
        resolve(info);
      });
    }),
    5000,
    'the retry',
  );
}

describe('client: HTTP refusals before the connection opens', () => {
  it('reads the code from the header, the JSON body, or the status', () => {
    const body = JSON.stringify({ message: 'Origin not allowed', code: 'origin_not_allowed', retryable: false });
    const fromBody = fromHttpResponse({ status: 403, body });
    assert.equal(fromBody?.code, 'origin_not_allowed');
    assert.equal(fromBody?.retryable, false);
    assert.equal(fromBody?.status, 403);
    const fromHeader = fromHttpResponse({ status: 403, header: (n) => (n === 'x-portcullis-code' ? 'tls_required' : null) });
    assert.equal(fromHeader?.code, 'tls_required');
    const limited = fromHttpResponse({ status: 429, header: (n) => (n === 'retry-after' ? '7' : null) });
    assert.equal(limited?.code, 'rate_limited');
    assert.equal(limited?.retryAfter, 7);
    assert.equal(fromHttpResponse({ status: 403 })?.code, 'forbidden');
    // Not a refusal the client can name: Engine.IO's own 400, a proxy's 502, a blocked request (0).
    assert.equal(fromHttpResponse({ status: 400, body: '{"code":1,"message":"Session ID unknown"}' }), undefined);
    assert.equal(fromHttpResponse({ status: 502 }), undefined);
    assert.equal(fromTransportError({ description: 0, context: { status: 0, responseText: '' } }), undefined);
    assert.equal(fromTransportError(new Error('xhr poll error')), undefined);
  });

  describe('Socket.IO glue (Node)', () => {
    it('gives up on an Origin refusal at the polling handshake: ready() rejects, no reconnection', async () => {
      const fx = await guardedIo({ requireOrigin: true });
      const g = connectSocketIo(ioc, fx.url, {
        provider: provider(),
        transports: ['polling'],
        forceNew: true,
        reconnectionDelay: 10,
        reconnectionDelayMax: 20,
      });
      cleanups.push(() => g.close());
      const outcome = await settled(g.ready());
      assert.ok(outcome instanceof PortcullisClientError, String(outcome));
      assert.equal(outcome.code, 'origin_not_allowed');
      assert.equal(outcome.status, 403);
      assert.equal(g.state, 'failed');
      assert.equal(g.socket.active, false, "socket.io-client's own reconnection is stopped");
    });

    it('gives up on a 403 at the websocket upgrade (status only in Node)', async () => {
      const fx = await guardedIo({});
      const g = connectSocketIo(ioc, fx.url, {
        provider: provider(),
        transports: ['websocket'],
        forceNew: true,
        extraHeaders: { origin: 'http://evil.example' },
        reconnectionDelay: 10,
        reconnectionDelayMax: 20,
      });
      cleanups.push(() => g.close());
      const outcome = await settled(g.ready());
      assert.ok(outcome instanceof PortcullisClientError, String(outcome));
      assert.equal(outcome.code, 'forbidden');
      assert.equal(outcome.status, 403);
      assert.equal(g.socket.active, false);
    });

    it('waits as long as Retry-After asks after a 429 at the polling handshake', async () => {
      const fx = await guardedIo({ rateLimits: ONE_PER_MINUTE });
      const first = connectSocketIo(ioc, fx.url, { provider: provider(), transports: ['polling'], forceNew: true });
      cleanups.push(() => first.close());
      await withDeadline(first.ready(), 5000, 'the first client');
      const clock = createManualClock(); // the glue's retry timer never fires by itself
      const g = connectSocketIo(ioc, fx.url, {
        provider: provider(),
        transports: ['polling'],
        forceNew: true,
        scheduler: clock,
        backoff: { initialMs: 10, jitter: 0 },
        reconnectionDelay: 10,
        reconnectionDelayMax: 20,
      });
      cleanups.push(() => g.close());
      const retry = await firstRetry(g);
      assert.equal(retry.error.code, 'rate_limited');
      assert.equal(retry.error.status, 429);
      assert.ok((retry.error.retryAfter ?? 0) >= 1, `Retry-After: ${retry.error.retryAfter}`);
      assert.ok(retry.delayMs >= (retry.error.retryAfter ?? 0) * 1000, `waits ${retry.delayMs} ms`);
      assert.equal(g.state, 'retrying');
      assert.equal(g.socket.active, false, 'socket.io-client does not retry on its own meanwhile');
    });
  });

  describe('WebSocket client with ws (Node)', () => {
    async function guardedWs(options: Partial<WsGuardOptions>) {
      const store = createMemoryStore();
      const fx = await startWs({ strategies: anyone, store, ...options });
      cleanups.push(async () => {
        await fx.close();
        await store.close();
      });
      return fx;
    }
    function client(url: string, origin: string | undefined, extra: { scheduler?: ReturnType<typeof createManualClock> } = {}) {
      class OriginWebSocket extends WebSocket {
        constructor(u: string, protocols?: string | string[]) {
          super(u, protocols, origin === undefined ? {} : { origin });
        }
      }
      const c: WebSocketClient = createWebSocketClient({
        url,
        provider: provider(),
        WebSocket: OriginWebSocket,
        backoff: { initialMs: 10, jitter: 0 },
        ...extra,
      });
      cleanups.push(() => c.close());
      return c;
    }

    it('gives up on an Origin refusal with the exact code from the body', async () => {
      const fx = await guardedWs({});
      const c = client(fx.url('/'), 'http://evil.example');
      const failed = new Promise<PortcullisClientError>((resolve) => c.on('failed', resolve));
      const outcome = await settled(c.ready());
      assert.equal(await withDeadline(failed, 1000, 'failed'), outcome, "'failed' reports the same refusal");
      assert.ok(outcome instanceof PortcullisClientError, String(outcome));
      assert.equal(outcome.code, 'origin_not_allowed');
      assert.equal(outcome.status, 403);
      assert.equal(c.state, 'closed');
    });

    it("emits 'failed' when the credentials cannot be had (a do-not-retry error from getCredentials)", async () => {
      const fx = await guardedWs({});
      const c = createWebSocketClient({
        url: fx.url('/'),
        WebSocket,
        provider: createCredentialProvider({
          getCredentials: () => {
            throw new PortcullisClientError('revoked', { message: 'Your session has ended' });
          },
        }),
      });
      cleanups.push(() => c.close());
      const error = await withDeadline(new Promise<PortcullisClientError>((resolve) => c.on('failed', resolve)), 5000, 'failed');
      assert.equal(error.code, 'revoked');
      assert.equal(error.message, 'Your session has ended');
      assert.equal(c.state, 'closed');
    });

    it('waits as long as Retry-After asks after a 429 at the upgrade', async () => {
      const fx = await guardedWs({ rateLimits: ONE_PER_MINUTE });
      const first = client(fx.url('/'), undefined);
      await withDeadline(first.ready(), 5000, 'the first client');
      const c = client(fx.url('/'), undefined, { scheduler: createManualClock() });
      const info = await withDeadline(
        new Promise<{ delayMs: number; error: PortcullisClientError }>((resolve) => c.on('reconnecting', resolve)),
        5000,
        'reconnecting',
      );
      assert.equal(info.error.code, 'rate_limited');
      assert.ok((info.error.retryAfter ?? 0) >= 1, `Retry-After: ${info.error.retryAfter}`);
      assert.ok(info.delayMs >= (info.error.retryAfter ?? 0) * 1000, `waits ${info.delayMs} ms`);
    });
  });
});
