/**
 * A flood of never-authenticating sockets from one address, beyond the per-IP
 * pending cap, on both transports: the excess is refused before the upgrade
 * (HTTP 429), the held ones cost one pending slot each, and a legitimate client
 * from another address still authenticates quickly. Loopback only: the flood
 * comes from 127.0.0.2, the legitimate client from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Server } from 'socket.io';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { waitForEvent } from '../helpers/wait.js';

const FLOOD = 120;
const PER_IP = 50;
/**
 * How long the legitimate client may take before the test gives up. A deadline, not a
 * measurement: what matters is that it is admitted (not refused by the flood's budget);
 * how fast is the benchmark's business (`bench/suites/flood.ts`), not a loaded CI machine's.
 */
const DEADLINE_MS = 10_000;
const strategy = createCustomStrategy((c) => (c.token === 'good' ? 'legit' : false));
const options = { strategies: [strategy], maxPendingPerIp: PER_IP, timeoutMs: 30_000, rateLimits: false as const };

async function listen(http: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  // Listening on 127.0.0.1 only would refuse 127.0.0.2 as a destination: the flood connects to 127.0.0.1 from 127.0.0.2.
  return (http.address() as AddressInfo).port;
}

describe('flood of never-authenticating sockets', () => {
  it('Socket.IO: excess refused before the upgrade, a legitimate client from another address is admitted', async () => {
    const http = createServer();
    const io = new Server(http);
    const g = createSocketIoGuard(io, { ...options, mode: 'auto' });
    const port = await listen(http);
    const url = `http://127.0.0.1:${port}`;
    const flood: ClientSocket[] = [];
    try {
      let held = 0;
      let refusedCount = 0;
      await Promise.all(
        Array.from({ length: FLOOD }, () => {
          const c = ioc(url, { transports: ['websocket'], forceNew: true, reconnection: false, localAddress: '127.0.0.2' } as never);
          flood.push(c);
          return new Promise<void>((resolve) => {
            c.once('auth_required', () => {
              held++;
              resolve();
            });
            c.once('connect_error', () => {
              refusedCount++;
              resolve();
            });
          });
        }),
      );
      assert.equal(held, PER_IP);
      assert.equal(refusedCount, FLOOD - PER_IP);
      assert.equal(g.guard.stats.pending, PER_IP);
      const t0 = performance.now();
      const legit = ioc(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: 'good' } });
      flood.push(legit);
      await waitForEvent(legit, 'connect', DEADLINE_MS);
      const ms = performance.now() - t0;
      process.stderr.write(`# socket.io: ${PER_IP} held, ${refusedCount} refused (429); legitimate handshake in ${ms.toFixed(1)} ms\n`);
      assert.equal(g.guard.stats.authenticated, 1);
    } finally {
      for (const c of flood) c.close();
      await new Promise<void>((r) => io.close(() => r()));
    }
  });

  it('ws: excess refused with 429 before the upgrade, a legitimate client from another address is admitted', async () => {
    const http = createServer();
    const g = createWsGuard({ ...options, mode: 'auto' });
    g.attach(http);
    const port = await listen(http);
    const url = `ws://127.0.0.1:${port}/`;
    const flood: WebSocket[] = [];
    try {
      const statuses = await Promise.all(
        Array.from({ length: FLOOD }, () => {
          const ws = new WebSocket(url, { localAddress: '127.0.0.2' });
          flood.push(ws);
          return new Promise<number>((resolve) => {
            ws.once('open', () => resolve(101));
            ws.once('unexpected-response', (_req, res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            });
            ws.once('error', () => resolve(-1));
          });
        }),
      );
      assert.equal(statuses.filter((s) => s === 101).length, PER_IP);
      assert.equal(statuses.filter((s) => s === 429).length, FLOOD - PER_IP);
      assert.equal(g.guard.stats.pending, PER_IP);
      const t0 = performance.now();
      const legit = new WebSocket(url);
      flood.push(legit);
      await waitForEvent(legit, 'open', DEADLINE_MS);
      legit.send(JSON.stringify({ type: 'authenticate', payload: { token: 'good' } }));
      const [data] = await waitForEvent<[Buffer]>(legit, 'message', DEADLINE_MS);
      const ms = performance.now() - t0;
      assert.equal(JSON.parse(data.toString()).type, 'authenticated');
      process.stderr.write(`# ws: ${PER_IP} held, ${FLOOD - PER_IP} refused (429); legitimate authentication in ${ms.toFixed(1)} ms\n`);
      assert.equal(g.guard.stats.authenticated, 1);
    } finally {
      for (const ws of flood) ws.terminate();
      await g.close();
      http.close();
    }
  });
});
