/**
 * One `ws` socket under a guard: the core's {@link ConnectionDriver} for it, and
 * the gate in front of its `message` event. The application only ever receives
 * the socket after it authenticated, and the gate drops every frame that arrives
 * while it is not authenticated, so no listener ever sees a pending socket's
 * messages (nor the `authenticate` frames of a refresh, which carry credentials).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Admission, AdmissionDriver, AdmissionOutcome } from '../../core/admission.js';
import type { TimerHandle } from '../../core/clock.js';
import type { AttemptContext, AuthenticatedPayload, Connection } from '../../core/connection.js';
import type { Guard } from '../../core/guard.js';
import { writeRefusal } from '../../core/http-refusal.js';
import { describeError } from '../../core/logger.js';
import { withSocket } from '../../core/request.js';
import type { Principal } from '../../core/types.js';
import { AuthError, isAuthError } from '../../errors.js';
import type { RawData } from './frames.js';
import { asAuthenticateFrame, authenticatedFrame, expiringFrame, FrameType, parseClientFrame, refreshFailedFrame } from './frames.js';
import type { HubInternals } from './hub.js';

/** What the application learns about a connection (no request object). */
export interface WsConnectionInfo {
  /** The connection id (also in audit events). */
  readonly id: string;
  /** The client IP, resolved through trusted proxies only. */
  readonly ip: string;
  /** True when the client connected over TLS (directly or via a trusted proxy). */
  readonly secure: boolean;
  /** The `Origin` header, if any. */
  readonly origin: string | undefined;
  /** The guard's path (the connection's namespace). */
  readonly namespace: string;
  /** The subprotocol the server answered with (`''` when none). */
  readonly protocol: string;
}

/** @internal What a session needs from its `ws` guard. */
export interface SessionHost {
  readonly guard: Guard;
  readonly admission: Admission;
  /** How long a closing socket may take to answer the close handshake, in ms, before it is destroyed. */
  readonly closeTimeoutMs: number;
  /** The `ws` server performing upgrades. */
  readonly wss: WebSocketServer;
  /** True once the guard is closed (no more upgrades). */
  readonly closed: boolean;
  readonly hub: HubInternals;
  /** Live sessions; a session removes itself when its socket closes. */
  readonly sessions: Set<WsSession>;
  /** Hands an authenticated socket to the application (once per socket). */
  announce(ws: WebSocket, principal: Principal, info: WsConnectionInfo): void;
  /** Called when a session is gone for good. */
  released(session: WsSession): void;
}

/** The `authenticated` payload of a principal: its public data and expiry. */
export function authenticatedPayload(principal: Principal): AuthenticatedPayload {
  const payload: AuthenticatedPayload = principal.data === undefined ? {} : { ...principal.data };
  if (principal.expiresAt !== undefined) payload.expiresAt = principal.expiresAt;
  return payload;
}

/** The session of a raw socket (while its verdict is awaited) or of a WebSocket (once bound). */
const kSession = Symbol('portcullis.ws.session');
type Raw = Duplex & { [kSession]?: WsSession };
type Bound = WebSocket & { [kSession]?: WsSession };

// Listeners shared by every session, which they read from the emitter: no closure per socket.

/** A raw socket that errors before its upgrade is destroyed. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function onRawClose(this: Raw): void {
  this[kSession]?.abandon();
}

/**
 * The HTTP server is half-open: a client that leaves while its upgrade is being
 * verified only ends its side. A WebSocket client never half-closes during the
 * handshake, so an `end` here means it is gone.
 */
function onRawEnd(this: Raw): void {
  if (this[kSession]?.ws === undefined) this.destroy();
}

function onWsError(this: Bound, err: Error & { code?: string }): void {
  this[kSession]?.socketError(err);
}

function onWsClose(this: Bound): void {
  this[kSession]?.socketClosed();
}

/** The WebSocket's `emit`: `message` events pass the session's gate first. */
function gatedEmit(this: Bound, event: string | symbol, ...args: unknown[]): boolean {
  return (this[kSession] as WsSession).emitGated(event, args);
}

/** @internal */
export class WsSession implements AdmissionDriver {
  readonly id: string;
  readonly #host: SessionHost;
  readonly #context: AttemptContext;
  readonly #ip: string;
  readonly #namespace: string;
  /** Set by the admission once the connection exists. */
  conn: Connection | undefined = undefined;
  /** The upgrade request and head until the upgrade completes (or is refused). */
  #upgrade: { req: IncomingMessage; head: Buffer } | undefined;
  /** Destroys a socket that does not answer the close handshake in time. */
  #closeTimer: TimerHandle | undefined = undefined;
  #ws: WebSocket | undefined = undefined;
  /** The raw socket until the upgrade completes, so a refusal can still be an HTTP response. */
  #raw: Duplex | undefined;
  #announced = false;
  #released = false;
  /** True once the raw socket is watched for the client leaving (only while a verdict is awaited). */
  #watching = false;
  /** The WebSocket's own `emit`, behind the message gate. */
  #emit: WebSocket['emit'] | undefined = undefined;
  /** The attempt context with the WebSocket set, made on the first message that needs it. */
  #socketContext: AttemptContext | undefined = undefined;

