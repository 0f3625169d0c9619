/**
 * A raw `ws` client for the `ws` adapter's wire (PROTOCOL.md §4): credentials with
 * the upgrade (`?ticket=` or a `portcullis.bearer.<jwt>` subprotocol entry) and an
 * `authenticated` frame after the `101`, or an `authenticate` frame first.
 */
import { WebSocket } from 'ws';

/** The application subprotocol both `ws` servers answer with. */
export const BENCH_SUBPROTOCOL = 'bench.v1';
/** The bearer entry prefix of the `ws` adapter. */
export const BEARER_PREFIX = 'portcullis.bearer.';

export type WsFlow =
  /** Credentials travel with the upgrade; done at the `authenticated` frame. */
  | 'upgrade'
  /** `authenticate` frame after the `101`; done at `authenticated`. */
  | 'message'
  /** Upgrade and nothing else: a pending (or vanilla idle) socket; done at `open`. */
  | 'open-only';

export interface WsAttempt {
  /** `ws://127.0.0.1:port` */
  readonly base: string;
  readonly flow: WsFlow;
  /** `{ ticket }`, `{ token }` or HMAC credentials. */
  readonly auth?: Readonly<Record<string, unknown>>;
  readonly localAddress?: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
  /** Text prefix counted as a hit once authenticated. */
  readonly watch?: string;
}

export type WsOutcome = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly code: string; readonly ms: number };

const AUTHENTICATED = '{"type":"authenticated"';

export class WsClient {
  readonly ws: WebSocket;
  events = 0;
  hits = 0;
  /** Messages received by a socket that never authenticated. */
  leaked = 0;
  /** Close code the server sent, once closed. */
  closeCode = 0;
  readonly outcome: Promise<WsOutcome>;
  readonly closed: Promise<void>;
  readonly #flow: WsFlow;
  readonly #watch: string | undefined;
  readonly #started: number;
  readonly #timer: NodeJS.Timeout;
  #phase: 'connecting' | 'auth' | 'ready' | 'done' = 'connecting';
  #resolve: ((o: WsOutcome) => void) | undefined;

  constructor(attempt: WsAttempt) {
    this.#flow = attempt.flow;
    this.#watch = attempt.watch;
    this.#started = performance.now();
    this.outcome = new Promise<WsOutcome>((resolve) => {
      this.#resolve = resolve;
    });
    const auth = attempt.auth ?? {};
    let url = `${attempt.base}/`;
    const protocols = [BENCH_SUBPROTOCOL];
    if (attempt.flow === 'upgrade') {
      if (typeof auth.ticket === 'string') url += `?ticket=${encodeURIComponent(auth.ticket)}`;
      if (typeof auth.token === 'string') protocols.push(`${BEARER_PREFIX}${auth.token}`);
    }
    const options =
      attempt.localAddress === undefined ? { perMessageDeflate: false } : { perMessageDeflate: false, localAddress: attempt.localAddress };
    this.ws = new WebSocket(url, protocols, options);
    this.closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.#timer = setTimeout(() => this.#finish(false, 'timeout'), attempt.timeoutMs ?? 10_000);
    this.ws.on('open', () => {
      if (this.#flow === 'open-only') this.#finish(true, 'ok');
      else if (this.#flow === 'message') {
        this.#phase = 'auth';
        this.ws.send(JSON.stringify({ type: 'authenticate', payload: auth }));
      } else this.#phase = 'auth';
    });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(isBinary ? '' : data.toString('utf8')));
    this.ws.on('unexpected-response', (req, res) => {
      this.#finish(false, `http_${res.statusCode ?? 0}`);
      res.resume();
      req.destroy();
    });
    this.ws.on('error', () => this.#finish(false, 'socket_error'));
    this.ws.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.#finish(false, reason.length > 0 ? reason.toString('utf8') : `close_${code}`);
    });
  }

  static async open(attempt: WsAttempt): Promise<{ client: WsClient; outcome: WsOutcome }> {
    const client = new WsClient(attempt);
    return { client, outcome: await client.outcome };
  }

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

  #onMessage(text: string): void {
    if (this.#phase === 'auth') {
      if (text.startsWith(AUTHENTICATED)) this.#finish(true, 'ok');
      else this.leaked++;
      return;
    }
    if (this.#phase !== 'ready') return;
    if (this.#flow === 'open-only') this.leaked++;
    this.events++;
    if (this.#watch !== undefined && text.startsWith(this.#watch)) this.hits++;
  }
}
