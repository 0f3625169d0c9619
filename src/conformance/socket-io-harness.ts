/**
 * The Socket.IO implementation of the behaviour harness: a real `socket.io` server on
 * 127.0.0.1 (port 0) guarded by `createSocketIoGuard`, and real `socket.io-client`
 * clients (WebSocket transport only, no reconnection).
 *
 * - handshake mode: the CONNECT packet's `auth`; the `connect` event is the verdict.
 * - message mode: the `authentication` / `authenticated` / `unauthorized` events.
 * - A refusal before the Engine.IO handshake is an HTTP response whose JSON body
 *   `socket.io-client` drops (PROTOCOL.md §3.4); the client's WebSocket transport here
 *   reads that body, so the verdict carries its code as on `ws`.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { type Socket as ClientSocket, io as connectClient, NodeWebSocket } from 'socket.io-client';
import { createSocketIoGuard } from '../adapters/socket.io.js';
import {
  type ConnectOptions,
  type Harness,
  httpRefusal,
  type Mode,
  RecordingClient,
  refusal,
  Signal,
  type StartOptions,
  type TestClient,
  type TestServer,
  type Verdict,
} from './harness.js';

const APP_EVENT = 'app';
const BROADCAST_EVENT = 'broadcast';
const FLUSH_EVENT = 'harness:flush';

/** What the harness knows of one server-side socket. */
export interface ServerEntry {
  readonly socket: Socket;
  /** Event packets that reached the socket's dispatch (the guard's gate included). */
  received: number;
}

/** What the server side of the harness shares with its clients (the reference client's `flush` reads it). */
export interface ServerSide {
  readonly signal: Signal;
  readonly sockets: Map<string, ServerEntry>;
}

interface EventPacket {
  data?: unknown[];
}
type Dispatch = { onevent: (packet: EventPacket) => void };

/** The parts of a `ws` client socket the refusal reader needs. */
interface RawClientSocket {
  once(event: 'unexpected-response', listener: (req: unknown, res: IncomingMessage) => void): unknown;
  terminate(): void;
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

/** The Node WebSocket transport of `socket.io-client`, reading the body of a refused upgrade first. */
function refusalReadingTransport(onRefusal: (verdict: Verdict) => void): typeof NodeWebSocket {
  return class RefusalReadingWebSocket extends NodeWebSocket {
    override createSocket(uri: string, protocols: string | string[] | undefined, opts: Record<string, unknown>): unknown {
      const socket = super.createSocket(uri, protocols, opts) as RawClientSocket;
      socket.once('unexpected-response', (_req, res) => {
        void readBody(res).then((body) => {
          onRefusal(httpRefusal(res.statusCode ?? 0, body));
          socket.terminate(); // surfaces as the usual transport error (`connect_error`)
        });
      });
      return socket;
    }
  };
}

let flushSeq = 0;

/** The reference Socket.IO client of the kit (`socket.io-client`, WebSocket transport only). */
export class IoTestClient extends RecordingClient {
  readonly #socket: ClientSocket;
  readonly #server: ServerSide;
  #sent = 0;
  #httpRefusal: Verdict | undefined;