  constructor(
    host: SessionHost,
    id: string,
    ip: string,
    namespace: string,
    context: AttemptContext,
    raw: Duplex,
    req: IncomingMessage,
    head: Buffer,
  ) {
    this.#host = host;
    this.#upgrade = { req, head };
    this.id = id;
    this.#ip = ip;
    this.#namespace = namespace;
    this.#context = context;
    this.#raw = raw;
  }

  /** The upgraded socket, once there is one. */
  get ws(): WebSocket | undefined {
    return this.#ws;
  }

  /** True until the upgrade completed (or the session ended). */
  get upgrading(): boolean {
    return this.#ws === undefined && !this.#released;
  }

  /**
   * Takes over the upgraded socket: close and error handling and the message gate;
   * then, when credentials were verified with the upgrade, the `authenticated`
   * frame and the application's `connection` event.
   */
  bind(ws: WebSocket): void {
    const raw = this.#raw;
    if (raw !== undefined && this.#watching) {
      raw.off('error', destroyOnError);
      raw.off('close', onRawClose);
      raw.off('end', onRawEnd);
    }
    this.#raw = undefined;
    this.#ws = ws;
    (ws as Bound)[kSession] = this;
    ws.on('error', onWsError);
    ws.on('close', onWsClose);
    this.#emit = ws.emit;
    ws.emit = gatedEmit as WebSocket['emit'];
    const conn = this.conn;
    if (conn === undefined) return;
    // Hooks see the WebSocket as `connection.socket` from now on (it did not exist when the connection opened).
    // Strategies see it too, on the first message and on refreshes (`#submit`).
    conn.bindSocket(ws);
    const principal = conn.principal;
    if (conn.authenticated && principal !== undefined) {
      this.admit();
      this.authenticated(authenticatedPayload(principal));
    }
  }

