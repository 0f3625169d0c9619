import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { createTicketHandler, createTicketIssuer, createTicketStrategy } from '../../src/strategies/ticket.js';
import { makeContext, refusal, run } from '../helpers/auth-context.js';
import { connected, refused, startIo } from '../helpers/socket-io.js';
import { waitUntil } from '../helpers/wait.js';

describe('ticket issuer', () => {
  it('checks its options', () => {
    assert.throws(() => createTicketIssuer({} as never), /store/);
    assert.throws(() => createTicketIssuer({ store: createMemoryStore(), ttlSec: 0 }), /ttlSec/);
  });

  it('issues 32-byte base64url tickets and stores only their hash', async () => {
    const ctx = makeContext();
    const issuer = createTicketIssuer({ store: ctx.store, clock: ctx.clock });
    const { ticket, expiresAt } = await issuer.issue({ id: 'alice' });
    assert.match(ticket, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresAt, ctx.clock.now() + 30_000);
    const hash = createHash('sha256').update(ticket).digest('hex');
    const stored = await ctx.store.get(`ticket:${hash}`);
    assert.ok(stored !== undefined && !stored.includes(ticket));
    assert.equal(JSON.parse(stored).principal.id, 'alice');
  });

  it('needs the binding it was configured for', async () => {
    const issuer = createTicketIssuer({ store: createMemoryStore(), bindIp: true, bindOrigin: true });
    await assert.rejects(issuer.issue({ id: 'a' }, { origin: 'https://app.test' }), /ip/);
    await assert.rejects(issuer.issue({ id: 'a' }, { ip: '10.0.0.1', origin: 'null' }), /origin/);
    await assert.rejects(issuer.issue({ id: '' }), TypeError);
  });
});