  constructor(server: ServerSide, url: string, mode: Mode, options: ConnectOptions) {
    super(server.signal);
    this.#server = server;
    const transport = refusalReadingTransport((verdict) => {
      this.#httpRefusal = verdict;
      this.recordText(JSON.stringify(verdict));
    });
    const s = connectClient(url, {
      transports: [transport],
      forceNew: true,
      reconnection: false,
      auth: { ...options.credentials },
      ...(options.headers === undefined ? {} : { extraHeaders: { ...options.headers } }),
    });
    this.#socket = s;
    s.onAny((event: string, ...args: unknown[]) => this.recordText(JSON.stringify([event, ...args])));
    s.on('connect', () => {
      this.recordOpen();
      if (mode === 'handshake') this.recordVerdict({ ok: true, payload: undefined });
    });
    s.on('connect_error', (err: Error & { data?: { code?: unknown } }) => {
      this.recordText(`${err.message} ${JSON.stringify(err.data ?? null)}`);
      const code = err.data?.code;
      this.recordVerdict(
        typeof code === 'string' ? refusal(code, { message: err.message }) : (this.#httpRefusal ?? refusal('transport_error')),
      );
      this.recordClosed();
    });
    s.on('authenticated', (payload: Record<string, unknown>) => this.recordVerdict({ ok: true, payload }));
    s.on('unauthorized', (p: { code: string; message: string }) => this.recordVerdict(refusal(p.code, { message: p.message })));
    s.on('auth_expiring', (p: { expiresAt: number }) => this.recordExpiring(p.expiresAt));
    s.on('auth_refresh_failed', (p: { code: string }) => this.recordRefreshFailed(p.code));
    s.on(BROADCAST_EVENT, () => this.recordBroadcast());
    s.on(FLUSH_EVENT, (token: string) => this.recordFlushed(token));
    s.on('disconnect', () => this.recordClosed());
  }

  authenticate(credentials: unknown): void {
    this.#sent++;
    this.#socket.emit('authentication', credentials); // buffered by socket.io-client until connected
  }

  sendApp(data: string): void {
    this.#sent++;
    this.#socket.emit(APP_EVENT, data);
  }

  async flush(): Promise<void> {
    const id = this.#socket.id;
    if (!this.#socket.connected || id === undefined) return;
    const entry = (): ServerEntry | undefined => this.#server.sockets.get(id);
    // Every event this client sent has been dispatched (or the server let the socket go)...
    await this.signal.untilTrue(
      () => !this.#socket.connected || (entry()?.received ?? Number.POSITIVE_INFINITY) >= this.#sent,
      'the server to read every event',
    );
    const server = entry();
    if (server === undefined || !this.#socket.connected) return;
    // ...then a marker behind everything the server has sent so far.
    const token = String(++flushSeq);
    server.socket.emit(FLUSH_EVENT, token);
    await this.untilFlushed(token);
  }

  close(): void {
    this.#socket.disconnect();
    // Before CONNECT completed, socket.io-client emits nothing for a local disconnect.
    this.recordClosed();
  }
}

/** Makes the client of one connection: it must notify `server.signal` (see {@link RecordingClient}). */
export type IoClientFactory = (server: ServerSide, url: string, mode: Mode, options: ConnectOptions) => TestClient;

const referenceClient: IoClientFactory = (server, url, mode, options) => new IoTestClient(server, url, mode, options);

/**
 * The Socket.IO harness: a reference portcullis Socket.IO server on 127.0.0.1, and `client`
 * for each connection (the kit's reference client by default; pass your own to check it).
 */
export function createSocketIoHarness(options: { client?: IoClientFactory } = {}): Harness {
  const makeClient = options.client ?? referenceClient;
  return {
    name: 'socket.io',
    quirks: { afterPendingAppMessage: 'ok' },
    knownBugs: [],
    async start(options: StartOptions): Promise<TestServer> {
      const { mode, origins, ...guardOptions } = options;
      const http = createServer();
      const io = new Server(http);
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      const { port } = http.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}`;
      const guard = createSocketIoGuard(io, { ...guardOptions, mode, ...(origins === undefined ? {} : { origins }) });
      const side: ServerSide = { signal: new Signal(), sockets: new Map() };
      const appMessages: string[] = [];
      io.on('connection', (socket) => {
        const entry: ServerEntry = { socket, received: 0 };
        side.sockets.set(socket.id, entry);
        // Count every event packet before the guard's gate (installed on `connect`, before this).
        const dispatch = socket as unknown as Dispatch;
        const gated = dispatch.onevent;
        dispatch.onevent = function counted(this: Socket, packet: EventPacket): void {
          entry.received++;
          gated.call(this, packet);
          side.signal.notify();
        };
        socket.on(APP_EVENT, (data: string) => {
          appMessages.push(data);
          side.signal.notify();
        });
        socket.on('disconnect', () => {
          side.sockets.delete(socket.id);
          side.signal.notify();
        });
      });
      const clients: TestClient[] = [];
      let closing: Promise<void> | undefined;
      return {
        url,
        namespace: '/',
        connect(connectOptions = {}) {
          const client = makeClient(side, url, mode, connectOptions);
          clients.push(client);
          return client;
        },
        broadcast(seq) {
          io.emit(BROADCAST_EVENT, seq);
        },
        appMessages,
        untilAppMessages(n) {
          return side.signal.untilTrue(() => appMessages.length >= n, `${n} application messages`);
        },
        stats: () => guard.guard.stats,
        revoke: (target) => guard.revoke(target),
        close() {
          closing ??= (async () => {
            await new Promise<void>((resolve) => {
              io.close(() => resolve());
              http.closeAllConnections();
            });
            await guard.close();
            for (const client of clients) client.close();
          })();
          return closing;
        },
      };
    },
  };
}

/** The Socket.IO harness with the reference client. */
export const socketIoHarness: Harness = createSocketIoHarness();
