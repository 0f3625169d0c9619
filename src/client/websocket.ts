/**
 * A WebSocket client for `portcullis/ws` servers (PROTOCOL.md §4): sends
 * credentials (first `authenticate` frame, `?ticket=` at the upgrade, or a bearer
 * entry in `Sec-WebSocket-Protocol`), refreshes them when the server says
 * `expiring`, and reconnects with exponential backoff, with fresh credentials
 * each time, after retryable refusals and abnormal closes only.
 *
 * The WebSocket implementation is injected (`ws` on Node 20) or looked up on
 * `globalThis` when the client is created (browsers, Node 22+); it is typed
 * structurally, so no DOM or Node types are needed.
 */
import type { AuthenticatedPayload } from '../protocol.js';
import { BEARER_PROTOCOL_PREFIX, FrameType, isProtocolToken } from '../protocol.js';
import type { CredentialProvider } from './credential-provider.js';
import { fromClose, fromHttpStatus, fromRefusal, needsNewCredentials, PortcullisClientError, toClientError } from './errors.js';
import { fromHttpResponse } from './http-refusal.js';
import type { BackoffOptions, Scheduler, SchedulerHandle } from './runtime.js';
import { createBackoff, createListeners, systemScheduler } from './runtime.js';

/** The parts of a WebSocket the client uses (browser `WebSocket`, `ws`, undici). */
export interface WebSocketLike {
  readonly readyState: number;
  /** The subprotocol the server selected (`''` when none). */
  readonly protocol: string;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  send(data: never): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** How credentials reach the server. */
export type CredentialsIn = 'message' | 'query-ticket' | 'bearer-protocol';

/** Options of {@link createWebSocketClient}. */
export interface WebSocketClientOptions<C extends object> {
  /** `ws://` or `wss://` URL of the guarded endpoint. */
  url: string;
  /** Where credentials come from (a `oneTime` provider for tickets). */
  provider: CredentialProvider<C>;
  /** The WebSocket implementation (`import { WebSocket } from 'ws'` on Node 20). @default globalThis.WebSocket */
  WebSocket?: WebSocketConstructor;
  /**
   * How credentials travel. `'message'`: an `authenticate` frame after the upgrade
   * (any credentials object). `'query-ticket'`: `credentials.ticket` in the URL query
   * (browsers can send nothing else with the upgrade). `'bearer-protocol'`:
   * `credentials.token` as a `portcullis.bearer.<token>` subprotocol entry (needs
   * `subprotocol`). Refreshes always use `authenticate` frames.
   * @default 'message'
   */
  credentialsIn?: CredentialsIn;
  /** The application subprotocol (the server's `subprotocol`), offered first. Required for `'bearer-protocol'`. */
  subprotocol?: string;
  /** Further subprotocols to offer. @default none */
  protocols?: readonly string[];
  /** Query parameter carrying the ticket (the server's `ticketParam`). @default 'ticket' */
  ticketParam?: string;
  /** Reconnect after retryable refusals and abnormal closes. @default true */
  reconnect?: boolean;
  /** Delays between reconnection attempts. @default { initialMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 } */
  backoff?: BackoffOptions;
  /** Consecutive failed attempts before giving up. @default Infinity */
  maxRetries?: number;
  /** Clock and timers for backoff. @default the host's `Date.now` / `setTimeout` */
  scheduler?: Scheduler;
}

/** What the server said with `authenticated` (the wire module's `AuthenticatedPayload`). */
export type WebSocketAuthenticated = AuthenticatedPayload;

/** A close of the underlying socket. */
export interface WebSocketCloseInfo {
  code: number;
  reason: string;
  /** Why, as a typed error; `undefined` for a normal close. */
  error: PortcullisClientError | undefined;
  /** True when a reconnection is scheduled. */
  willReconnect: boolean;
}

/** Events of a {@link WebSocketClient}. */
export interface WebSocketClientEvents {
  [event: string]: (...args: never[]) => void;
  /** Authenticated (after each connection), or refreshed (`refreshed`: same socket). */
  authenticated: (info: WebSocketAuthenticated, refreshed: boolean) => void;
  /** An application message (`event.data`: a string for text frames). */
  message: (data: unknown) => void;
  /** Every refusal or failure, fatal or not. */
  error: (error: PortcullisClientError) => void;
  /** The underlying socket closed. */
  close: (info: WebSocketCloseInfo) => void;
  /** A reconnection was scheduled. */
  reconnecting: (info: { attempt: number; delayMs: number; error: PortcullisClientError }) => void;
  /**
   * The client gave up (a do-not-retry refusal or close, `maxRetries`, credentials
   * that cannot be had, or `reconnect: false`): it stays closed. Not emitted for {@link WebSocketClient.close}.
   */
  failed: (error: PortcullisClientError) => void;
}

/** Where the client stands. */
export type WebSocketClientState = 'connecting' | 'authenticating' | 'open' | 'reconnecting' | 'closed';

/** A client created by {@link createWebSocketClient}. */
export interface WebSocketClient {
  readonly state: WebSocketClientState;
  /** The current socket, if any (for its `protocol`, or tests). */
  readonly socket: WebSocketLike | undefined;
  /** Subscribes; returns the unsubscribe function. */
  on<E extends keyof WebSocketClientEvents>(event: E, listener: WebSocketClientEvents[E]): () => void;
  /**
   * Resolves once authenticated (at once if it is); rejects with the refusal when
   * the client gives up, or with `closed` after {@link WebSocketClient.close}.
   */
  ready(): Promise<void>;
  /** Sends `data` if authenticated; returns false (nothing sent) otherwise. */
  send(data: unknown): boolean;
  /** Stops reconnecting and closes the socket. @param code @default 1000 */
  close(code?: number, reason?: string): void;
}

/** The bearer subprotocol prefix, the same as the server's (both come from the wire module). */
export { BEARER_PROTOCOL_PREFIX } from '../protocol.js';
/** The `ws` frame types (the wire module's `FrameType`, keyed in camelCase). */
export const WS_FRAME_TYPES = Object.freeze({
  authenticate: FrameType.Authenticate,
  authenticated: FrameType.Authenticated,
  expiring: FrameType.Expiring,
  refreshFailed: FrameType.RefreshFailed,
} as const);
const STATUS_RE = /Unexpected server response: (\d{3})/;
const OPEN = 1;

function resolveConstructor(given: WebSocketConstructor | undefined): WebSocketConstructor {
  const ctor = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof ctor !== 'function') {
    throw new TypeError('portcullis: no WebSocket implementation: pass `WebSocket` (e.g. from the ws package)');
  }
  return ctor;
}

