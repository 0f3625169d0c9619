/**
 * Behind load balancers, through real sockets on both transports: requests from
 * loopback carry crafted forwarding headers, as a proxy on this machine would
 * write them, and the guard's view of the client (`connection.ip` in audit
 * events) follows `trustedProxies`: CIDR ranges and presets, hop counts, and
 * the standard `Forwarded` header.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import type { AuditEvent } from '../../src/core/hooks.js';
import type { TrustedProxies } from '../../src/core/request.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { connected, type IoFixture, startIo } from '../helpers/socket-io.js';
import { waitUntil } from '../helpers/wait.js';
import { opened, startHttp, type WsFixture } from '../helpers/ws.js';

const strategy = createCustomStrategy((c) => (typeof c.user === 'string' ? { id: c.user } : null));

interface Case {
  readonly name: string;
  readonly trustedProxies: TrustedProxies;
  readonly headers: Record<string, string>;
  readonly ip: string;
}

const cases: Case[] = [
  {
    name: "the 'loopback' preset and X-Forwarded-For (rightmost untrusted entry)",
    trustedProxies: ['loopback'],
    headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.9, 127.0.0.5' },
    ip: '198.51.100.9',
  },
  { name: 'a CIDR range', trustedProxies: ['127.0.0.0/8'], headers: { 'x-forwarded-for': '198.51.100.10' }, ip: '198.51.100.10' },
  {
    name: 'one hop counted from the right',
    trustedProxies: 1,
    headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.11' },
    ip: '198.51.100.11',
  },
  {
    name: 'the standard Forwarded header, X-Forwarded-For ignored',
    trustedProxies: { proxies: ['loopback'], header: 'forwarded' },
    headers: { forwarded: 'for=6.6.6.6, for="[2001:db8::7]:4711";proto=https', 'x-forwarded-for': '1.2.3.4' },
    ip: '2001:db8::7',
  },
  { name: 'no trusted proxy: headers ignored', trustedProxies: [], headers: { 'x-forwarded-for': '198.51.100.12' }, ip: '127.0.0.1' },
];

describe('trustedProxies through real sockets', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  for (const c of cases) {
    it(`Socket.IO handshake: ${c.name} → ${c.ip}`, async () => {
      const events: AuditEvent[] = [];
      const fx: IoFixture = await startIo();
      cleanups.push(() => fx.close());
      createSocketIoGuard(fx.io, { strategies: [strategy], trustedProxies: c.trustedProxies, hooks: { onAudit: (e) => events.push(e) } });
      const client = fx.client('/', { auth: { user: 'alice' }, extraHeaders: c.headers });
      await connected(client);
      await waitUntil(() => events.some((e) => e.type === 'accepted'), 2000, 'the accepted audit event');
      const accepted = events.find((e) => e.type === 'accepted');
      assert.equal(accepted?.type === 'accepted' ? accepted.connection.ip : undefined, c.ip);
    });

    it(`ws upgrade: ${c.name} → ${c.ip}`, async () => {
      const events: AuditEvent[] = [];
      const fx: WsFixture = await startHttp();
      cleanups.push(() => fx.close());
      const guard = fx.track(
        createWsGuard({
          strategies: [strategy],
          origins: '*',
          trustedProxies: c.trustedProxies,
          hooks: { onAudit: (e) => events.push(e) },
        }),
      );
      guard.attach(fx.http);
      const ws = fx.client('/', undefined, { headers: c.headers });
      await opened(ws);
      ws.send(JSON.stringify({ type: 'authenticate', payload: { user: 'alice' } }));
      await waitUntil(() => events.some((e) => e.type === 'accepted'), 2000, 'the accepted audit event');
      const accepted = events.find((e) => e.type === 'accepted');
      assert.equal(accepted?.type === 'accepted' ? accepted.connection.ip : undefined, c.ip);
    });
  }
});