describe('ticket strategy', () => {
  const strategy = createTicketStrategy();

  it('redeems once, from the credentials or the query string', async () => {
    const ctx = makeContext();
    const issuer = createTicketIssuer({ store: ctx.store, clock: ctx.clock });
    const { ticket } = await issuer.issue({ id: 'alice', sessionId: 's1', data: { name: 'Alice' } });
    const p = await run(strategy, { ticket }, ctx);
    assert.deepEqual(p, { id: 'alice', sessionId: 's1', data: { name: 'Alice' }, issuedAt: ctx.clock.now() });
    const again = await refusal(run(strategy, { ticket }, ctx));
    assert.deepEqual([again.code, again.detail], ['invalid_credentials', 'ticket: unknown, used or expired']);

    const second = (await issuer.issue({ id: 'bob' })).ticket;
    const viaQuery = makeContext({ store: ctx.store, clock: ctx.clock, url: `/socket.io/?EIO=4&transport=websocket&ticket=${second}` });
    assert.equal((await run(strategy, {}, viaQuery))?.id, 'bob');
    assert.equal((await refusal(run(strategy, {}, viaQuery))).code, 'invalid_credentials');
  });

  it('returns null without a ticket; refuses malformed ones', async () => {
    const ctx = makeContext();
    assert.equal(await run(strategy, { token: 'x' }, ctx), null);
    assert.equal(await run(createTicketStrategy({ queryParam: false }), {}, makeContext({ url: '/?ticket=abc' })), null);
    assert.equal((await refusal(run(strategy, { ticket: 'short' }, ctx))).detail, 'ticket: malformed');
    assert.equal((await refusal(run(strategy, { ticket: 7 }, ctx))).code, 'invalid_request');
  });

  it('refuses an expired ticket', async () => {
    const ctx = makeContext();
    const issuer = createTicketIssuer({ store: ctx.store, clock: ctx.clock, ttlSec: 5 });
    const { ticket } = await issuer.issue({ id: 'alice' });
    ctx.clock.advance(5_001);
    assert.equal((await refusal(run(strategy, { ticket }, ctx))).code, 'invalid_credentials');
  });

  it('refuses a ticket bound to another IP or Origin, and admits the bound one', async () => {
    const ctx = makeContext();
    const issuer = createTicketIssuer({ store: ctx.store, clock: ctx.clock, bindIp: true, bindOrigin: true });
    const bind = { ip: '::ffff:203.0.113.7', origin: 'HTTPS://App.Example.com:443' };
    const t1 = (await issuer.issue({ id: 'a' }, bind)).ticket;
    const otherIp = makeContext({ store: ctx.store, clock: ctx.clock, ip: '198.51.100.1', origin: 'https://app.example.com' });
    assert.equal((await refusal(run(strategy, { ticket: t1 }, otherIp))).detail, 'ticket: bound to another IP');
    // The failed attempt spent the ticket: a stolen ticket cannot be retried from the right place either.
    const t2 = (await issuer.issue({ id: 'a' }, bind)).ticket;
    const otherOrigin = makeContext({ store: ctx.store, clock: ctx.clock, ip: '203.0.113.7', origin: 'https://app.example.com.evil.com' });
    assert.equal((await refusal(run(strategy, { ticket: t2 }, otherOrigin))).detail, 'ticket: bound to another Origin');
    const t3 = (await issuer.issue({ id: 'a' }, bind)).ticket;
    const right = makeContext({ store: ctx.store, clock: ctx.clock, ip: '203.0.113.7', origin: 'https://app.example.com' });
    assert.equal((await run(strategy, { ticket: t3 }, right))?.id, 'a');
  });

  it('admits exactly one of two concurrent redemptions', async () => {
    const ctx = makeContext();
    const { ticket } = await createTicketIssuer({ store: ctx.store, clock: ctx.clock }).issue({ id: 'alice' });
    const results = await Promise.allSettled([run(strategy, { ticket }, ctx), run(strategy, { ticket }, ctx)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
  });

  it('maps a failing store to unavailable', async () => {
    const ctx = makeContext();
    await ctx.store.close();
    const err = await refusal(
      run(
        createTicketStrategy({ store: { ...ctx.store, getAndDelete: () => Promise.reject(new Error('down')) } }),
        { ticket: 'A'.repeat(43) },
        ctx,
      ),
    );
    assert.equal(err.code, 'unavailable');
  });
});

describe('ticket handler and redemption over Socket.IO', () => {
  const store = createMemoryStore();
  const issuer = createTicketIssuer({ store, ttlSec: 30 });
  let http: Server;
  let issueUrl: string;
  let fixture: Awaited<ReturnType<typeof startIo>>;

  before(async () => {
    const handler = createTicketHandler(issuer, {
      getPrincipal: (req) => (req.headers.authorization === 'Bearer web-session' ? { id: 'alice' } : null),
    });
    http = createServer(handler);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    issueUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/ws-ticket`;
    fixture = await startIo();
    createSocketIoGuard(fixture.io, { store, strategies: createTicketStrategy() });
  });
  after(async () => {
    await fixture.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
    await store.close();
  });

  const fetchTicket = async (): Promise<string> => {
    const res = await fetch(issueUrl, { method: 'POST', headers: { authorization: 'Bearer web-session' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = (await res.json()) as { ticket: string; expiresAt: number };
    assert.ok(body.expiresAt > Date.now());
    return body.ticket;
  };

  it('answers 405 to GET and 401 without a principal, with no-store', async () => {
    const get = await fetch(issueUrl);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const anon = await fetch(issueUrl, { method: 'POST' });
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('cache-control'), 'no-store');
    assert.equal(((await anon.json()) as { code: string }).code, 'credentials_required');
  });

  it('admits a fresh ticket once (auth payload), then refuses its replay', async () => {
    const ticket = await fetchTicket();
    await connected(fixture.client('/', { auth: { ticket } }));
    const replay = await refused(fixture.client('/', { auth: { ticket } }));
    assert.equal(replay.data?.code, 'invalid_credentials');
  });

  it('admits a ticket from the query string', async () => {
    const ticket = await fetchTicket();
    await connected(fixture.client('/', { query: { ticket } }));
    assert.equal((await refused(fixture.client('/', { query: { ticket } }))).data?.code, 'invalid_credentials');
  });
});

describe('ticket in the connection URL, then other credentials on the same connection', () => {
  const token = createCustomStrategy((c) => (c.token === 'good' ? { id: 'alice', expiresAt: Date.now() + 60_000 } : false));

  it('ws: a socket opened with ?ticket= refreshes with a token (the URL ticket is not redeemed again)', async () => {
    const store = createMemoryStore();
    const issuer = createTicketIssuer({ store });
    const http = createServer();
    const g = createWsGuard({ strategies: [createTicketStrategy({ store }), token], store, mode: 'auto' });
    g.attach(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { port } = http.address() as AddressInfo;
    try {
      const { ticket } = await issuer.issue({ id: 'alice' });
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?ticket=${ticket}`);
      const frames: { type: string; payload?: { code?: string } }[] = [];
      ws.on('message', (d) => frames.push(JSON.parse(String(d))));
      await waitUntil(() => frames.length === 1, 2_000, 'authenticated');
      ws.send(JSON.stringify({ type: 'authenticate', payload: { token: 'good' } }));
      await waitUntil(() => frames.length === 2, 2_000, 'the refresh verdict');
      assert.deepEqual(
        frames.map((f) => f.type),
        ['authenticated', 'authenticated'],
      );
      ws.terminate();
    } finally {
      await g.close();
      http.close();
    }
  });

  it('Socket.IO: a socket whose handshake URL carried ?ticket= refreshes with a token', async () => {
    const store = createMemoryStore();
    const issuer = createTicketIssuer({ store });
    const fixture = await startIo();
    const g = createSocketIoGuard(fixture.io, { strategies: [createTicketStrategy({ store }), token], store });
    try {
      const { ticket } = await issuer.issue({ id: 'alice' });
      const client = fixture.client('/', { query: { ticket } });
      await connected(client);
      const verdict = new Promise<string>((resolve) => {
        client.once('authenticated', () => resolve('authenticated'));
        client.once('auth_refresh_failed', (e: { code: string }) => resolve(e.code));
      });
      client.emit('authentication', { token: 'good' });
      assert.equal(await verdict, 'authenticated');
    } finally {
      await g.close();
      await fixture.close();
    }
  });
});
