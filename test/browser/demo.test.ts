/**
 * The demo app in real Chromium: login, a chat between two browser contexts on
 * different transports, a wrong password, rooms joined through the authorization
 * policy (allowed, refused with the code shown, the admins room for admins), a
 * revoke from the admin view, an
 * in-band refresh (same socket id), server restarts (same key: reconnect; new key:
 * back to login with the reason), and a page from another origin refused.
 * Every wait is Playwright's own (DOM states with deadlines); no sleeps.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type Demo, startDemo } from '../../examples/chat/server.js';
import { chromiumMissing, launchChromium, withScreenshots } from '../helpers/browser.js';
import { withDeadline } from '../helpers/wait.js';

/** Generous: two cores shared with other suites. */
const T = 20_000;
const skip = chromiumMissing();

describe('the demo in Chromium', { skip, timeout: 240_000 }, () => {
  let browser: Browser;
  let demo: Demo;
  const contexts: BrowserContext[] = [];
  const pages: Page[] = [];

  before(async () => {
    [browser, demo] = await Promise.all([launchChromium(), startDemo({ port: 0 })]);
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    // Deadlines: a close that hangs fails here, loudly, instead of holding the whole suite.
    await withDeadline(browser?.close() ?? Promise.resolve(), 15_000, 'Chromium to close');
    await withDeadline(demo?.close() ?? Promise.resolve(), 15_000, 'the demo to close');
  });

  /** A fresh browser context (its own cookies), with the page open on `url`. */
  async function open(url = demo.url): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    context.setDefaultTimeout(T);
    const page = await context.newPage();
    pages.push(page);
    await page.goto(url);
    return page;
  }

  async function login(page: Page, name: string, password: string, transport: 'socket.io' | 'ws' = 'socket.io'): Promise<void> {
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.fill('#name', name);
    await page.fill('#password', password);
    await page.selectOption('#transport', transport);
    await page.click('#login button[type=submit]');
  }

  async function connectedAs(page: Page, name: string): Promise<string> {
    await page.locator('#status', { hasText: /^connected$/ }).waitFor();
    await page.locator('#whoami', { hasText: name }).waitFor();
    return (await page.textContent('#socket-id')) ?? '';
  }

  const saw = (page: Page, text: string) => page.locator('#log p', { hasText: text }).waitFor();

  /** Runs a test body; on failure, screenshots of its pages; then closes its contexts either way. */
  const step = async <R>(name: string, fn: () => Promise<R>): Promise<R> => {
    try {
      return await withScreenshots(name, () => pages, fn);
    } finally {
      for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
      pages.length = 0;
    }
  };

  it('refuses a wrong password and stays on the login form', () =>
    step('wrong-password', async () => {
      const page = await open();
      await login(page, 'alice', 'not-her-password');
      await page.locator('#login-reason', { hasText: 'Wrong name or password' }).waitFor();
      assert.equal(await page.isVisible('#chat-view'), false);
    }));

  it('logs in and chats between two contexts, Socket.IO ↔ ws, without sending empty messages', () =>
    step('chat', async () => {
      const [alice, bob] = await Promise.all([open(), open()]);
      await Promise.all([login(alice, 'alice', 'wonderland', 'socket.io'), login(bob, 'bob', 'builder', 'ws')]);
      const [aliceId] = await Promise.all([connectedAs(alice, 'alice'), connectedAs(bob, 'bob')]);
      assert.ok(aliceId.length > 0);
      await alice.locator('#via', { hasText: 'socket.io' }).waitFor();
      await bob.locator('#via', { hasText: 'ws' }).waitFor();
      await alice.locator('#expires', { hasText: / s\)$/ }).waitFor();

      // Empty messages are not sent: the button stays disabled and Enter does nothing.
      await alice.fill('#text', '   ');
      assert.equal(await alice.isDisabled('#send-button'), true);
      await alice.press('#text', 'Enter');
      await alice.fill('#text', 'hello bob');
      await alice.click('#send-button');
      await saw(bob, 'alice: hello bob');
      await bob.fill('#text', 'hi alice');
      await bob.press('#text', 'Enter');
      await saw(alice, 'bob: hi alice');
      const aliceLines = await bob.locator('#log p', { hasText: /^alice: / }).allTextContents();
      assert.deepEqual(aliceLines, ['alice: hello bob']);
      // The log follows new lines.
      const atBottom = await alice.$eval('#log', (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 2);
      assert.ok(atBottom, 'the log scrolls to the newest line');

      await alice.click('#logout');
      await alice.locator('#login-reason', { hasText: 'You logged out' }).waitFor();
      await bob.locator('#chat-view').waitFor({ state: 'visible' });
    }));

  it('lets an admin see sockets, the audit feed and the chart, and revoke a user on every transport', () =>
    step('admin-revoke', async () => {
      const [admin, bobWs, bobIo] = await Promise.all([open(), open(), open()]);
      await Promise.all([
        login(admin, 'admin', 'portcullis', 'socket.io'),
        login(bobWs, 'bob', 'builder', 'ws'),
        login(bobIo, 'bob', 'builder', 'socket.io'),
      ]);
      await Promise.all([connectedAs(admin, 'admin'), connectedAs(bobWs, 'bob'), connectedAs(bobIo, 'bob')]);
      await admin.locator('#admin').waitFor({ state: 'visible' });
      await admin.locator('#sockets tr[data-user=bob][data-transport=ws]').waitFor();
      await admin.locator('#sockets tr[data-user=bob][data-transport="socket.io"]').waitFor();
      await admin.locator('#audit li', { hasText: 'accepted' }).first().waitFor();
      await admin.locator('#chart polyline').waitFor({ state: 'attached' });
      assert.equal(await bobWs.isVisible('#admin'), false, 'no admin view for a user');

      await admin.locator('button.revoke[data-user=bob]').first().click();
      await bobWs.locator('#login-reason', { hasText: 'revoked' }).waitFor();
      await bobIo.locator('#login-reason', { hasText: 'revoked' }).waitFor();
      await admin.locator('#audit li', { hasText: 'revoked' }).first().waitFor();
      await admin.locator('#sockets tr[data-user=bob]').first().waitFor({ state: 'detached' });
      // The revoked session gets no new credentials: logging in again is the way back.
      await login(bobWs, 'bob', 'builder', 'ws');
      await connectedAs(bobWs, 'bob');
    }));

  /** Asks for `room` from the page's Rooms card. */
  async function join(page: Page, room: string): Promise<void> {
    await page.fill('#room', room);
    await page.click('#join-button');
  }

  it('joins a room the policy allows and chats there, across transports; others do not hear it', () =>
    step('rooms-allowed', async () => {
      const [alice, bob, admin] = await Promise.all([open(), open(), open()]);
      await Promise.all([
        login(alice, 'alice', 'wonderland', 'socket.io'),
        login(bob, 'bob', 'builder', 'ws'),
        login(admin, 'admin', 'portcullis', 'ws'),
      ]);
      await Promise.all([connectedAs(alice, 'alice'), connectedAs(bob, 'bob'), connectedAs(admin, 'admin')]);
      // Joined at connect, through the policy: the lobby and the user's own room.
      await alice.locator('#rooms li[data-room=lobby]').waitFor();
      await alice.locator('#rooms li[data-room="user:alice"]').waitFor();
      await bob.locator('#rooms li[data-room="user:bob"]').waitFor();

      await join(alice, 'topic:tea');
      await alice.locator('#room-status', { hasText: 'joined topic:tea' }).waitFor();
      await join(bob, 'topic:tea');
      await bob.locator('#rooms li[data-room="topic:tea"]').waitFor();
      await alice.selectOption('#to', 'topic:tea');
      await alice.fill('#text', 'tea, anyone?');
      await alice.press('#text', 'Enter');
      await saw(bob, '[topic:tea] alice: tea, anyone?');
      // The same sender, next in the lobby: once the admin hears that, the topic line would have come before it.
      await alice.selectOption('#to', 'lobby');
      await alice.fill('#text', 'back in the lobby');
      await alice.press('#text', 'Enter');
      await saw(admin, 'alice: back in the lobby');
      assert.equal(await admin.locator('#log p', { hasText: 'tea, anyone?' }).count(), 0, 'not a member of topic:tea');
    }));

  it('refuses a user the admins room and another user’s room, with the code shown, on both transports', () =>
    step('rooms-refused', async () => {
      const [alice, bob] = await Promise.all([open(), open()]);
      await Promise.all([login(alice, 'alice', 'wonderland', 'socket.io'), login(bob, 'bob', 'builder', 'ws')]);
      await Promise.all([connectedAs(alice, 'alice'), connectedAs(bob, 'bob')]);
      await join(alice, 'admins');
      await alice.locator('#room-status', { hasText: 'refused admins: forbidden' }).waitFor();
      await join(bob, 'admins');
      await bob.locator('#room-status', { hasText: 'refused admins: forbidden' }).waitFor();
      await join(alice, 'user:bob');
      await alice.locator('#room-status', { hasText: 'refused user:bob: forbidden' }).waitFor();
      for (const page of [alice, bob]) {
        assert.equal(await page.locator('#rooms li[data-room=admins]').count(), 0);
        assert.equal(await page.isVisible('#admin'), false);
      }
      assert.equal(await alice.locator('#rooms li[data-room="user:bob"]').count(), 0);
    }));

  it('lets an admin join admins (the admin view’s room) on both transports and talk there', () =>
    step('rooms-admin', async () => {
      const [overIo, overWs, bob] = await Promise.all([open(), open(), open()]);
      await Promise.all([
        login(overIo, 'admin', 'portcullis', 'socket.io'),
        login(overWs, 'admin', 'portcullis', 'ws'),
        login(bob, 'bob', 'builder', 'socket.io'),
      ]);
      await Promise.all([connectedAs(overIo, 'admin'), connectedAs(overWs, 'admin'), connectedAs(bob, 'bob')]);
      for (const page of [overIo, overWs]) {
        await page.locator('#rooms li[data-room=admins]').waitFor();
        await page.locator('#room-status', { hasText: 'joined admins' }).waitFor();
        await page.locator('#sockets tr[data-user=bob]').waitFor(); // the snapshot, sent once the page holds admins
      }
      await overIo.selectOption('#to', 'admins');
      await overIo.fill('#text', 'admins only');
      await overIo.press('#text', 'Enter');
      await saw(overWs, '[admins] admin: admins only');
      await overIo.selectOption('#to', 'lobby');
      await overIo.fill('#text', 'hello all');
      await overIo.press('#text', 'Enter');
      await saw(bob, 'admin: hello all');
      assert.equal(await bob.locator('#log p', { hasText: 'admins only' }).count(), 0);
    }));

  it('refreshes a short-lived credential in band: same socket id, new expiry, on both transports', () =>
    step('refresh', async () => {
      const short = await startDemo({ port: 0, tokenTtlSec: 6 });
      try {
        const [alice, bob] = await Promise.all([open(short.url), open(short.url)]);
        await Promise.all([login(alice, 'alice', 'wonderland', 'socket.io'), login(bob, 'bob', 'builder', 'ws')]);
        const [aliceId, bobId] = await Promise.all([connectedAs(alice, 'alice'), connectedAs(bob, 'bob')]);
        const firstExpiry = await alice.textContent('#expires');
        await alice.locator('#refreshes', { hasText: /^[1-9]/ }).waitFor();
        await bob.locator('#refreshes', { hasText: /^[1-9]/ }).waitFor();
        assert.equal(await alice.textContent('#socket-id'), aliceId);
        assert.equal(await bob.textContent('#socket-id'), bobId);
        assert.notEqual(await alice.textContent('#expires'), firstExpiry);
        assert.equal(await alice.locator('#log p', { hasText: /^connected as/ }).count(), 1, 'never reconnected');
        assert.ok(short.feed().some((e) => e.type === 'refreshed' && e.transport === 'socket.io'));
        assert.ok(short.feed().some((e) => e.type === 'refreshed' && e.transport === 'ws'));
      } finally {
        await short.close();
      }
    }));

  it('refuses a page from another origin that tries to open sockets with the user’s cookie', () =>
    step('foreign-origin', async () => {
      const victim = await open();
      await login(victim, 'alice', 'wonderland', 'ws');
      await connectedAs(victim, 'alice');
      const target = new URL(demo.url);
      const evil: Server = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(`<!doctype html><p id="ws">pending</p><p id="token">pending</p><script>
          const ws = new WebSocket('ws://${target.host}/ws');
          ws.onopen = () => { document.getElementById('ws').textContent = 'open'; };
          ws.onclose = (e) => { document.getElementById('ws').textContent = 'closed ' + e.code; };
          fetch('http://${target.host}/token', { method: 'POST', credentials: 'include' })
            .then((r) => r.text().then((t) => { document.getElementById('token').textContent = 'read ' + r.status + ' ' + t; }))
            .catch(() => { document.getElementById('token').textContent = 'blocked'; });
        </script>`);
      });
      await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
      try {
        const before = demo.feed().length;
        const page = await victim.context().newPage();
        pages.push(page);
        await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
        await page.locator('#ws', { hasText: 'closed 1006' }).waitFor();
        await page.locator('#token', { hasText: 'blocked' }).waitFor();
        const seen = demo.feed().slice(before);
        assert.ok(
          seen.some((e) => e.type === 'rejected' && e.code === 'origin_not_allowed' && e.transport === 'ws'),
          JSON.stringify(seen),
        );
        assert.ok(!seen.some((e) => e.type === 'accepted'), 'nothing was admitted');
      } finally {
        await new Promise<void>((resolve) => evil.close(() => resolve()));
      }
    }));

  it('survives a server restart with the same key, and sends users back to login after one with a new key', () =>
    step('restart', async () => {
      const [alice, bob] = await Promise.all([open(), open()]);
      await Promise.all([login(alice, 'alice', 'wonderland', 'socket.io'), login(bob, 'bob', 'builder', 'ws')]);
      const [firstId] = await Promise.all([connectedAs(alice, 'alice'), connectedAs(bob, 'bob')]);
      const { port } = new URL(demo.url);

      const { secret } = demo;
      await demo.close();
      demo = await startDemo({ port: Number(port), secret });
      await alice.locator('#socket-id', { hasNotText: firstId }).waitFor();
      await connectedAs(alice, 'alice');
      await bob.locator('#log p', { hasText: 'connected as bob' }).nth(1).waitFor();
      await connectedAs(bob, 'bob');
      await alice.fill('#text', 'still here');
      await alice.press('#text', 'Enter');
      await saw(bob, 'alice: still here');

      await demo.close();
      demo = await startDemo({ port: Number(port) }); // a new key: old sessions are gone
      await alice.locator('#login-reason', { hasText: 'session has ended' }).waitFor();
      await bob.locator('#login-reason', { hasText: 'session has ended' }).waitFor();
    }));
});
