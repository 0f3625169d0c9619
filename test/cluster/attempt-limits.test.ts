/**
 * Attempt limits across processes sharing one real redis-server (issue #16 item 1):
 * a burst of wrong passwords for one identity, sent at once to a server in this
 * process and to one in a child process, runs the password check at most `max`
 * times in total. Each check waits until every attempt is either refused or
 * inside a check, so all of them are in flight together.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import type { Store } from '../../src/core/types.js';
import { createRedisStore } from '../../src/stores/redis.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { describeRedis } from '../helpers/redis.js';
import { type IoFixture, startIo } from '../helpers/socket-io.js';
import { gate, waitForEvent, waitUntil, withDeadline } from '../helpers/wait.js';

const NODE_SCRIPT = fileURLToPath(new URL('../fixtures/limits-node.ts', import.meta.url));
const MAX = 10;
const BURST = 60;

describeRedis('attempt limits across two processes sharing one redis-server', (redis) => {
  let child: ChildProcess;
  let childUrl: string;
  let childCalls = 0;
  let local: IoFixture;
  let localCalls = 0;
  let slow = gate();
  const clients: ClientSocket[] = [];
  let redisClient: Redis;
  let store: Store;
  let wsGuard: ReturnType<typeof createWsGuard>;
  const sockets: WebSocket[] = [];

  before(async () => {
    child = fork(NODE_SCRIPT, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, REDIS_URL: redis().url, LIMIT_MAX: String(MAX) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await withDeadline(
      new Promise<number>((resolve) => {
        child.on('message', (m: { ready?: boolean; port?: number; call?: number }) => {
          if (m?.call === 1) childCalls++;
          if (m?.ready === true && typeof m.port === 'number') resolve(m.port);
        });
      }),
      20_000,
      'child node start',
    );
    childUrl = `http://127.0.0.1:${port}`;

    redisClient = new Redis(redis().url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
    redisClient.on('error', () => {});
    await redisClient.connect();
    // A generous call deadline: a loaded machine must not turn a slow reply into `unavailable`.
    store = createRedisStore({ client: redisClient, prefix: 'limits-test:', timeoutMs: 5_000 });
    local = await startIo({ destroyUpgrade: false });
    const strategy = createCustomStrategy({
      identity: 'email',
      async authenticate(c) {
        if (typeof c.password !== 'string') return null;
        localCalls++;
        await slow.opened;
        return false;
      },
    });
    const options = {
      strategies: [strategy],
      store,
      trustedProxies: ['127.0.0.1', '::ffff:127.0.0.1'],
      maxPendingPerIp: 200,
      timeoutMs: 30_000,
      rateLimits: { lockout: 'identity', failuresPerPrincipal: { max: MAX, windowMs: 600_000 } },
    } as const;
    const g = createSocketIoGuard(local.io, options);
    wsGuard = createWsGuard({ ...options, path: '/ws', mode: 'message' });
    wsGuard.attach(local.http);
    await Promise.all([g.guard.ready, wsGuard.guard.ready]);
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const ws of sockets) ws.terminate();
    await wsGuard?.close();
    await local?.close();
    await store?.close();
    redisClient?.disconnect();
    if (child !== undefined && child.exitCode === null) {
      const exited = waitForEvent(child, 'exit', 5000).catch(() => child.kill('SIGKILL'));
      child.send({ cmd: 'stop' });
      await exited;
    }
  });

  /** One attempt on `transport` at `url`: resolves `'ok'` or the refusal code. */
  const attempt = (transport: 'socket.io' | 'ws', url: string, address: string, auth: Record<string, unknown>): Promise<string> => {
    if (transport === 'socket.io') {
      const c = ioc(url, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth,
        extraHeaders: { 'x-forwarded-for': address },
      });
      clients.push(c);
      return new Promise<string>((resolve) => {
        c.once('connect', () => resolve('ok'));
        c.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err.data?.code ?? err.message));
      });
    }
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, { headers: { 'x-forwarded-for': address } });
    ws.on('error', () => {});
    sockets.push(ws);
    return new Promise<string>((resolve) => {
      ws.once('open', () => ws.send(JSON.stringify({ type: 'authenticate', payload: auth })));
      ws.on('message', (data: Buffer) => {
        if ((JSON.parse(data.toString('utf8')) as { type?: string }).type === 'authenticated') resolve('ok');
      });
      ws.once('close', (_code: number, reason: Buffer) => resolve(reason.toString('utf8')));
    });
  };

  for (const transport of ['socket.io', 'ws'] as const) {
    it(`${transport}: ${BURST} wrong passwords at once from ${BURST} addresses, split over two processes: ${MAX} checks in all`, async () => {
      localCalls = 0;
      childCalls = 0;
      let refusedEarly = 0;
      const outcomes = Array.from({ length: BURST }, (_, i) =>
        attempt(transport, i % 2 === 0 ? local.url : childUrl, `10.1.${i >> 8}.${i & 255}`, {
          email: `${transport}-Victim@example.com`,
          password: `guess-${i}`,
        }).then((code) => {
          if (code !== 'ok' && code !== 'invalid_credentials') refusedEarly++;
          return code;
        }),
      );
      try {
        await waitUntil(() => localCalls + childCalls + refusedEarly >= BURST, 20_000, 'every attempt refused or checking');
      } finally {
        slow.open();
        slow = gate();
        child.send({ cmd: 'open' });
      }
      const results = await withDeadline(Promise.all(outcomes), 20_000, 'verdicts');
      const tally: Record<string, number> = {};
      for (const r of results) tally[r] = (tally[r] ?? 0) + 1;
      process.stderr.write(`# cross-process burst (${transport}): ${localCalls} + ${childCalls} checks, ${JSON.stringify(tally)}\n`);
      assert.equal(localCalls + childCalls, MAX, 'password checks across both processes');
      assert.deepEqual(tally, { invalid_credentials: MAX, rate_limited: BURST - MAX });
    });
  }
});
