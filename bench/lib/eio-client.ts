/**
 * A raw Engine.IO v4 / Socket.IO v5 client over `ws`, for load: no
 * `socket.io-client`, no reconnection, no timers but one deadline per attempt,
 * and no JSON parsing on the hot path (packets are recognised by prefix).
 *
 * Wire (websocket transport, text frames):
 * - server `0{"sid":…,"pingInterval":…}` (Engine.IO OPEN), `2` ping → client `3` pong;
 * - client `40` or `40{auth}` (Socket.IO CONNECT to `/`), server `40{"sid":…}` or `44{…}` (CONNECT_ERROR);
 * - events are `42["name",…]`.
 */
import { WebSocket } from 'ws';

/** How the client authenticates. */
export type SioFlow =
  /** CONNECT carries `auth`; done at `40{sid}`. */
  | 'handshake'
  /** CONNECT without auth, then `42["authentication",auth]`; done at `authenticated`. */
  | 'message'
  /** CONNECT without auth and nothing else: a socket left pending (or a vanilla idle socket). */
  | 'connect-only';

export interface SioAttempt {
  /** `http://127.0.0.1:port` or `ws://…`; the path and query are added. */
  readonly base: string;
  readonly flow: SioFlow;
  /** Credentials: the CONNECT payload (handshake) or the `authentication` event payload (message). */
  readonly auth?: unknown;
  /** Source address on loopback (127.0.0.x), to spread per-IP limits and ephemeral ports. */
  readonly localAddress?: string;
  /** Deadline of the whole attempt, in ms. @default 10000 */
  readonly timeoutMs?: number;
  /** Event-name prefix counted as a hit once connected, e.g. `42["news"`. */
  readonly watch?: string;
}

/** The outcome of an attempt. */
export type SioOutcome = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly code: string; readonly ms: number };

const AUTH_REQUIRED = '42["auth_required"';
const AUTHENTICATED = '42["authenticated"';
const UNAUTHORIZED = '42["unauthorized"';

function codeOf(packet: string, fallback: string): string {
  const m = /"code":"([a-z_]+)"/.exec(packet);
  return m?.[1] ?? fallback;
}

/** One raw Socket.IO connection. */
export class SioClient {
  readonly ws: WebSocket;
  /** `42` packets received after the attempt completed (excluding `auth_required`). */
  events = 0;
  /** Of those, packets starting with the watched prefix. */
  hits = 0;
  /** `42` packets received while pending, before any verdict (a leak if not `auth_required`). */
  leaked = 0;
  /** Set when the server sent `unauthorized` after the attempt completed (revocation, expiry). */
  onUnauthorized: ((packet: string) => void) | undefined = undefined;
  /** Resolves once the transport closed. */
  readonly closed: Promise<void>;
  readonly #flow: SioFlow;
  readonly #authText: string | undefined;
  readonly #watch: string | undefined;
  #phase: 'open' | 'connect' | 'auth' | 'ready' | 'done' = 'open';
  #resolve: ((outcome: SioOutcome) => void) | undefined;
  readonly #started: number;
  readonly #timer: NodeJS.Timeout;

  /** Starts an attempt; `outcome` settles once (never rejects). */
  readonly outcome: Promise<SioOutcome>;

  constructor(attempt: SioAttempt) {
    this.#flow = attempt.flow;
    this.#watch = attempt.watch;
    this.#authText = attempt.auth === undefined ? undefined : JSON.stringify(attempt.auth);
    this.#started = performance.now();
    this.outcome = new Promise<SioOutcome>((resolve) => {
      this.#resolve = resolve;
    });
    const url = `${attempt.base.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const options =
      attempt.localAddress === undefined ? { perMessageDeflate: false } : { perMessageDeflate: false, localAddress: attempt.localAddress };
    this.ws = new WebSocket(url, options);
    this.closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.#timer = setTimeout(() => this.#finish(false, 'timeout'), attempt.timeoutMs ?? 10_000);
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.#onPacket(data.toString('utf8'));
    });
    this.ws.on('unexpected-response', (req, res) => {
      this.#finish(false, `http_${res.statusCode ?? 0}`);
      res.resume();
      req.destroy();
    });
    this.ws.on('error', () => this.#finish(false, 'socket_error'));
    this.ws.on('close', () => this.#finish(false, 'closed'));
  }

  /** Opens a connection and waits for its outcome. */
  static async open(attempt: SioAttempt): Promise<{ client: SioClient; outcome: SioOutcome }> {
    const client = new SioClient(attempt);
    return { client, outcome: await client.outcome };
  }

  /** Sends a raw Socket.IO event. */
  emit(name: string, data: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(`42${JSON.stringify([name, data])}`);
  }

  /** Drops the TCP connection at once (no close handshake). */
  terminate(): void {
    this.#finish(false, 'terminated');
    this.ws.terminate();
  }

  #finish(ok: boolean, code: string): void {
    if (this.#phase === 'done' || this.#phase === 'ready') {
      if (!ok && this.#phase === 'ready') this.#phase = 'done';
      return;
    }
    clearTimeout(this.#timer);
    this.#phase = ok ? 'ready' : 'done';
    const ms = performance.now() - this.#started;
    this.#resolve?.(ok ? { ok: true, ms } : { ok: false, code, ms });
    this.#resolve = undefined;
  }

  #onPacket(p: string): void {
    const c0 = p.charCodeAt(0);
    if (c0 === 50 /* '2' ping */ && p.length === 1) {
      this.ws.send('3');
      return;
    }
    switch (this.#phase) {
      case 'open':
        if (c0 === 48 /* '0' */) {
          this.#phase = 'connect';
          this.ws.send(this.#flow === 'handshake' && this.#authText !== undefined ? `40${this.#authText}` : '40');
        }
        return;
      case 'connect':
        if (p.startsWith('40')) {
          if (this.#flow === 'message') {
            this.#phase = 'auth';
            this.ws.send(`42["authentication",${this.#authText ?? '{}'}]`);
          } else {
            this.#finish(true, 'ok');
          }
        } else if (p.startsWith('44')) {
          this.#finish(false, codeOf(p, 'connect_error'));
        }
        return;
      case 'auth':
        if (p.startsWith(AUTHENTICATED)) this.#finish(true, 'ok');
        else if (p.startsWith(UNAUTHORIZED)) this.#finish(false, codeOf(p, 'unauthorized'));
        else if (p.startsWith('42') && !p.startsWith(AUTH_REQUIRED)) this.leaked++;
        return;
      case 'ready':
        if (!p.startsWith('42')) return;
        if (p.startsWith(AUTH_REQUIRED)) return;
        if (p.startsWith(UNAUTHORIZED)) {
          this.onUnauthorized?.(p);
          return;
        }
        if (this.#flow === 'connect-only') this.leaked++;
        this.events++;
        if (this.#watch !== undefined && p.startsWith(this.#watch)) this.hits++;
        return;
      default:
        return;
    }
  }
}
