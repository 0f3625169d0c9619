/**
 * The audit against servers guarded by portcullis: nothing false. The demo (started
 * in-process with its own configuration) has no finding at or above `medium` (the two adapter
 * gaps the audit first found, attempts per Engine.IO connection and idle Engine.IO connections, are closed);
 * guarded Socket.IO (post-connect mode) and `ws` (first-message mode) servers have no
 * finding but the informational `origin.not-required`.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { Server } from 'socket.io';
import { startDemo } from '../../examples/chat/server.js';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { atLeast } from '../../src/catalogue.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { assertRedacted, audit, quickOptions } from './audit-helpers.js';

const SECRET = new TextEncoder().encode('guarded-audit-secret-guarded-audit-secret');
const strategy = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET });
const sign = (sub: string, ttlSec = 300): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(`${ttlSec}s`).sign(SECRET);

/** Limits small enough for a quick audit to meet them. */
const LIMITS = { timeoutMs: 1000, maxPendingPerIp: 10 } as const;

/**
 * Gaps of the Socket.IO adapter in handshake mode the audit finds on the demo, to be closed
 * in `src/adapters/socket.io.ts` (see docs/audit.md): failed CONNECTs are counted per
 * Socket.IO socket, not per Engine.IO connection; Engine.IO connections that join no
 * namespace are not counted against the per-address pending budget.
 */
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers) await close();
});

/** A fresh access JWT from the demo, the way its page gets one: log in (scrypt), then POST /token with the cookie. */
async function demoToken(url: string): Promise<string> {
  const login = await fetch(`${url}/login`, { method: 'POST', body: JSON.stringify({ name: 'alice', password: 'wonderland' }) });
  assert.equal(login.status, 200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const res = await fetch(`${url}/token`, { method: 'POST', headers: { cookie } });
  assert.equal(res.status, 200);
  return ((await res.json()) as { token: string }).token;
}

async function listen(http: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return (http.address() as AddressInfo).port;
}

describe('portcullis audit on guarded servers', () => {
  it('the demo: no finding at or above medium', async () => {
    const demo = await startDemo({ port: 0 });
    closers.push(() => demo.close());
    const tokens: string[] = [];
    const { report } = await audit(
      quickOptions(
        demo.url,
        async () => {
          const token = await demoToken(demo.url);
          tokens.push(token);
          return token;
        },
        // The demo's deadline and connectTimeout are 5 s; its pending budget is 50 per address.
        { origin: demo.url, deadlineMs: 6500, maxConnections: 60, emit: 'chat' },
      ),
    );
    const serious = report.findings.filter((f) => atLeast(f.severity, 'medium')).map((f) => f.id);
    assert.deepEqual(serious, []);
    assertRedacted(report, tokens);
  });

  it('Socket.IO, post-connect mode: nothing but origin.not-required', async () => {
    const http = createServer();
    const io = new Server(http, { maxHttpBufferSize: 64 * 1024, connectTimeout: 1000 });
    const port = await listen(http);
    const origin = `http://127.0.0.1:${port}`;
    const guard = createSocketIoGuard(io, { strategies: strategy, mode: 'message', origins: [origin], ...LIMITS });
    io.on('connection', (socket) => {
      io.emit('chat', 'someone joined');
      socket.on('chat', (_text: unknown, ack: unknown) => {
        if (typeof ack === 'function') ack('ok');
      });
    });
    closers.push(async () => {
      await guard.close();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    });
    const { report, ids } = await audit(quickOptions(origin, () => sign('alice', 3), { origin, emit: 'chat', username: 'alice' }));
    assert.deepEqual([...ids], ['origin.not-required'], JSON.stringify(report.probes, null, 1));
    assert.equal(report.target.authMode, 'message');
  });

  it('ws, first-message mode: nothing but origin.not-required', async () => {
    const http = createServer((_req, res) => res.writeHead(426).end());
    const port = await listen(http);
    const origin = `http://127.0.0.1:${port}`;
    const guard = createWsGuard({ strategies: strategy, mode: 'message', origins: [origin], ...LIMITS });
    guard.attach(http);
    guard.on('connection', (ws) => {
      guard.hub.broadcast({ type: 'chat', payload: 'someone joined' });
      ws.on('message', () => ws.send(JSON.stringify({ type: 'chat', payload: 'echo' })));
    });
    closers.push(async () => {
      await guard.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
    const { report, ids } = await audit(
      quickOptions(`ws://127.0.0.1:${port}/`, () => sign('alice', 3), { origin, emit: 'chat', username: 'alice' }),
    );
    assert.deepEqual([...ids], ['origin.not-required'], JSON.stringify(report.probes, null, 1));
    assert.equal(report.target.transport, 'ws');
  });
});
