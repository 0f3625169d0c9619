/**
 * Glue for `socket.io-client` (PROTOCOL.md §3), without importing it: you pass
 * your `io` function or socket, typed structurally.
 *
 * - Handshake mode: `socket.auth` becomes a function, which `socket.io-client`
 *   calls on every (re)connect, so each attempt sends fresh credentials (a new
 *   one-time ticket every time).
 * - Message mode: the credentials go in an `authentication` event after every connect.
 * - Both: `auth_expiring` is answered with fresh credentials on the live socket
 *   (same id); refusals become {@link PortcullisClientError}s; a do-not-retry
 *   refusal stops reconnection; a retryable one is retried with backoff, with new
 *   credentials when the old ones were refused (`socket.io-client` never retries
 *   a CONNECT refused by the server by itself).
 */
import type { AuthenticatedPayload } from '../protocol.js';
import { SocketIoEvent } from '../protocol.js';
import type { CredentialProvider } from './credential-provider.js';
import { fromConnectError, fromRefusal, needsNewCredentials, PortcullisClientError, toClientError } from './errors.js';
import { fromTransportError } from './http-refusal.js';
import type { BackoffOptions, Scheduler, SchedulerHandle } from './runtime.js';
import { createBackoff, createListeners, systemScheduler } from './runtime.js';

/** A listener as the glue registers it. */
type Listener = (...args: unknown[]) => void;

/** The parts of a `socket.io-client` `Socket` the glue uses. */
export interface SocketIoClientSocket {
  /** CONNECT payload, or a function called with a callback on every (re)connect. */
  auth: unknown;
  readonly id: string | undefined;
  readonly connected: boolean;
  /** True while the socket is connected or (re)connecting. */
  readonly active: boolean;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
  emit(event: string, ...args: unknown[]): unknown;
  connect(): unknown;
  disconnect(): unknown;
}

/** Event names of the post-connect protocol; must match the server's `events` option. */
export interface SocketIoClientEventNames {
  /** Client → server: credentials (message mode, and every refresh). @default 'authentication' */
  authentication: string;
  /** Server → client: `{ expiresAt?, ...data }`. @default 'authenticated' */
  authenticated: string;
  /** Server → client: `{ message, code, retryable }`, then disconnect. @default 'unauthorized' */
  unauthorized: string;
  /** Server → client: `{ expiresAt }` before expiry. @default 'auth_expiring' */
  expiring: string;
  /** Server → client: a refresh was refused, the current credential stays valid. @default 'auth_refresh_failed' */
  refreshFailed: string;
}

const DEFAULT_EVENTS: Readonly<SocketIoClientEventNames> = Object.freeze({
  authentication: SocketIoEvent.authentication,
  authenticated: SocketIoEvent.authenticated,
  unauthorized: SocketIoEvent.unauthorized,
  expiring: SocketIoEvent.expiring,
  refreshFailed: SocketIoEvent.refreshFailed,
});

/** Options of {@link guardSocketIo}. */
export interface GuardSocketIoOptions {
  /**
   * Where credentials travel: `'handshake'` (the CONNECT packet's `auth`) or
   * `'message'` (an `authentication` event after connecting). Must match the server.
   * @default 'handshake'
   */
  mode?: 'handshake' | 'message';
  /** Event names, when the server renamed them. @default {@link DEFAULT_EVENTS} */
  events?: Partial<SocketIoClientEventNames>;
  /**
   * Delays between retries after a retryable refusal (`socket.io-client`'s own
   * reconnection only covers transport losses; it never retries a refused CONNECT).
   * @default { initialMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 }
   */
  backoff?: BackoffOptions;
  /** Consecutive retryable refusals retried before giving up (`failed`). @default Infinity */
  maxRetries?: number;
  /** Clock and timers for retries. @default the host's `Date.now` / `setTimeout` */
  scheduler?: Scheduler;
  /** Shorthand for `on('error', listener)`. */
  onError?: (error: PortcullisClientError) => void;
}

/** What the server said when it accepted credentials (`{}` for a handshake). */
export type AuthenticatedInfo = AuthenticatedPayload;