/** The HTTP status of a refused upgrade, when the implementation reports it (`ws` does in its error message). */
function statusOf(event: unknown): number | undefined {
  const e = event as { message?: unknown; error?: { message?: unknown } } | null;
  const text = typeof e?.message === 'string' ? e.message : typeof e?.error?.message === 'string' ? e.error.message : '';
  const match = STATUS_RE.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** The parts of a `ws` response the client reads (Node's `IncomingMessage`). */
interface ResponseLike {
  readonly statusCode?: number;
  readonly headers?: Record<string, string | string[] | undefined>;
  on(event: 'data', listener: (chunk: unknown) => void): unknown;
  on(event: 'end' | 'close' | 'error', listener: () => void): unknown;
}

const MAX_REFUSAL_BODY = 4096;

/**
 * With the `ws` package (Node), reads a refused upgrade's status, headers and
 * JSON body (`unexpected-response`) before ending the attempt, so the refusal's
 * code and `Retry-After` are known. A browser `WebSocket` has no such event: its
 * refused upgrades are indistinguishable from a lost connection (close 1006).
 */
function readRefusedUpgrade(ws: WebSocketLike, found: (error: PortcullisClientError) => void): void {
  const target = ws as unknown as { on?: unknown; terminate?: unknown };
  if (typeof target.on !== 'function' || typeof target.terminate !== 'function') return;
  const end = (): void => (target.terminate as () => void).call(ws);
  (target.on as (event: string, listener: (req: unknown, res: ResponseLike) => void) => void).call(
    ws,
    'unexpected-response',
    (_req, res) => {
      const status = typeof res.statusCode === 'number' ? res.statusCode : 0;
      const header = (name: string): string | undefined => {
        const value = res.headers?.[name];
        return Array.isArray(value) ? value[0] : value;
      };
      let body = '';
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        found(fromHttpResponse({ status, body, header }) ?? fromHttpStatus(status));
        end();
      };
      res.on('data', (chunk) => {
        body += String(chunk);
        if (body.length > MAX_REFUSAL_BODY) finish();
      });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    },
  );
}

/** Creates and connects a client. Throws `TypeError` on invalid options. */
export function createWebSocketClient<C extends object>(options: WebSocketClientOptions<C>): WebSocketClient {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: options must be an object');
  const { url, provider, subprotocol } = options;
  if (typeof url !== 'string' || !/^wss?:\/\//i.test(url)) throw new TypeError('portcullis: url must be a ws:// or wss:// URL');
  if (typeof provider?.take !== 'function') throw new TypeError('portcullis: a credential provider is required');
  const Ctor = resolveConstructor(options.WebSocket);
  const credentialsIn = options.credentialsIn ?? 'message';
  if (!['message', 'query-ticket', 'bearer-protocol'].includes(credentialsIn)) {
    throw new TypeError("portcullis: credentialsIn must be 'message', 'query-ticket' or 'bearer-protocol'");
  }
  if (subprotocol !== undefined && (!isProtocolToken(subprotocol) || subprotocol.startsWith(BEARER_PROTOCOL_PREFIX))) {
    throw new TypeError('portcullis: subprotocol must be a valid token not starting with portcullis.bearer.');
  }
  if (credentialsIn === 'bearer-protocol' && subprotocol === undefined) {
    throw new TypeError("portcullis: credentialsIn 'bearer-protocol' needs a subprotocol the server selects");
  }
  const offered = [...(subprotocol === undefined ? [] : [subprotocol]), ...(options.protocols ?? [])];
  const ticketParam = options.ticketParam ?? 'ticket';
  const reconnect = options.reconnect ?? true;
  const maxRetries = options.maxRetries ?? Number.POSITIVE_INFINITY;
  if (typeof maxRetries !== 'number' || Number.isNaN(maxRetries) || maxRetries < 0) {
    throw new TypeError('portcullis: maxRetries must be a number >= 0');
  }
  const backoff = createBackoff(options.backoff);
  const scheduler = options.scheduler ?? systemScheduler;
  const events = createListeners<WebSocketClientEvents>();

  let state: WebSocketClientState = 'connecting';
  let socket: WebSocketLike | undefined;
  let generation = 0;
  let timer: SchedulerHandle | undefined;
  /** Why the client stopped, for later `ready()` calls. */
  let failure: PortcullisClientError | undefined;
  const waiters = new Set<{ resolve: () => void; reject: (err: unknown) => void }>();

  const isClosed = (): boolean => state === 'closed';
  const settle = (err: PortcullisClientError | undefined): void => {
    for (const w of [...waiters]) {
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
    waiters.clear();
  };

  /** The URL and subprotocols of one attempt; throws `invalid_request` for unusable credentials. */
  const target = (credentials: C): { url: string; protocols: string[] } => {
    const record = credentials as Record<string, unknown>;
    if (credentialsIn === 'query-ticket') {
      const ticket = record.ticket;
      if (typeof ticket !== 'string' || ticket === '') {
        throw new PortcullisClientError('invalid_request', { message: "credentialsIn 'query-ticket' needs credentials.ticket" });
      }
      const hash = url.indexOf('#');
      const base = hash === -1 ? url : url.slice(0, hash);
      const sep = base.includes('?') ? '&' : '?';
      return { url: `${base}${sep}${encodeURIComponent(ticketParam)}=${encodeURIComponent(ticket)}`, protocols: offered };
    }
    if (credentialsIn === 'bearer-protocol') {
      const token = record.token;
      if (!isProtocolToken(token)) {
        throw new PortcullisClientError('invalid_request', {
          message: "credentialsIn 'bearer-protocol' needs a token-safe credentials.token",
        });
      }
      return { url, protocols: [...offered, `${BEARER_PROTOCOL_PREFIX}${token}`] };
    }
    return { url, protocols: offered };
  };

  const sendFrame = (ws: WebSocketLike, type: string, payload: unknown): void => {
    if (ws.readyState === OPEN) (ws.send as (data: string) => void)(JSON.stringify({ type, payload }));
  };

  /** Ends this attempt: give up, or schedule the next one. */
  const afterFailure = (error: PortcullisClientError): void => {
    if (state === 'closed') return;
    if (!reconnect || !error.retryable || backoff.attempts >= maxRetries) {
      state = 'closed';
      failure = error;
      settle(error);
      events.emit('failed', error);
      return;
    }
    if (needsNewCredentials(error.code)) provider.invalidate();
    const delayMs = backoff.next(error.retryAfter);
    state = 'reconnecting';
    events.emit('reconnecting', { attempt: backoff.attempts, delayMs, error });
    timer = scheduler.setTimer(() => {
      timer = undefined;
      if (state === 'reconnecting') void connect();
    }, delayMs);
  };

  const onServerFrame = (ws: WebSocketLike, type: string, payload: unknown): void => {
    if (type === WS_FRAME_TYPES.authenticated) {
      const refreshed = state === 'open';
      state = 'open';
      backoff.reset();
      events.emit('authenticated', typeof payload === 'object' && payload !== null ? (payload as WebSocketAuthenticated) : {}, refreshed);
      settle(undefined);
    } else if (type === WS_FRAME_TYPES.expiring) {
      const expiresAt = (payload as { expiresAt?: unknown } | null)?.expiresAt;
      provider.refresh(typeof expiresAt === 'number' ? expiresAt : undefined).then(
        (credentials) => {
          if (socket === ws && state === 'open') sendFrame(ws, WS_FRAME_TYPES.authenticate, credentials);
        },
        (err: unknown) => events.emit('error', toClientError(err)),
      );
    } else {
      const error = fromRefusal(payload);
      if (needsNewCredentials(error.code)) provider.invalidate();
      events.emit('error', error);
    }
  };

  const onData = (ws: WebSocketLike, data: unknown): void => {
    if (typeof data === 'string' && data.startsWith('{"type":"')) {
      let frame: { type?: unknown; payload?: unknown } | undefined;
      try {
        frame = JSON.parse(data) as { type?: unknown; payload?: unknown };
      } catch {
        frame = undefined;
      }
      const type = frame?.type;
      if (type === WS_FRAME_TYPES.authenticated || type === WS_FRAME_TYPES.expiring || type === WS_FRAME_TYPES.refreshFailed) {
        onServerFrame(ws, type, frame?.payload);
        return;
      }
    }
    events.emit('message', data);
  };

  const connect = async (): Promise<void> => {
    const gen = ++generation;
    state = 'connecting';
    // Read fresh after every await: close() may have run meanwhile.
    const stale = (): boolean => gen !== generation || isClosed();
    let credentials: C;
    let where: { url: string; protocols: string[] };
    try {
      credentials = await provider.take();
      if (stale()) return;
      where = target(credentials);
    } catch (err) {
      if (stale()) return;
      const error = toClientError(err);
      events.emit('error', error);
      afterFailure(error);
      return;
    }
    let ws: WebSocketLike;
    try {
      ws = new Ctor(where.url, where.protocols);
    } catch (err) {
      const error = new PortcullisClientError('protocol_error', {
        message: 'WebSocket constructor refused the URL or protocols',
        cause: err,
      });
      events.emit('error', error);
      afterFailure(error);
      return;
    }
    socket = ws;
    let upgradeError: PortcullisClientError | undefined;
    readRefusedUpgrade(ws, (error) => {
      upgradeError = error;
    });
    ws.onopen = (() => {
      if (socket !== ws || isClosed()) return;
      state = 'authenticating';
      if (credentialsIn === 'message') sendFrame(ws, WS_FRAME_TYPES.authenticate, credentials);
    }) as (event: never) => void;
    ws.onmessage = ((event: { data?: unknown }) => {
      // After close(): nothing more reaches the app, and no late frame reopens the client.
      if (socket === ws && !isClosed()) onData(ws, event.data);
    }) as (event: never) => void;
    ws.onerror = ((event: unknown) => {
      const status = statusOf(event);
      if (status !== undefined) upgradeError = fromHttpStatus(status);
    }) as (event: never) => void;
    ws.onclose = ((event: { code?: unknown; reason?: unknown }) => {
      if (socket !== ws) return;
      socket = undefined;
      const code = typeof event.code === 'number' ? event.code : 1006;
      const reason = typeof event.reason === 'string' ? event.reason : '';
      const error = upgradeError ?? fromClose(code, reason);
      if (state === 'closed') {
        events.emit('close', { code, reason, error, willReconnect: false });
        return;
      }
      if (error !== undefined) events.emit('error', error);
      afterFailure(error ?? new PortcullisClientError('closed', { closeCode: code }));
      events.emit('close', { code, reason, error, willReconnect: state === 'reconnecting' });
    }) as (event: never) => void;
  };

  void connect();

  return {
    get state() {
      return state;
    },
    get socket() {
      return socket;
    },
    on(event, listener) {
      return events.on(event, listener);
    },
    ready() {
      if (state === 'open') return Promise.resolve();
      if (state === 'closed') return Promise.reject(failure ?? new PortcullisClientError('closed'));
      return new Promise<void>((resolve, reject) => {
        waiters.add({ resolve, reject });
      });
    },
    send(data) {
      const ws = socket;
      if (state !== 'open' || ws === undefined || ws.readyState !== OPEN) return false;
      (ws.send as (data: unknown) => void)(data);
      return true;
    },
    close(code = 1000, reason = '') {
      if (state === 'closed' && socket === undefined) return;
      state = 'closed';
      generation++;
      if (timer !== undefined) {
        scheduler.clearTimer(timer);
        timer = undefined;
      }
      settle(new PortcullisClientError('closed'));
      const ws = socket;
      if (ws !== undefined && ws.readyState <= OPEN) ws.close(code, reason);
    },
  };
}
