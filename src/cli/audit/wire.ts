/**
 * The audit's two probe clients, written on the `ws` package and plain HTTP so that the
 * audit needs no Socket.IO client at runtime: a raw Engine.IO v4 / Socket.IO v5 session
 * over one WebSocket (so a probe can send what `socket.io-client` never would: CONNECT
 * retries on one connection, a 1 MB auth payload), and a plain `ws` session. Every
 * session is bounded: an open timeout, a cap on the bytes received, and a `close()`
 * that always ends it.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { WebSocket as WsSocket } from 'ws';

/** The most a probe reads from one connection (frames and refusal bodies), in bytes. */
export const MAX_RECEIVED_BYTES = 256 * 1024;

/** What the server answered to an upgrade request. */
export type OpenResult<T> =
  | { readonly ok: true; readonly session: T; readonly protocol: string; readonly headers: IncomingHttpHeaders }
  | {
      readonly ok: false;
      /** HTTP status of a refused upgrade; 0 when the connection failed or timed out. */
      readonly status: number;
      readonly headers: IncomingHttpHeaders;
      readonly body: string;
      readonly error?: string;
    };

export interface OpenOptions {
  readonly origin?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly protocols?: readonly string[] | undefined;
  readonly timeoutMs: number;
}

type WsModule = typeof import('ws');
let wsModule: Promise<WsModule> | undefined;

/** Loads `ws` (an optional peer of portcullis, required by the audit). */
export function loadWs(): Promise<WsModule> {
  wsModule ??= import('ws').catch(() => {
    throw new Error('the audit needs the `ws` package: npm install --save-dev ws');
  });
  return wsModule;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (body.length < 4096) body += chunk;
    });
    res.on('end', () => resolve(body.slice(0, 4096)));
    res.on('error', () => resolve(body));
    res.on('close', () => resolve(body));
  });
}

/** Opens a WebSocket, resolving with the socket or with how the upgrade was refused. */
export async function openSocket(url: string, options: OpenOptions): Promise<OpenResult<WsSocket>> {
  const { WebSocket } = await loadWs();
  return new Promise((resolve) => {
    const early: [Buffer, boolean][] = [];
    const headers: Record<string, string> = { ...options.headers };
    if (options.origin !== undefined) headers.origin = options.origin;
    const ws = new WebSocket(url, options.protocols === undefined ? [] : [...options.protocols], {
      headers,
      maxPayload: MAX_RECEIVED_BYTES,
      handshakeTimeout: options.timeoutMs,
      followRedirects: false,
    });
    let settled = false;
    const settle = (result: OpenResult<WsSocket>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      settle({ ok: false, status: 0, headers: {}, body: '', error: `no answer within ${options.timeoutMs} ms` });
    }, options.timeoutMs);
    ws.on('error', (err: Error) => settle({ ok: false, status: 0, headers: {}, body: '', error: err.message }));
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      void readBody(res).then((body) => {
        settle({ ok: false, status: res.statusCode ?? 0, headers: res.headers, body });
        ws.terminate();
      });
    });
    ws.on('upgrade', (res: IncomingMessage) => {
      ws.once('open', () => {
        // Frames that arrive before a session takes the socket over are kept for it.
        const keep = (data: Buffer, isBinary: boolean): void => void early.push([data, isBinary]);
        ws.on('message', keep);
        earlyFrames.set(ws, { frames: early, stop: () => ws.off('message', keep) });
        settle({ ok: true, session: ws, protocol: ws.protocol, headers: res.headers });
      });
    });
  });
}

const earlyFrames = new WeakMap<WsSocket, { frames: [Buffer, boolean][]; stop(): void }>();

/** Plain HTTP POST of a short text body with a deadline (closes an Engine.IO polling session). */
export async function httpPost(url: string, body: string, timeoutMs: number): Promise<number | undefined> {
  const lib = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve) => {
    const req = lib.request(url, { method: 'POST', timeout: timeoutMs, headers: { 'content-type': 'text/plain;charset=UTF-8' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.on('error', () => resolve(undefined));
    req.end(body);
  });
}

/** Plain HTTP GET with a deadline and a body cap (the Engine.IO polling handshake, for detection). */
export async function httpGet(
  url: string,
  timeoutMs: number,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string } | undefined> {
  const lib = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve) => {
    const req = lib.get(url, { timeout: timeoutMs }, (res) => {
      void readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.on('error', () => resolve(undefined));
  });
}

/** How a session ended, once it has. */
export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** What every session shares: received bytes, close state, a wake-up for waiters. */
export abstract class Session {
  protected readonly ws: WsSocket;
  #received = 0;
  #overflowed = false;
  #closed: Closed | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(ws: WsSocket) {
    this.ws = ws;
    const onMessage = (data: Buffer, isBinary: boolean): void => {
      this.#received += data.length;
      if (this.#received > MAX_RECEIVED_BYTES) {
        this.#overflowed = true;
        ws.terminate();
        return;
      }
      if (!isBinary) this.onText(data.toString('utf8'));
      this.notify();
    };
    const early = earlyFrames.get(ws);
    earlyFrames.delete(ws);
    early?.stop();
    // Subclass fields are initialised after this constructor: replay on the next microtask.
    queueMicrotask(() => {
      for (const [data, isBinary] of early?.frames ?? []) onMessage(data, isBinary);
      ws.on('message', onMessage);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.#closed = { code, reason: reason.toString('utf8').slice(0, 200) };
      this.notify();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // `ws` enforces the client's `maxPayload` itself (close 1009 from this side).
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.#overflowed = true;
    });
  }

  protected abstract onText(text: string): void;

  get closed(): Closed | undefined {
    return this.#closed;
  }

  /** True when the audit cut the connection because the server sent more than {@link MAX_RECEIVED_BYTES}. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  protected notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves with the first defined value of `probe`, or `undefined` after `timeoutMs` or once closed. */
  waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const first = probe();
    if (first !== undefined || this.#closed !== undefined) return Promise.resolve(first);
    return new Promise((resolve) => {
      const done = (value: T | undefined): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(value);
      };
      const check = (): void => {
        const value = probe();
        if (value !== undefined || this.#closed !== undefined) done(value);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Resolves once closed (with how), or `undefined` after `timeoutMs`. */
  untilClosed(timeoutMs: number): Promise<Closed | undefined> {
    return this.waitFor(() => this.#closed, timeoutMs);
  }

  protected sendText(text: string): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  close(): void {
    if (this.ws.readyState !== this.ws.CLOSED) this.ws.terminate();
  }
}
