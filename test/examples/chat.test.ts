import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { type Demo, startDemo } from '../../examples/chat/server.js';
import { connected } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

interface Chat {
  from: string;
  text: string;
}

describe('the demo chat (npm run demo), over HTTP and both transports', () => {
  let demo: Demo;
  before(async () => {
    demo = await startDemo({ port: 0 });
  });
  after(async () => {
    await demo.close();
  });

  const login = async (name: string, password: string): Promise<Response> =>
    fetch(`${demo.url}/login`, { method: 'POST', body: JSON.stringify({ name, password }) });
  const cookieOf = (res: Response): string => (res.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const tokenFor = async (cookie: string): Promise<{ token: string; expiresAt: number }> => {
    const res = await fetch(`${demo.url}/token`, { method: 'POST', headers: { cookie } });
    assert.equal(res.status, 200);
    return (await res.json()) as { token: string; expiresAt: number };
  };
  const ticketFor = async (token: string): Promise<{ ticket: string; expiresAt: number }> => {
    const res = await fetch(`${demo.url}/ticket`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return (await res.json()) as { ticket: string; expiresAt: number };
  };

  it('serves the page and its bundled script', async () => {
    assert.match(await (await fetch(demo.url)).text(), /portcullis demo chat/);
    const script = await fetch(`${demo.url}/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    const js = await script.text();
    assert.match(js, /createCredentialProvider|PortcullisClientError/);
    assert.doesNotMatch(js, /from ["']node:/);
  });

  it('checks passwords (scrypt): a wrong one is refused, a right one sets an HttpOnly session cookie', async () => {
    const wrong = await login('alice', 'not-the-password');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.equal((await login('nobody', 'x')).status, 401);
    const ok = await login('alice', 'wonderland');
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    const me = await fetch(`${demo.url}/me`, { headers: { cookie: cookieOf(ok) } });
    assert.deepEqual(await me.json(), { user: 'alice', role: 'user' });
    const forged = `${cookieOf(ok).slice(0, -3)}abc`;
    assert.equal((await fetch(`${demo.url}/token`, { method: 'POST', headers: { cookie: forged } })).status, 401);
  });

  it('refuses /token to another origin, even with the cookie', async () => {
    const cookie = cookieOf(await login('alice', 'wonderland'));
    const res = await fetch(`${demo.url}/token`, { method: 'POST', headers: { cookie, origin: 'http://evil.example' } });
    assert.equal(res.status, 403);
  });

  it('admits a ticket-carrying socket with the expiry of the JWT behind it, and bridges chat both ways', async () => {
    const aliceCookie = cookieOf(await login('alice', 'wonderland'));
    const bobCookie = cookieOf(await login('bob', 'builder'));
    const alice = await tokenFor(aliceCookie);
    const { ticket } = await ticketFor(alice.token);
    const sio = ioc(demo.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { ticket } });
    const session = waitForEvent<{ id: string; user: string; expiresAt: number }>(sio, 'session', 5000);
    const sioChat: Chat[] = [];
    sio.on('chat', (m: Chat) => sioChat.push(m));
    const ws = new WebSocket(`${demo.url.replace('http', 'ws')}/ws`);
    const opened = waitForEvent(ws, 'open', 5000);
    const wsFrames: { type: string; payload: Chat & { expiresAt?: number } }[] = [];
    ws.on('message', (data) => wsFrames.push(JSON.parse(String(data))));
    try {
      await connected(sio, 5000);
      const s = await session;
      assert.equal(s.user, 'alice');
      assert.equal(s.id, sio.id);
      assert.equal(s.expiresAt, alice.expiresAt, 'the ticket carries the JWT expiry');
      await opened;
      ws.send(JSON.stringify({ type: 'authenticate', payload: { token: (await tokenFor(bobCookie)).token } }));
      await waitUntil(() => wsFrames.some((f) => f.type === 'authenticated'), 5000, 'ws authenticated');
      assert.ok((wsFrames.find((f) => f.type === 'authenticated')?.payload.expiresAt ?? 0) > Date.now());

      sio.emit('chat', '   '); // empty: never relayed
      sio.emit('chat', 'hi from socket.io');
      await waitUntil(() => wsFrames.some((f) => f.type === 'chat' && f.payload.text === 'hi from socket.io'), 5000, 'sio → ws');
      ws.send(JSON.stringify({ type: 'chat', payload: { text: '' } }));
      ws.send(JSON.stringify({ type: 'chat', payload: { text: 'hi from ws' } }));
      await waitUntil(() => sioChat.some((m) => m.text === 'hi from ws'), 5000, 'ws → sio');
      const said = sioChat.filter((m) => m.from !== 'portcullis');
      assert.deepEqual(said, [
        { from: 'alice', text: 'hi from socket.io', room: 'lobby' },
        { from: 'bob', text: 'hi from ws', room: 'lobby' },
      ]);

      // The ticket was single use.
      const again = ioc(demo.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { ticket } });
      const err = await waitForEvent<Error & { data: { code: string } }>(again, 'connect_error', 5000);
      assert.equal(err.data.code, 'invalid_credentials');
      again.close();
    } finally {
      sio.close();
      ws.close();
    }
  });

  it('joins rooms by policy and gates admin:* events: a user is refused admins and admin:revoke, on both transports', async () => {
    const { token } = await tokenFor(cookieOf(await login('alice', 'wonderland')));
    const sio = ioc(demo.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
    const session = waitForEvent<{ rooms: string[] }>(sio, 'session', 5000);
    const ws = new WebSocket(`${demo.url.replace('http', 'ws')}/ws`);
    const opened = waitForEvent(ws, 'open', 5000);
    const frames: { type: string; payload: Record<string, unknown> }[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data))));
    try {
      assert.deepEqual((await session).rooms, ['lobby', 'user:alice']);
      const joinAck = (room: string) => sio.timeout(5000).emitWithAck('portcullis:join', { room });
      assert.deepEqual(await joinAck('topic:tea'), { ok: true, room: 'topic:tea' });
      for (const room of ['admins', 'user:bob']) assert.equal((await joinAck(room)).code, 'forbidden');
      const revoke = await sio.timeout(5000).emitWithAck('admin:revoke', 'bob');
      assert.equal(revoke.code, 'forbidden', 'the event policy stops a user’s admin:revoke before the handler');

      await opened;
      ws.send(JSON.stringify({ type: 'authenticate', payload: { token } }));
      await waitUntil(() => frames.some((f) => f.type === 'session'), 5000, 'ws session');
      ws.send(JSON.stringify({ type: 'subscribe', payload: { channel: 'admins' } }));
      ws.send(JSON.stringify({ type: 'admin:revoke', payload: { userId: 'bob' } }));
      await waitUntil(() => frames.filter((f) => f.type === 'refused').length === 2, 5000, 'two refusals');
      const refused = frames.filter((f) => f.type === 'refused').map((f) => [f.payload.type, f.payload.code]);
      assert.deepEqual(refused, [
        ['subscribe', 'forbidden'],
        ['admin:revoke', 'forbidden'],
      ]);
    } finally {
      sio.close();
      ws.close();
    }
  });

  it('logout ends the session: no more tokens for the cookie', async () => {
    const cookie = cookieOf(await login('bob', 'builder'));
    await tokenFor(cookie);
    const out = await fetch(`${demo.url}/logout`, { method: 'POST', headers: { cookie } });
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await fetch(`${demo.url}/token`, { method: 'POST', headers: { cookie } })).status, 401);
    assert.equal((await fetch(`${demo.url}/ticket`, { method: 'POST' })).status, 401);
  });
});