/** A retry the glue scheduled after a retryable refusal. */
export interface RetryInfo {
  /** 1 for the first retry after a success. */
  attempt: number;
  /** Milliseconds until the attempt. */
  delayMs: number;
  /** The refusal being retried. */
  error: PortcullisClientError;
}

/** Events of a {@link GuardedSocketIo}. */
export interface GuardedSocketIoEvents {
  [event: string]: (...args: never[]) => void;
  /** The socket is authenticated: after CONNECT (handshake), `authenticated` (message), or a refresh (`refreshed`). */
  authenticated: (info: AuthenticatedInfo, refreshed: boolean) => void;
  /** Every refusal or failure, fatal or not. */
  error: (error: PortcullisClientError) => void;
  /** A retry was scheduled. */
  retry: (info: RetryInfo) => void;
  /** The glue gave up (do-not-retry refusal, or `maxRetries`): the socket stays disconnected. */
  failed: (error: PortcullisClientError) => void;
}

/** Where a guarded socket stands. */
export type GuardedSocketIoState = 'connecting' | 'authenticating' | 'authenticated' | 'retrying' | 'failed' | 'closed';

/** A socket under the glue. */
export interface GuardedSocketIo<S extends SocketIoClientSocket> {
  readonly socket: S;
  readonly state: GuardedSocketIoState;
  /** Subscribes; returns the unsubscribe function. */
  on<E extends keyof GuardedSocketIoEvents>(event: E, listener: GuardedSocketIoEvents[E]): () => void;
  /**
   * Resolves once authenticated (at once if it is); rejects with the refusal when
   * the glue gives up, or with `closed` when the socket or the glue is closed.
   */
  ready(): Promise<void>;
  /** Removes the glue's listeners and timers; the socket is left as it is. */
  detach(): void;
  /** Detaches and disconnects the socket. */
  close(): void;
}

/**
 * Puts `socket` under the glue. Call it before the socket connects (create it
 * with `autoConnect: false`, or in the same tick as `io()`): in handshake mode it
 * replaces `socket.auth`.
 */
