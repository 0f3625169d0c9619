import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createManualClock } from '../../src/core/clock.js';
import { createAuthorization } from '../../src/policy/authorization.js';
import { signGrant } from '../../src/policy/grants.js';
import type { AuthorizationOptions } from '../../src/policy/types.js';
import { attachWsAuthorization } from '../../src/policy/ws.js';
import { type Claims, claimsStrategy } from '../helpers/policy.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';
import { authenticate, closed, type Frame, opened, startHttp, type WsFixture } from '../helpers/ws.js';

const SECRET = 'grant-secret-grant-secret-grant-secret!';

let fx: WsFixture | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  for (const c of closers.splice(0)) await c();
});

const strategy = claimsStrategy();

async function setup(options: AuthorizationOptions<Claims>) {
  fx = await startHttp();
  const clock = createManualClock();
  const authz = createAuthorization<Claims>({ clock, ...options });
  const guard = fx.track(createWsGuard({ strategies: [strategy], clock, origins: '*', mode: 'message', hooks: [authz.hooks] }));
  guard.attach(fx.http);
  const channels = attachWsAuthorization(guard, authz);
  closers.push(() => authz.close());
  await authz.ready;
  return { fx, clock, authz, guard, channels };
}

/** Every frame a client receives, in order. */
function recorder(ws: WebSocket): Frame[] {
  const frames: Frame[] = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as Frame));
  return frames;
}

async function frame(frames: Frame[], pred: (f: Frame) => boolean, what: string): Promise<Frame> {
  await waitUntil(() => frames.some(pred), 2000, what);
  return frames.find(pred) as Frame;
}

async function login(f: WsFixture, credentials: Record<string, unknown>): Promise<{ ws: WebSocket; frames: Frame[] }> {
  const ws = f.client('/');
  const frames = recorder(ws);
  await opened(ws);
  authenticate(ws, credentials);
  await frame(frames, (x) => x.type === 'authenticated', 'authenticated');
  return { ws, frames };
}

const send = (ws: WebSocket, type: string, payload?: unknown): void => ws.send(JSON.stringify({ type, payload }));

