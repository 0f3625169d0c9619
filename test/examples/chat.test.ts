import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { type Demo, startDemo } from '../../examples/chat/server.js';
import { connected } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

describe('the demo chat (npm run demo)', () => {
  let demo: Demo;
  before(async () => {
    demo = await startDemo({ port: 0 });
  });
  after(async () => {
    await demo.close();
  });

  const ticketFor = async (token: string): Promise<string> => {
    const res = await fetch(`${demo.url}/ticket`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    return ((await res.json()) as { ticket: string }).ticket;
  };

  it('serves the page, logs in, and chats over Socket.IO with a one-time ticket', async () => {
    const page = await fetch(demo.url);
    assert.match(await page.text(), /portcullis demo chat/);
    const login = await fetch(`${demo.url}/login`, { method: 'POST', body: JSON.stringify({ name: 'carol' }) });
    const { token } = (await login.json()) as { token: string };
    const ticket = await ticketFor(token);
    const c = ioc(demo.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { ticket } });
    const chat: { from: string; text: string }[] = [];
    c.on('chat', (m: { from: string; text: string }) => chat.push(m));
    try {
      await connected(c);
      c.emit('chat', 'hi');
      await waitUntil(() => chat.some((m) => m.from === 'carol'), 2000, 'the echo');
      assert.deepEqual(chat, [
        { from: 'portcullis', text: 'carol joined' },
        { from: 'carol', text: 'hi' },
      ]);
      // The ticket was single use.
      const again = ioc(demo.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { ticket } });
      const err = await waitForEvent<Error & { data: { code: string } }>(again, 'connect_error');
      assert.equal(err.data.code, 'invalid_credentials');
      again.close();
    } finally {
      c.close();
    }
  });

  it('refuses a ticket without a login, and admits ws with the JWT as first message', async () => {
    const res = await fetch(`${demo.url}/ticket`, { method: 'POST' });
    assert.equal(res.status, 401);
    const token = await demo.login('dave');
    const ws = new WebSocket(`${demo.url.replace('http', 'ws')}/ws`);
    try {
      await waitForEvent(ws, 'open');
      ws.send(JSON.stringify({ type: 'authenticate', payload: { token } }));
      const [data] = await waitForEvent<[Buffer, boolean]>(ws, 'message');
      const frame = JSON.parse(data.toString()) as { type: string; payload: { expiresAt: number } };
      assert.equal(frame.type, 'authenticated');
      assert.ok(frame.payload.expiresAt > Date.now());
    } finally {
      ws.close();
    }
  });
});
