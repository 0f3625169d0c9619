/**
 * Real `ws` servers and clients on loopback for tests, raw TCP upgrades for the
 * malformed cases, and a clock that counts its live timers.
 */
import { createServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import { type ClientOptions, WebSocket } from 'ws';
import { createWsGuard, type WsGuard, type WsGuardOptions } from '../../src/adapters/ws.js';
import { waitForEvent } from './wait.js';

export interface WsFixture {
  readonly http: HttpServer;
  readonly port: number;
  /** `ws://127.0.0.1:<port><path>` */
  url(path?: string): string;
  /** Opens a client (closed by `close()`). */
  client(path?: string, protocols?: string | string[], options?: ClientOptions): WebSocket;
  /** Closes every client, the guards given to `track`, and the HTTP server. */
  close(): Promise<void>;
  /** Closes `guard` with the fixture. */
  track(guard: WsGuard): WsGuard;
}

/** Starts an HTTP server on 127.0.0.1, port 0 (no upgrade handler yet). */
export async function startHttp(): Promise<WsFixture> {
  const http = createServer((_req, res) => {
    res.writeHead(426).end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const clients: WebSocket[] = [];
  const guards: WsGuard[] = [];
  const url = (path = '/'): string => `ws://127.0.0.1:${port}${path}`;
  return {
    http,
    port,
    url,
    client(path = '/', protocols, options) {
      const ws = new WebSocket(url(path), protocols, options);
      ws.on('error', () => {}); // refusals are asserted through 'unexpected-response' / 'close'
      clients.push(ws);
      return ws;
    },
    track(guard) {
      guards.push(guard);
      return guard;
    },
    async close() {
      for (const ws of clients) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      for (const guard of guards) await guard.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Starts an HTTP server with one guard attached. */
export async function startWs(options: WsGuardOptions): Promise<WsFixture & { guard: WsGuard }> {
  const fx = await startHttp();
  const guard = fx.track(createWsGuard(options));
  guard.attach(fx.http);
  return Object.assign(fx, { guard });
}

/** Resolves once the client is open; rejects with the HTTP status when the upgrade was refused. */
export function opened(ws: WebSocket, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for open')), timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused with ${res.statusCode}`));
    });
    ws.once('close', (code: number) => {
      clearTimeout(timer);
      reject(new Error(`closed with ${code} before open`));
    });
  });
}

/** A refused upgrade: the status, the headers and the parsed JSON body. */
export interface Refusal {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: { message?: string; code?: string; retryable?: boolean; retryAfter?: number };
}

/** Resolves with the HTTP refusal of an upgrade; fails if the socket opens. */
export function refusedUpgrade(ws: WebSocket, timeoutMs = 2000): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a refusal')), timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      reject(new Error('the upgrade succeeded (101) where a refusal was expected'));
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        clearTimeout(timer);
        let parsed: Refusal['body'] = {};
        try {
          parsed = JSON.parse(body) as Refusal['body'];
        } catch {
          parsed = { message: body };
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
  });
}

/** A server frame `{ type, payload }`. */
export interface Frame {
  readonly type: string;
  readonly payload?: Record<string, unknown>;
}

/** Resolves with the next text message of `ws`, parsed as JSON. */
export async function nextFrame(ws: WebSocket, timeoutMs = 2000): Promise<Frame> {
  const [data] = await waitForEvent<[Buffer, boolean]>(ws, 'message', timeoutMs);
  return JSON.parse(data.toString('utf8')) as Frame;
}

/** Resolves with the close code and reason of `ws`. */
export async function closed(ws: WebSocket, timeoutMs = 2000): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('already closed');
  const [code, reason] = await waitForEvent<[number, Buffer]>(ws, 'close', timeoutMs);
  return { code, reason: reason.toString('utf8') };
}

/** Sends an `authenticate` frame. */
export function authenticate(ws: WebSocket, payload: unknown): void {
  ws.send(JSON.stringify({ type: 'authenticate', payload }));
}

/** Writes `request` on a raw TCP connection and resolves with everything the server sent before closing. */
export function rawRequest(port: number, request: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out; received so far: ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(request);
  });
}

/** A syntactically valid upgrade request; `headers` replace or (with `undefined`) remove defaults. */
export function upgradeRequest(path: string, headers: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    Host: '127.0.0.1',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = [`GET ${path} HTTP/1.1`];
  for (const [name, value] of Object.entries(all)) if (value !== undefined) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