  /** Gives up a session whose upgrade never completed. */
  abandon(): void {
    if (this.#ws !== undefined) return;
    this.#raw = undefined;
    this.#upgrade = undefined;
    this.conn?.closed('client_disconnect');
    this.#release();
  }

  /** Closes the socket because the server shuts down: close code 1001, or `503` before the upgrade. */
  shutdown(): void {
    const ws = this.#ws;
    this.conn?.closed('server_disconnect');
    if (ws === undefined) {
      this.#refuseRaw(new AuthError('unavailable', { detail: 'ws guard closed', retryAfter: 1 }));
      this.#release();
      return;
    }
    this.#host.hub.remove(ws);
    this.#closeWith(ws, 1001, 'server_shutdown');
  }

  // ── AdmissionDriver ─────────────────────────────────────────────────────────

  opened(conn: Connection): void {
    this.conn = conn;
    this.#host.sessions.add(this);
  }

  /**
   * The verdict comes later: watch the raw socket for the client leaving. A verdict
   * in the tick the upgrade arrived needs no listener (nothing can happen in between).
   */
  waiting(_conn: Connection): void {
    const raw = this.#raw as Raw | undefined;
    if (raw === undefined || this.#watching) return;
    this.#watching = true;
    raw[kSession] = this;
    raw.on('error', destroyOnError);
    raw.once('close', onRawClose);
    raw.once('end', onRawEnd);
  }

  /** Answers the upgrade with an HTTP refusal (before any `101`). */
  #refuseRaw(error: AuthError): void {
    const raw = this.#raw;
    if (raw === undefined) return;
    if (!this.#watching) raw.on('error', destroyOnError);
    writeRefusal(raw, error);
  }

  /** Admitted (authenticated, or pending for a first message): completes the upgrade. */
  settled(_conn: Connection, outcome: AdmissionOutcome): void {
    const upgrade = this.#upgrade;
    this.#upgrade = undefined;
    const raw = this.#raw;
    if (outcome === 'gone' || upgrade === undefined || raw === undefined) return;
    this.#complete(upgrade.req, raw, upgrade.head);
  }

  /** Hands the socket to `ws` for the `101`; `bind` takes the WebSocket it creates. */
  #complete(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (socket.destroyed || !socket.writable) {
      this.abandon();
      return;
    }
    if (this.#host.closed) {
      this.close(new AuthError('unavailable', { detail: 'ws guard closed', retryAfter: 1 }));
      return;
    }
    let bound = false;
    // Corked: `ws` writes the `101` and `bind` the `authenticated` frame in the same tick; uncorked, they leave in
    // one `writev` instead of two writes (a syscall each). Measured: see BENCHMARKS.md, sixth pass.
    socket.cork();
    try {
      this.#host.wss.handleUpgrade(req, socket, head, (client) => {
        bound = true;
        this.bind(client);
      });
    } catch (err) {
      this.#host.guard.options.logger.error({ connectionId: this.id, ...describeError(err) }, 'portcullis: ws handleUpgrade threw');
      socket.destroy();
    } finally {
      socket.uncork();
    }
    // `ws` refused (socket gone, server closing) without calling back: nothing will ever bind.
    if (!bound && (socket.destroyed || !socket.writable)) this.abandon();
  }

  admit(): void {
    const ws = this.#ws;
    const principal = this.conn?.principal;
    // Before the upgrade there is no socket yet: `bind` admits it.
    if (ws !== undefined && principal !== undefined) this.#host.hub.add(ws, principal.id);
  }

  authenticated(payload: AuthenticatedPayload): void {
    const ws = this.#ws;
    const principal = this.conn?.principal;
    if (ws === undefined || principal === undefined) return;
    this.#host.hub.reindex(ws, principal.id);
    this.#send(authenticatedFrame(payload));
    if (this.#announced) return;
    this.#announced = true;
    this.#host.announce(ws, principal, {
      id: this.id,
      ip: this.#ip,
      secure: this.#context.secure,
      origin: this.#context.origin,
      namespace: this.#namespace,
      protocol: ws.protocol,
    });
  }

  expiring(expiresAt: number): void {
    this.#send(expiringFrame(expiresAt));
  }

  refreshFailed(error: AuthError): void {
    this.#send(refreshFailedFrame(error));
  }

  close(error: AuthError): void {
    const ws = this.#ws;
    if (ws === undefined) {
      // Before the 101: refused upgrade credentials, a deadline, a revocation.
      this.#upgrade = undefined;
      this.#refuseRaw(error);
      this.#release();
      return;
    }
    this.#host.hub.remove(ws);
    this.#closeWith(ws, error.closeCode, error.code);
  }

  /**
   * Starts the close handshake, and destroys the socket when the peer does not
   * answer within `closeTimeoutMs` (`ws` would wait 30 s): no descriptor or
   * session outlives the refusal longer than that.
   */
  #closeWith(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState < 2) ws.close(code, reason);
    if (this.#closeTimer !== undefined || ws.readyState === 3) return;
    const clock = this.#host.guard.clock;
    this.#closeTimer = clock.setTimer(() => {
      this.#closeTimer = undefined;
      ws.terminate();
    }, this.#host.closeTimeoutMs);
  }

  /** @internal The WebSocket's `emit`, behind the gate: a `message` it stops reaches no listener. */
  emitGated(event: string | symbol, args: unknown[]): boolean {
    if (event === 'message' && !this.#onMessage(args[0] as RawData, args[1] === true)) return false;
    return (this.#emit as (event: string | symbol, ...args: unknown[]) => boolean).call(this.#ws, event, ...args);
  }

  // ── frames ──────────────────────────────────────────────────────────────────

  /** Decides what happens to one incoming message; true passes it on to the application. */
  #onMessage(data: RawData, isBinary: boolean): boolean {
    const conn = this.conn;
    if (conn === undefined) return false;
    if (conn.authenticated) {
      const frame = asAuthenticateFrame(data, isBinary);
      if (frame === undefined) return true;
      this.#submit(conn, frame.payload);
      return false;
    }
    if (!conn.pending) return false;
    try {
      const frame = parseClientFrame(data, isBinary);
      if (frame.type !== FrameType.Authenticate) {
        throw new AuthError('credentials_required', { detail: 'ws: application frame before authenticating' });
      }
      this.#submit(conn, frame.payload);
    } catch (err) {
      this.#refuse(conn, isAuthError(err) ? err : new AuthError('internal_error', { cause: err }));
    }
    return false;
  }

  #submit(conn: Connection, payload: unknown): void {
    // Messages arrive on a bound socket only: strategies see the WebSocket, which did not exist at the upgrade.
    this.#socketContext ??= withSocket(this.#context, this.#ws);
    this.#host.admission.authenticate(conn, payload, this.#socketContext);
  }

  #refuse(conn: Connection, error: AuthError): void {
    this.#report(error);
    conn.terminate(error);
  }

  /** Reports a refusal of a pending socket's message for audit. */
  #report(error: AuthError): void {
    this.#host.guard.rejected(error, {
      phase: 'message',
      transport: 'ws',
      namespace: this.#namespace,
      ip: this.#ip,
      connectionId: this.id,
    });
  }

  #send(frame: string): void {
    const ws = this.#ws;
    if (ws !== undefined && ws.readyState === 1) ws.send(frame);
  }

  /** @internal The WebSocket emitted `error`. */
  socketError(err: Error & { code?: string }): void {
    const conn = this.conn;
    // `ws` closes the socket itself after an error (1009 for a frame over maxPayload, 1002 for a protocol error).
    if (conn?.pending === true) {
      this.#report(new AuthError('invalid_request', { detail: `ws: ${err.code ?? 'socket error'}` }));
      conn.closed('invalid_request');
    }
    this.#host.guard.options.logger.debug({ connectionId: this.id, ...describeError(err) }, 'portcullis: ws socket error');
  }

  /** @internal The WebSocket closed. */
  socketClosed(): void {
    if (this.#closeTimer !== undefined) {
      this.#host.guard.clock.clearTimer(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    const ws = this.#ws;
    if (ws !== undefined) this.#host.hub.remove(ws);
    this.conn?.closed('client_disconnect');
    this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#host.sessions.delete(this);
    this.#host.released(this);
  }
}
