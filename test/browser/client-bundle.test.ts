/**
 * `portcullis/client` in a real browser bundle: esbuild `--platform=browser`
 * pulls in no Node built-in, and the bundle runs in Chromium against real guarded
 * servers. In the browser it must know when to stop: give up on a TLS refusal
 * and honour `Retry-After` at a Socket.IO polling handshake (the XHR shows the
 * status and body on the same origin); a browser `WebSocket` hides a refused
 * upgrade's status (connection_lost), while a refusal after the upgrade keeps its exact code.
 */
import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { Server } from 'socket.io';
import { createSocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import { createWsGuard, type WsGuardOptions } from '../../src/adapters/ws.js';
import type { AuditEvent } from '../../src/core/hooks.js';
import { AuthError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { chromiumMissing, launchChromium, withScreenshots } from '../helpers/browser.js';
import { withDeadline } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_ENTRY = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
const skip = chromiumMissing();

/** Admits `{ token: 'good' }`, refuses anything else with `invalid_credentials`. */
const tokens = createCustomStrategy({
  name: 'tokens',
  authenticate: (c) => {
    if (c.token === 'good') return { id: 'u1' };
    throw new AuthError('invalid_credentials');
  },
});

describe('portcullis/client bundled for the browser', () => {
  it('bundles with esbuild --platform=browser without any Node built-in', async () => {
    const result = await build({
      entryPoints: [CLIENT_ENTRY],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    assert.deepEqual(result.errors, []);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.length > 3, inputs.join(', '));
    for (const input of inputs) assert.match(input, /^src\/(client\/[\w-]+|errors|protocol)\.ts$/, `unexpected input ${input}`);
    const imports = Object.values(result.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
    assert.ok(
      !imports.some((p) => p.startsWith('node:') || /^(fs|net|http|https|crypto|stream|buffer|events|url|util)$/.test(p)),
      imports.join(', '),
    );
    const [out] = result.outputFiles;
    assert.doesNotMatch(out?.text ?? '', /\brequire\(|\bprocess\.|\bBuffer\./);
  });

  describe('in Chromium', { skip, timeout: 180_000 }, () => {
    let browser: Browser;
    let script: string;
    let page: Page;
    const servers: { close(): Promise<void> }[] = [];

    before(async () => {
      const built = build({
        stdin: {
          contents: `export * from ${JSON.stringify(CLIENT_ENTRY)}; export { io } from 'socket.io-client';`,
          resolveDir: ROOT,
          loader: 'ts',
        },
        bundle: true,
        platform: 'browser',
        format: 'iife',
        globalName: 'portcullis',
        write: false,
        logLevel: 'silent',
      });
      const [b, r] = await Promise.all([launchChromium(), built]);
      browser = b;
      script = r.outputFiles[0]?.text ?? '';
      const context = await browser.newContext();
      // tsx compiles the page functions below with esbuild's keepNames, which calls a `__name` helper.
      await context.addInitScript('globalThis.__name = (fn) => fn;');
      context.setDefaultTimeout(30_000);
      page = await context.newPage();
    });
    after(async () => {
      await page?.close().catch(() => {});
      for (const s of servers) await s.close();
      await withDeadline(browser?.close() ?? Promise.resolve(), 15_000, 'Chromium to close');
    });

    /** An HTTP server serving the harness page and the bundle; `attach` adds the guarded transport. */
    async function serve(
      attach: (http: HttpServer, audit: AuditEvent[]) => () => Promise<void>,
    ): Promise<{ url: string; audit: AuditEvent[] }> {
      const audit: AuditEvent[] = [];
      const http = createServer((req: IncomingMessage, res: ServerResponse) => {
        if (req.url === '/') {
          res.writeHead(200, { 'Content-Type': 'text/html' });
          res.end('<!doctype html><title>harness</title><script src="/bundle.js"></script>');
        } else if (req.url === '/bundle.js') {
          res.writeHead(200, { 'Content-Type': 'text/javascript' });
          res.end(script);
        }
      });
      const detach = attach(http, audit);
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      servers.push({
        async close() {
          // The page may still hold connections (a long poll, keep-alive): cut them first, so that closing the
          // servers (Socket.IO's io.close waits for the HTTP server) cannot wait on the browser.
          http.closeAllConnections();
          await withDeadline(detach(), 10_000, 'the guarded transport to close');
          http.closeAllConnections();
          await withDeadline(new Promise<void>((resolve) => http.close(() => resolve())), 10_000, 'the HTTP server to close');
        },
      });
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      await page.goto(url);
      return { url, audit };
    }

    function socketIo(options: Partial<SocketIoGuardOptions>) {
      return serve((http, audit) => {
        const store = createMemoryStore();
        const io = new Server(http);
        const guard = createSocketIoGuard(io, { strategies: tokens, store, hooks: { onAudit: (e) => audit.push(e) }, ...options });
        return async () => {
          await guard.close();
          await new Promise<void>((resolve) => io.close(() => resolve()));
          await store.close();
        };
      });
    }

    function ws(options: Partial<WsGuardOptions>) {
      return serve((http, audit) => {
        const store = createMemoryStore();
        const guard = createWsGuard({ strategies: tokens, store, path: '/ws', hooks: { onAudit: (e) => audit.push(e) }, ...options });
        guard.attach(http);
        guard.on('connection', (socket) => socket.on('message', (d) => socket.send(`echo:${String(d)}`)));
        return async () => {
          await guard.close();
          await store.close();
        };
      });
    }

    const step = <R>(name: string, fn: () => Promise<R>): Promise<R> => withScreenshots(`client-${name}`, () => [page], fn);

    // A same-origin GET carries no Origin header, and a cross-origin refusal without CORS headers
    // is status 0 to the page: the TLS refusal is the pre-handshake refusal a page can read.
    it('Socket.IO (polling first): gives up on a refusal before the handshake (TLS) with the exact code', () =>
      step('tls', async () => {
        const { url } = await socketIo({ requireTls: true });
        const outcome = await page.evaluate(async (origin) => {
          const p = (globalThis as unknown as { portcullis: typeof import('../../src/client/index.js') & { io: unknown } }).portcullis;
          const provider = p.createCredentialProvider({ getCredentials: () => ({ credentials: { token: 'good' } }) });
          const g = p.connectSocketIo(p.io as never, origin, { provider, reconnectionDelay: 50, reconnectionDelayMax: 100 });
          return g.ready().then(
            () => ({ ok: true as const }),
            (e: { code: string; status?: number }) => ({ code: e.code, status: e.status, state: g.state, active: g.socket.active }),
          );
        }, url);
        assert.deepEqual(outcome, { code: 'tls_required', status: 403, state: 'failed', active: false });
      }));

    it('Socket.IO (polling first): waits as long as Retry-After asks after a 429', () =>
      step('retry-after', async () => {
        const { url } = await socketIo({ rateLimits: { handshakesPerIp: { max: 1, windowMs: 60_000 } } });
        const retry = await page.evaluate(async (origin) => {
          const p = (globalThis as unknown as { portcullis: typeof import('../../src/client/index.js') & { io: unknown } }).portcullis;
          const provider = p.createCredentialProvider({ getCredentials: () => ({ credentials: { token: 'good' } }) });
          const first = p.connectSocketIo(p.io as never, origin, { provider, forceNew: true });
          await first.ready();
          // A scheduler whose timers never fire: the test reads the delay the glue chose.
          const scheduler = { now: () => Date.now(), setTimer: () => 0, clearTimer: () => undefined };
          const g = p.connectSocketIo(p.io as never, origin, {
            provider,
            forceNew: true,
            scheduler,
            backoff: { initialMs: 10, jitter: 0 },
            reconnectionDelay: 50,
            reconnectionDelayMax: 100,
          });
          const info = await new Promise<Parameters<Parameters<typeof g.on<'retry'>>[1]>[0]>((resolve) => g.on('retry', resolve));
          return {
            code: info.error.code,
            status: info.error.status,
            retryAfter: info.error.retryAfter,
            delayMs: info.delayMs,
            active: g.socket.active,
          };
        }, url);
        assert.equal(retry.code, 'rate_limited');
        assert.equal(retry.status, 429);
        assert.ok((retry.retryAfter ?? 0) >= 1, `Retry-After ${retry.retryAfter}`);
        assert.ok(retry.delayMs >= (retry.retryAfter ?? 0) * 1000, `waits ${retry.delayMs} ms`);
        assert.equal(retry.active, false, 'socket.io-client does not retry on its own meanwhile');
      }));

    it('WebSocket: a refused upgrade is only connection_lost in a browser; a refusal after the upgrade keeps its code', () =>
      step('websocket', async () => {
        const refused = await ws({ origins: ['http://elsewhere.example'] });
        const upgrade = await page.evaluate(
          async (wsUrl) => {
            const p = (globalThis as unknown as { portcullis: typeof import('../../src/client/index.js') }).portcullis;
            const provider = p.createCredentialProvider({ getCredentials: () => ({ credentials: { token: 'good' } }) });
            const c = p.createWebSocketClient({ url: wsUrl, provider, maxRetries: 1, backoff: { initialMs: 10 } });
            return c.ready().then(
              () => ({ ok: true as const }),
              (e: { code: string; status?: number }) => ({ code: e.code, status: e.status ?? null }),
            );
          },
          `${refused.url.replace('http', 'ws')}/ws`,
        );
        assert.deepEqual(upgrade, { code: 'connection_lost', status: null }, 'the browser hides the 403');
        assert.ok(refused.audit.some((e) => e.type === 'rejected' && e.code === 'origin_not_allowed'));

        const open = await ws({});
        const outcome = await page.evaluate(
          async (wsUrl) => {
            const p = (globalThis as unknown as { portcullis: typeof import('../../src/client/index.js') }).portcullis;
            const bad = p.createCredentialProvider({ getCredentials: () => ({ credentials: { token: 'bad' } }) });
            const refusedClient = p.createWebSocketClient({ url: wsUrl, provider: bad, maxRetries: 0 });
            const refusal = await refusedClient.ready().then(
              () => 'admitted',
              (e: { code: string; closeCode?: number }) => `${e.code} ${e.closeCode}`,
            );
            const good = p.createCredentialProvider({ getCredentials: () => ({ credentials: { token: 'good' } }) });
            const c = p.createWebSocketClient({ url: wsUrl, provider: good });
            await c.ready();
            const echo = new Promise((resolve) => c.on('message', resolve));
            c.send('ping');
            const reply = await echo;
            c.close();
            return { refusal, reply };
          },
          `${open.url.replace('http', 'ws')}/ws`,
        );
        assert.deepEqual(outcome, { refusal: 'invalid_credentials 4401', reply: 'echo:ping' });
      }));
  });
});