describe('authorization over ws', () => {
  it('subscribes only to the channels the claims allow; a crafted subscribe for another tenant is refused', async () => {
    const { fx, guard } = await setup({ rooms: { 'org:{orgId}:*': true } });
    const { ws, frames } = await login(fx, { user: 'alice', org: 'acme' });
    send(ws, 'subscribe', { channel: 'org:acme:chat', id: 1 });
    send(ws, 'subscribe', { channel: 'org:globex:chat', id: 2 });
    const ok = await frame(frames, (f) => f.type === 'subscribed', 'subscribed');
    assert.deepEqual(ok.payload, { channel: 'org:acme:chat', id: 1 });
    const no = await frame(frames, (f) => f.type === 'refused', 'refused');
    assert.deepEqual(no.payload, {
      type: 'subscribe',
      channel: 'org:globex:chat',
      id: 2,
      message: 'Forbidden',
      code: 'forbidden',
      retryable: false,
    });
    assert.equal(guard.hub.broadcast({ type: 'news' }, { room: 'org:globex:chat' }), 0);
    assert.equal(guard.hub.broadcast({ type: 'news' }, { room: 'org:acme:chat' }), 1);
    send(ws, 'unsubscribe', { channel: 'org:acme:chat' });
    await frame(frames, (f) => f.type === 'unsubscribed', 'unsubscribed');
    assert.equal(guard.hub.members('org:acme:chat').length, 0);
  });

  it('grants: bound to the connection and channel, refreshed in band, and the membership ends at expiry', async () => {
    const { fx, clock, guard } = await setup({ rooms: { 'private-*': { grant: true } }, grants: { secret: SECRET, maxTtlMs: 60_000 } });
    const { ws, frames } = await login(fx, { user: 'alice', org: 'acme' });
    const id = (await frame(frames, (f) => f.type === 'connection', 'connection id')).payload?.id as string;
    const other = await login(fx, { user: 'bob', org: 'acme' });
    const otherId = (await frame(other.frames, (f) => f.type === 'connection', 'connection id')).payload?.id as string;
    const exp = clock.now() + 30_000;
    send(ws, 'subscribe', { channel: 'private-1' });
    send(ws, 'subscribe', {
      channel: 'private-1',
      grant: signGrant(SECRET, { connectionId: otherId, channel: 'private-1', expiresAt: exp }),
    });
    send(ws, 'subscribe', { channel: 'private-1', grant: signGrant(SECRET, { connectionId: id, channel: 'private-2', expiresAt: exp }) });
    send(ws, 'subscribe', {
      channel: 'private-1',
      grant: signGrant(SECRET, { connectionId: id, channel: 'private-1', expiresAt: clock.now() + 120_000 }),
    });
    send(ws, 'subscribe', { channel: 'private-1', grant: signGrant(SECRET, { connectionId: id, channel: 'private-1', expiresAt: exp }) });
    const ok = await frame(frames, (f) => f.type === 'subscribed', 'subscribed');
    assert.deepEqual(ok.payload, { channel: 'private-1', expiresAt: exp });
    assert.equal(frames.filter((f) => f.type === 'refused').length, 4);
    clock.advance(20_000);
    const exp2 = clock.now() + 30_000;
    send(ws, 'subscribe', { channel: 'private-1', grant: signGrant(SECRET, { connectionId: id, channel: 'private-1', expiresAt: exp2 }) });
    await waitUntil(() => frames.filter((f) => f.type === 'subscribed').length === 2, 2000, 'the refreshed grant');
    clock.advance(15_000); // past the first grant, within the second
    assert.equal(guard.hub.members('private-1').length, 1);
    clock.advance(15_000);
    const ended = await frame(frames, (f) => f.type === 'unsubscribed', 'unsubscribed');
    assert.equal(ended.payload?.code, 'forbidden');
    assert.equal(guard.hub.members('private-1').length, 0);
  });

  it('a frame type outside the scope never reaches the app; a throwing policy denies', async () => {
    const { fx, guard } = await setup({
      events: {
        chat: true,
        'admin:*': ({ principal }) => principal.claims.roles.includes('admin'),
        boom: () => {
          throw new Error('db down');
        },
      },
    });
    const seen: string[] = [];
    guard.on('connection', (ws) => ws.on('message', (d: Buffer) => seen.push((JSON.parse(d.toString()) as Frame).type)));
    const { ws, frames } = await login(fx, { user: 'bob', org: 'acme' });
    send(ws, 'admin:kick');
    send(ws, 'boom');
    ws.send('not json');
    send(ws, 'chat', { text: 'hi' });
    await waitUntil(() => seen.length === 1, 2000, 'the chat frame');
    assert.deepEqual(seen, ['chat']);
    await waitUntil(() => frames.filter((f) => f.type === 'refused').length === 3, 2000, 'three refusals');
    assert.deepEqual(
      frames.filter((f) => f.type === 'refused').map((f) => [f.payload?.type, f.payload?.code]),
      [
        ['admin:kick', 'forbidden'],
        ['boom', 'forbidden'],
        ['', 'forbidden'],
      ],
    );
  });

  it('reserved frame types spelled with JSON escapes are policed as themselves', async () => {
    const { fx, guard } = await setup({ rooms: { 'pub:*': true } });
    const seen: string[] = [];
    guard.on('connection', (ws) => ws.on('message', (d: Buffer) => seen.push(d.toString())));
    const { ws, frames } = await login(fx, { user: 'bob', org: 'acme' });
    ws.send('{"type":"\\u0073ubscribe","payload":{"channel":"secret:x"}}');
    const refused = await frame(frames, (f) => f.type === 'refused', 'the refusal');
    assert.deepEqual([refused.payload?.type, refused.payload?.code], ['subscribe', 'forbidden']);
    ws.send('{"type":"unsub\\u0073cribe","payload":{"channel":"pub:x"}}');
    await frame(frames, (f) => f.type === 'unsubscribed', 'the unsubscribe answer');
    send(ws, 'chat', { text: 'hi' });
    await waitUntil(() => seen.length === 1, 2000, 'the chat frame');
    assert.equal(JSON.parse(seen[0] as string).type, 'chat');
  });

  it('an app that forgot authz.hooks: its sockets are closed forbidden through the guard (counts, hub and close deadline)', async () => {
    fx = await startHttp();
    const clock = createManualClock();
    const authz = createAuthorization<Claims>({ clock, rooms: { 'pub:*': true } });
    closers.push(() => authz.close());
    const guard = fx.track(createWsGuard({ strategies: [strategy], clock, origins: '*', mode: 'message', closeTimeoutMs: 300 }));
    guard.attach(fx.http);
    attachWsAuthorization(guard, authz);
    const ws = fx.client('/');
    await opened(ws);
    authenticate(ws, { user: 'bob', org: 'acme' });
    const [code] = await waitForEvent<[number, Buffer]>(ws, 'close', 5000);
    assert.equal(code, 4403);
    assert.deepEqual({ authenticated: guard.stats.authenticated, hub: guard.hub.size }, { authenticated: 0, hub: 0 });
  });

  it('cuts a frame flood at the configured rate; other sockets are unaffected', async () => {
    const { fx, guard, clock } = await setup({ limits: { events: { perSecond: 10, burst: 5 } } });
    const counts = new Map<WebSocket, number>();
    guard.on('connection', (ws) => ws.on('message', () => counts.set(ws, (counts.get(ws) ?? 0) + 1)));
    const flooder = await login(fx, { user: 'flood', org: 'a' });
    const quiet = await login(fx, { user: 'quiet', org: 'a' });
    for (let i = 0; i < 50; i++) send(flooder.ws, 'tick');
    for (let i = 0; i < 3; i++) send(quiet.ws, 'tick');
    await waitUntil(() => [...counts.values()].includes(3), 2000, 'the quiet socket');
    // A marker after the flood: once the server answered it, every flood frame was processed.
    send(flooder.ws, 'subscribe', { channel: 'x' });
    await frame(flooder.frames, (f) => f.type === 'refused', 'the marker');
    assert.deepEqual([...counts.values()].sort(), [3, 5]);
    clock.advance(300); // three more tokens: 5 + 3 frames in all
    for (let i = 0; i < 10; i++) send(flooder.ws, 'tick');
    send(flooder.ws, 'subscribe', { channel: 'y' });
    await waitUntil(() => flooder.frames.filter((f) => f.type === 'refused').length === 2, 2000, 'the second marker');
    assert.deepEqual([...counts.values()].sort(), [3, 8]);
  });

  it('holds the connection cap per principal under concurrent connects', async () => {
    const { fx, authz } = await setup({ limits: { connectionsPerPrincipal: 2 } });
    const clients = Array.from({ length: 8 }, () => fx.client('/'));
    await Promise.all(clients.map((ws) => opened(ws)));
    const outcomes = clients.map(
      (ws) =>
        new Promise<string>((resolve) => {
          ws.once('message', () => resolve('ok'));
          ws.once('close', (code: number) => resolve(String(code)));
        }),
    );
    for (const ws of clients) authenticate(ws, { user: 'alice', org: 'a' });
    const results = await Promise.all(outcomes);
    assert.equal(results.filter((r) => r === 'ok').length, 2);
    assert.equal(results.filter((r) => r === '4429').length, 6);
    assert.equal(authz.stats.connections, 2);
  });

  it('a refresh that drops a claim unsubscribes the channels that needed it; a lost namespace closes with forbidden', async () => {
    const { fx, guard } = await setup({
      namespaces: { '/': ({ principal }) => principal.claims.orgId !== 'banned' },
      rooms: { 'ops:*': ({ principal }) => principal.claims.roles.includes('ops'), 'org:{orgId}:*': true },
    });
    const { ws, frames } = await login(fx, { user: 'alice', org: 'acme', roles: ['ops'] });
    send(ws, 'subscribe', { channel: 'ops:pager' });
    send(ws, 'subscribe', { channel: 'org:acme:chat' });
    await waitUntil(() => frames.filter((f) => f.type === 'subscribed').length === 2, 2000, 'two subscriptions');
    authenticate(ws, { user: 'alice', org: 'acme', roles: [] });
    const ended = await frame(frames, (f) => f.type === 'unsubscribed', 'unsubscribed');
    assert.deepEqual(ended.payload, { channel: 'ops:pager', message: 'Forbidden', code: 'forbidden', retryable: false });
    assert.equal(guard.hub.members('ops:pager').length, 0);
    assert.equal(guard.hub.members('org:acme:chat').length, 1);
    const gone = closed(ws);
    authenticate(ws, { user: 'alice', org: 'banned', roles: [] });
    assert.deepEqual(await gone, { code: 4403, reason: 'forbidden' });
  });

  it('refuses a path its namespace policy denies with 4403 forbidden', async () => {
    const { fx, authz } = await setup({ namespaces: { '/': ({ principal }) => principal.claims.roles.includes('member') } });
    const ws = fx.client('/');
    await opened(ws);
    const gone = closed(ws);
    authenticate(ws, { user: 'eve', org: 'acme' });
    assert.deepEqual(await gone, { code: 4403, reason: 'forbidden' });
    await login(fx, { user: 'ann', org: 'acme', roles: ['member'] });
    assert.equal(authz.stats.connections, 1);
  });
});
