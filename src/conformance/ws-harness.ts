/**
 * The `ws` implementation of the behaviour harness: a real HTTP server on 127.0.0.1
 * (port 0) with `createWsGuard(...).attach(http)`, and real `ws` clients.
 *
 * - handshake mode is the guard's `upgrade` mode: `token` travels as a bearer entry of
 *   `Sec-WebSocket-Protocol` (next to the application subprotocol, which the server must
 *   answer), `ticket` as `?ticket=` (PROTOCOL.md §4.3 #8); the verdict is the
 *   `authenticated` frame (§4.3 #1) or the HTTP refusal (status + JSON body).
 * - message mode: `authenticate` frames; refusals are close frames (close code + string code).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { BEARER_PROTOCOL_PREFIX, createWsGuard } from '../adapters/ws.js';
import {
  type ConnectOptions,
  type Harness,
  httpRefusal,
  RecordingClient,
  refusal,
  Signal,
  type StartOptions,
  type TestClient,
  type TestServer,
} from './harness.js';

const SUBPROTOCOL = 'portcullis.behaviour';
const APP_TYPE = 'app';
const BROADCAST_TYPE = 'broadcast';

interface Frame {
  type?: unknown;
  payload?: unknown;
}

function parseFrame(text: string): Frame {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as Frame) : {};
  } catch {
    return {};
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      body += chunk;
    });
    res.on('end', () => resolve(body));
    res.on('error', () => resolve(body));
  });
}

let pingSeq = 0;

/** The reference `ws` client of the kit. */
export class WsTestClient extends RecordingClient {
  readonly #ws: WebSocket;
  readonly #queue: string[] = [];

  constructor(signal: Signal, base: string, options: ConnectOptions) {
    super(signal);
    const url = new URL(base);
    const { token, ticket } = options.credentials ?? {};
    if (ticket !== undefined) url.searchParams.set('ticket', ticket);
    const protocols = token === undefined ? undefined : [SUBPROTOCOL, `${BEARER_PROTOCOL_PREFIX}${token}`];
    const ws = new WebSocket(url, protocols, options.headers === undefined ? {} : { headers: { ...options.headers } });
    this.#ws = ws;
    ws.on('error', () => {}); // every outcome is read from 'unexpected-response' and 'close'
    ws.on('open', () => {
      this.recordOpen();
      for (const text of this.#queue.splice(0)) ws.send(text);
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      void readBody(res).then((body) => {
        this.recordText(body);
        this.recordVerdict(httpRefusal(res.statusCode ?? 0, body));
        ws.terminate();
      });
    });
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      this.recordText(text);
      const frame = parseFrame(text);
      const payload = (typeof frame.payload === 'object' && frame.payload !== null ? frame.payload : {}) as Record<string, unknown>;
      if (frame.type === 'authenticated') this.recordVerdict({ ok: true, payload });
      else if (frame.type === 'expiring') this.recordExpiring(payload.expiresAt as number);
      else if (frame.type === 'refresh_failed') this.recordRefreshFailed(String(payload.code));
      else if (frame.type === BROADCAST_TYPE) this.recordBroadcast();
    });
    ws.on('pong', (data: Buffer) => this.recordFlushed(data.toString('utf8')));
    ws.on('close', (code: number, reason: Buffer) => {
      const text = reason.toString('utf8');
      this.recordText(`close ${code} ${text}`);
      // Refusals are 4xxx closes with the string code as the reason; 1001 is a shutdown (§4.3 #5).
      if (code >= 4000) this.recordVerdict(refusal(text, { closeCode: code }));
      this.recordClosed();
    });
  }

  #send(frame: { type: string; payload: unknown }): void {
    const text = JSON.stringify(frame);
    if (this.#ws.readyState === WebSocket.CONNECTING) this.#queue.push(text);
    else if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }

  authenticate(credentials: unknown): void {
    this.#send({ type: 'authenticate', payload: credentials });
  }

  sendApp(data: string): void {
    this.#send({ type: APP_TYPE, payload: data });
  }

  async flush(): Promise<void> {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    // A ping is read after every frame sent before it; its pong follows every frame the server sent before.
    const token = String(++pingSeq);
    this.#ws.ping(token);
    await this.untilFlushed(token);
  }

  close(): void {
    if (this.#ws.readyState === WebSocket.CONNECTING || this.#ws.readyState === WebSocket.OPEN) this.#ws.close();
  }

  /** Drops the TCP connection (cleanup). */
  terminate(): void {
    if (this.#ws.readyState !== WebSocket.CLOSED) this.#ws.terminate();
  }
}

/** Makes the client of one connection: `signal` must be notified by it (see {@link RecordingClient}). */
export type WsClientFactory = (
  signal: Signal,
  url: string,
  options: ConnectOptions,
  subprotocol: string,
) => TestClient & { terminate?(): void };

const referenceClient: WsClientFactory = (signal, url, options) => new WsTestClient(signal, url, options);

/**
 * The `ws` harness: a reference portcullis `ws` server on 127.0.0.1, and `client` for each
 * connection (the kit's reference client by default; pass your own to check it).
 */
export function createWsHarness(options: { client?: WsClientFactory } = {}): Harness {
  const makeClient = options.client ?? referenceClient;
  return {
    name: 'ws',
    quirks: { afterPendingAppMessage: 'credentials_required' },
    knownBugs: [],
    async start(options: StartOptions): Promise<TestServer> {
      const { mode, origins, ...guardOptions } = options;
      const http = createServer((_req, res) => {
        res.writeHead(426).end();
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      const { port } = http.address() as AddressInfo;
      const base = `ws://127.0.0.1:${port}/`;
      const guard = createWsGuard({
        ...guardOptions,
        mode: mode === 'handshake' ? 'upgrade' : 'message',
        subprotocol: SUBPROTOCOL,
        ...(origins === undefined ? {} : { origins }),
      });
      guard.attach(http);
      const signal = new Signal();
      const appMessages: string[] = [];
      guard.on('connection', (ws) => {
        ws.on('message', (data: Buffer) => {
          const frame = parseFrame(data.toString('utf8'));
          if (frame.type !== APP_TYPE) return;
          appMessages.push(String(frame.payload));
          signal.notify();
        });
      });
      const clients: (TestClient & { terminate?(): void })[] = [];
      let closing: Promise<void> | undefined;
      return {
        url: base,
        namespace: '/',
        connect(connectOptions = {}) {
          const client = makeClient(signal, base, connectOptions, SUBPROTOCOL);
          clients.push(client);
          return client;
        },
        broadcast(seq) {
          guard.hub.broadcast({ type: BROADCAST_TYPE, payload: seq });
        },
        appMessages,
        untilAppMessages(n) {
          return signal.untilTrue(() => appMessages.length >= n, `${n} application messages`);
        },
        stats: () => guard.guard.stats,
        revoke: (target) => guard.revoke(target),
        close() {
          closing ??= (async () => {
            await guard.close();
            for (const client of clients) (client.terminate ?? client.close).call(client);
            http.closeAllConnections();
            await new Promise<void>((resolve) => http.close(() => resolve()));
          })();
          return closing;
        },
      };
    },
  };
}

/** The `ws` harness with the reference client. */
export const wsHarness: Harness = createWsHarness();