export function guardSocketIo<S extends SocketIoClientSocket, C extends object>(
  socket: S,
  provider: CredentialProvider<C>,
  options: GuardSocketIoOptions = {},
): GuardedSocketIo<S> {
  if (typeof socket?.on !== 'function' || typeof socket.emit !== 'function') {
    throw new TypeError('portcullis: guardSocketIo needs a socket.io-client Socket');
  }
  if (typeof provider?.take !== 'function') throw new TypeError('portcullis: guardSocketIo needs a credential provider');
  const mode = options.mode ?? 'handshake';
  if (mode !== 'handshake' && mode !== 'message') throw new TypeError("portcullis: mode must be 'handshake' or 'message'");
  const names: SocketIoClientEventNames = { ...DEFAULT_EVENTS, ...options.events };
  const maxRetries = options.maxRetries ?? Number.POSITIVE_INFINITY;
  if (typeof maxRetries !== 'number' || Number.isNaN(maxRetries) || maxRetries < 0) {
    throw new TypeError('portcullis: maxRetries must be a number >= 0');
  }
  const backoff = createBackoff(options.backoff);
  const scheduler = options.scheduler ?? systemScheduler;
  const events = createListeners<GuardedSocketIoEvents>();
  if (options.onError !== undefined) events.on('error', options.onError);

  let state: GuardedSocketIoState = socket.connected ? 'authenticating' : 'connecting';
  let retryTimer: SchedulerHandle | undefined;
  /** The `unauthorized` refusal, acted on when the disconnect that follows it arrives. */
  let refusal: PortcullisClientError | undefined;
  /** Why the glue gave up, for later `ready()` calls. */
  let failure: PortcullisClientError | undefined;
  const waiters = new Set<{ resolve: () => void; reject: (err: unknown) => void }>();
  const originalAuth = socket.auth;
  const subscriptions: [string, Listener][] = [];

  /** Set while the glue itself disconnects the socket, so its own disconnect is not taken for the app's. */
  let selfDisconnect = false;
  const drop = (): void => {
    selfDisconnect = true;
    try {
      socket.disconnect();
    } finally {
      selfDisconnect = false;
    }
  };
  const listen = (event: string, listener: Listener): void => {
    socket.on(event, listener);
    subscriptions.push([event, listener]);
  };
  const settle = (err: PortcullisClientError | undefined): void => {
    for (const w of [...waiters]) {
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
    waiters.clear();
  };
  /** Set by `detach()`: the glue reacts to nothing any more. */
  let detached = false;
  const ended = (): boolean => state === 'failed' || state === 'closed';

  const authenticated = (info: AuthenticatedInfo, refreshed: boolean): void => {
    state = 'authenticated';
    backoff.reset();
    events.emit('authenticated', info, refreshed);
    settle(undefined);
  };

  const giveUp = (error: PortcullisClientError): void => {
    if (detached || state === 'failed') return;
    state = 'failed';
    failure = error;
    clearRetry();
    drop();
    events.emit('failed', error);
    settle(error);
  };

  const clearRetry = (): void => {
    if (retryTimer === undefined) return;
    scheduler.clearTimer(retryTimer);
    retryTimer = undefined;
  };

  /** A refusal the server closed on: give up, or reconnect later (with new credentials when needed). */
  const retryOrGiveUp = (error: PortcullisClientError, reconnect: boolean): void => {
    if (detached) return;
    if (!error.retryable || backoff.attempts >= maxRetries) {
      giveUp(error);
      return;
    }
    if (needsNewCredentials(error.code)) provider.invalidate();
    // The manager reconnects by itself after a transport loss: only a destroyed socket needs us.
    if (!reconnect) return;
    const delayMs = backoff.next(error.retryAfter);
    state = 'retrying';
    clearRetry();
    events.emit('retry', { attempt: backoff.attempts, delayMs, error });
    retryTimer = scheduler.setTimer(() => {
      retryTimer = undefined;
      if (state !== 'retrying') return;
      state = 'connecting';
      socket.connect();
    }, delayMs);
  };

  const credentialsFailed = (err: unknown): void => {
    if (detached) return;
    const error = toClientError(err);
    events.emit('error', error);
    // Nothing was sent: drop this attempt and retry (or give up) like a refusal.
    drop();
    retryOrGiveUp(error, true);
  };

  if (mode === 'handshake') {
    socket.auth = (cb: (data: object) => void): void => {
      // Also after `failed` / `closed`: the app may call socket.connect() again (after a new login).
      if (ended()) {
        state = 'connecting';
        failure = undefined;
      }
      provider.take().then(cb, credentialsFailed);
    };
  }

  listen('connect', () => {
    refusal = undefined;
    failure = undefined;
    if (mode === 'handshake') {
      authenticated({}, false);
      return;
    }
    state = 'authenticating';
    const id = socket.id;
    provider.take().then((credentials) => {
      // Never let socket.io-client buffer credentials for a later connection.
      if (!detached && socket.connected && socket.id === id) socket.emit(names.authentication, credentials);
    }, credentialsFailed);
  });

  listen(names.authenticated, (payload: unknown) => {
    const refreshed = state === 'authenticated';
    authenticated(typeof payload === 'object' && payload !== null ? (payload as AuthenticatedInfo) : {}, refreshed);
  });

  listen(names.expiring, (payload: unknown) => {
    const expiresAt = (payload as { expiresAt?: unknown } | null)?.expiresAt;
    const id = socket.id;
    provider.refresh(typeof expiresAt === 'number' ? expiresAt : undefined).then(
      (credentials) => {
        if (!detached && socket.connected && socket.id === id) socket.emit(names.authentication, credentials);
      },
      (err: unknown) => events.emit('error', toClientError(err)),
    );
  });

  listen(names.refreshFailed, (payload: unknown) => {
    const error = fromRefusal(payload);
    if (needsNewCredentials(error.code)) provider.invalidate();
    events.emit('error', error);
  });

  listen(names.unauthorized, (payload: unknown) => {
    refusal = fromRefusal(payload);
    events.emit('error', refusal);
  });

  listen('connect_error', (err: unknown) => {
    let error = fromConnectError(err);
    // A transport failure may be an HTTP refusal written before the Engine.IO
    // handshake (Origin, TLS, handshake rate, pending budget): read it when the runtime lets us.
    const httpRefusal = error.code === 'connection_lost' ? fromTransportError(err) : undefined;
    if (httpRefusal !== undefined) error = httpRefusal;
    events.emit('error', error);
    // A plain transport failure: socket.io-client retries by itself when reconnection is on.
    if (error.code === 'connection_lost') return;
    // socket.io-client would retry an HTTP refusal by itself, at its own pace: stop it.
    if (httpRefusal !== undefined) drop();
    // A refusal: give up, or stop socket.io-client's own reconnection (drop) and retry
    // after our backoff, at least as long as the server's Retry-After asks.
    retryOrGiveUp(error, true);
  });

  listen('disconnect', (reason: unknown) => {
    if (selfDisconnect) return;
    const pending = refusal;
    refusal = undefined;
    const destroyed = reason === 'io server disconnect';
    if (pending !== undefined) {
      // Destroyed by the server's DISCONNECT: only the glue can reconnect it. A transport
      // loss before that packet: socket.io-client reconnects, with invalidated credentials.
      if (!destroyed) state = 'connecting';
      retryOrGiveUp(pending, destroyed);
      return;
    }
    // Kicked without a refusal, or closed by the app: socket.io-client will not reconnect.
    if (destroyed || reason === 'io client disconnect') {
      state = 'closed';
      clearRetry();
      settle(new PortcullisClientError('closed'));
    } else {
      state = 'connecting';
    }
  });

  const detach = (): void => {
    detached = true;
    clearRetry();
    for (const [event, listener] of subscriptions.splice(0)) socket.off(event, listener);
    if (mode === 'handshake') socket.auth = originalAuth;
    if (!ended()) state = 'closed';
    settle(new PortcullisClientError('closed'));
    events.clear();
  };

  return {
    socket,
    get state() {
      return state;
    },
    on(event, listener) {
      return events.on(event, listener);
    },
    ready() {
      if (state === 'authenticated') return Promise.resolve();
      // Failed or closed, unless the app has since called socket.connect() again.
      if (detached || (ended() && !socket.active)) return Promise.reject(failure ?? new PortcullisClientError('closed'));
      return new Promise<void>((resolve, reject) => {
        waiters.add({ resolve, reject });
      });
    },
    detach,
    close() {
      detach();
      socket.disconnect();
    },
  };
}

/** Options of {@link connectSocketIo}: the glue's, plus a provider; the rest goes to `io()`. */
export interface ConnectSocketIoOptions<C extends object> extends GuardSocketIoOptions {
  /** Where credentials come from. */
  provider: CredentialProvider<C>;
  /** Connect at once; `false` leaves it to `socket.connect()`. @default true */
  autoConnect?: boolean;
}

const GLUE_KEYS = new Set(['provider', 'mode', 'events', 'backoff', 'maxRetries', 'scheduler', 'onError', 'autoConnect']);

/**
 * Creates a socket with `io(url, ioOptions)` (never connecting before the glue is
 * in place), guards it and connects it.
 *
 * @example
 * import { io } from 'socket.io-client';
 * const { socket } = connectSocketIo(io, 'https://chat.example', { provider, transports: ['websocket'] });
 */
export function connectSocketIo<S extends SocketIoClientSocket, C extends object, O extends object = Record<string, unknown>>(
  io: (url: string, options?: O) => S,
  url: string,
  options: ConnectSocketIoOptions<C> & NoInfer<Omit<O, keyof ConnectSocketIoOptions<C>>>,
): GuardedSocketIo<S> {
  if (typeof io !== 'function') throw new TypeError('portcullis: connectSocketIo needs the io function of socket.io-client');
  const ioOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (!GLUE_KEYS.has(key)) ioOptions[key] = value;
  ioOptions.autoConnect = false;
  const socket = io(url, ioOptions as O);
  const guarded = guardSocketIo(socket, options.provider, options);
  if (options.autoConnect !== false) socket.connect();
  return guarded;
}
