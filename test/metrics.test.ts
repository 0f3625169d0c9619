import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import client from 'prom-client';
import { createSocketIoGuard } from '../src/adapters/socket.io.js';
import { createManualClock } from '../src/core/clock.js';
import { createMetrics } from '../src/metrics.js';
import { createAuthorization } from '../src/policy/authorization.js';
import { attachSocketIoAuthorization } from '../src/policy/socket-io.js';
import { createCustomStrategy } from '../src/strategies/custom.js';
import { connected, refused, startIo } from './helpers/socket-io.js';
import { waitForEvent, waitUntil } from './helpers/wait.js';

function value(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const has = Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`));
    if (has) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('portcullis/metrics', () => {
  it('counts a scripted session and serves it on /metrics', async () => {
    const registry = new client.Registry();
    const metrics = createMetrics({ registry });
    const clock = createManualClock();
    const fx = await startIo();
    const strategy = createCustomStrategy((c) => (c.password === 'secret' ? String(c.user) : false));
    const g = createSocketIoGuard(fx.io, { strategies: [strategy], mode: 'auto', clock, timeoutMs: 1000, hooks: [metrics.hooks] });
    metrics.track(g.guard);
    const http = createServer(metrics.handler);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const scrape = async () => (await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`)).text();
    try {
      await connected(fx.client('/', { auth: { user: 'a', password: 'secret' } }));
      await connected(fx.client('/', { auth: { user: 'b', password: 'secret' } }));
      await refused(fx.client('/', { auth: { user: 'c', password: 'nope' } }));
      const pending = fx.client('/');
      await waitForEvent(pending, 'auth_required');
      let text = await scrape();
      assert.equal(value(text, 'portcullis_connections', { state: 'authenticated', transport: 'socket.io' }), 2);
      assert.equal(value(text, 'portcullis_connections', { state: 'pending' }), 1);
      const gone = waitForEvent(pending, 'unauthorized');
      clock.advance(1000);
      await gone;
      await waitUntil(() => g.guard.stats.pending === 0);
      text = await scrape();
      assert.equal(value(text, 'portcullis_authentications_total', { kind: 'accepted', strategy: 'custom' }), 2);
      assert.equal(value(text, 'portcullis_rejections_total', { code: 'invalid_credentials', phase: 'handshake' }), 1);
      assert.equal(value(text, 'portcullis_events_total', { type: 'timeout' }), 1);
      assert.equal(value(text, 'portcullis_verification_seconds_count', { outcome: 'accepted' }), 2);
      assert.equal(value(text, 'portcullis_connections', { state: 'pending' }), 0);
      assert.ok(!text.includes('secret'));
    } finally {
      http.close();
      await fx.close();
    }
  });

  it('counts authorization decisions by rule, never by principal or room', async () => {
    const registry = new client.Registry();
    const metrics = createMetrics({ registry });
    const fx = await startIo();
    const authz = createAuthorization({ rooms: { 'org:{orgId}:*': true }, hooks: [metrics.authorization] });
    const strategy = createCustomStrategy((c) => ({ id: String(c.user), claims: { orgId: 'acme' } }));
    const g = createSocketIoGuard(fx.io, { strategies: [strategy], hooks: [authz.hooks] });
    attachSocketIoAuthorization(g, authz);
    try {
      const c = fx.client('/', { auth: { user: 'alice-secret-id' } });
      await connected(c);
      await c.timeout(2000).emitWithAck('portcullis:join', { room: 'org:acme:chat' });
      await c.timeout(2000).emitWithAck('portcullis:join', { room: 'org:globex:chat' });
      const text = await registry.metrics();
      const name = 'portcullis_authorization_decisions_total';
      assert.ok(text.includes(`${name}{transport="socket.io",kind="room",decision="allowed",outcome="allow",policy="org:{orgId}:*"} 1`));
      assert.ok(text.includes(`${name}{transport="socket.io",kind="room",decision="denied",outcome="no_rule",policy="none"} 1`));
      assert.ok(!text.includes('alice-secret-id') && !text.includes('globex'));
    } finally {
      await fx.close();
      await authz.close();
    }
  });
});
