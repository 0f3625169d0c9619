/**
 * How the core talks to one Socket.IO socket: the verdict of its CONNECT (the
 * namespace middleware's `next`), the post-connect protocol's events, and the
 * refusal. A class rather than closures: one small object per socket, its
 * methods shared.
 */
import type { Socket } from 'socket.io';
import type { AdmissionDriver, AdmissionOutcome } from '../../core/admission.js';
import type { AuthenticatedPayload, Connection } from '../../core/connection.js';
import type { CloseReason } from '../../core/hooks.js';
import type { AuthError } from '../../errors.js';
import { emitToIsolated, socketsOnConnection, unisolate } from './internals.js';
import type { ResolvedSocketIoOptions } from './options.js';

const CONNECTION = Symbol.for('portcullis.connection');
type Tagged = Socket & { [CONNECTION]?: Connection };

/** @internal The connection of a socket guarded by any portcullis guard. */
export function connectionOf(socket: Socket): Connection | undefined {
  return (socket as Tagged)[CONNECTION];
}

/** Socket.IO / Engine.IO close reasons that mean the server ended the connection. */
const SERVER_REASONS = new Set(['server namespace disconnect', 'server shutting down', 'forced close', 'forced server close']);

/** The close reason the core reports for a Socket.IO / Engine.IO reason. */
export function closeReason(reason: string): CloseReason {
  return SERVER_REASONS.has(reason) ? 'server_disconnect' : 'client_disconnect';
}

export class SocketIoDriver implements AdmissionDriver {
  /** The namespace middleware's `next` while the CONNECT is undecided. */
  #next: ((err?: Error) => void) | undefined;
  readonly #socket: Socket;
  readonly #config: ResolvedSocketIoOptions;
  /** Listens on the engine while the CONNECT is undecided: a client that leaves then ends at once. */
  #engineClose: ((reason: string) => void) | undefined = undefined;
  /** Tells the app's `connection` listeners that a connected socket authenticated (once per socket). */
  readonly #announce: ((socket: Socket) => void) | undefined;

  constructor(
    socket: Socket,
    next: ((err?: Error) => void) | undefined,
    config: ResolvedSocketIoOptions,
    announce?: (socket: Socket) => void,
  ) {
    this.#socket = socket;
    this.#next = next;
    this.#config = config;
    this.#announce = announce;
  }

  opened(conn: Connection): void {
    (this.#socket as Tagged)[CONNECTION] = conn;
  }

  /**
   * Ends `conn` when the engine connection closes before the CONNECT is decided.
   * Only for that window: after it, `disconnect` (connected sockets) or Socket.IO's
   * cleanup (sockets that never connect) report the end, so a client sending
   * CONNECT after CONNECT over one engine connection leaves no listener behind.
   */
  waiting(conn: Connection): void {
    if (this.#engineClose !== undefined || this.#next === undefined) return;
    const listener = (reason: string): void => {
      this.#engineClose = undefined;
      conn.closed(closeReason(reason));
    };
    this.#engineClose = listener;
    this.#socket.conn.on('close', listener);
  }

  /** Lets the CONNECT through (authenticated, or pending for a message), or hands back a socket whose client left. */
  settled(conn: Connection, outcome: AdmissionOutcome): void {
    const next = this.#decided();
    if (next === undefined) return;
    if (outcome === 'authenticated') this.#socket.data.principal = conn.principal;
    // Ended without a verdict (the client left while we verified): hand the socket back
    // so Socket.IO drops it from the namespace's pre-connect sockets.
    next(outcome === 'gone' ? new Error('connection closed') : undefined);
  }

  /** Takes the CONNECT decision: stops watching the engine and returns the middleware's `next`, once. */
  #decided(): ((err?: Error) => void) | undefined {
    const next = this.#next;
    this.#next = undefined;
    const listener = this.#engineClose;
    if (listener !== undefined) {
      this.#engineClose = undefined;
      this.#socket.conn.off('close', listener);
    }
    return next;
  }

  /**
   * Ends the isolation of a socket that connected pending. A socket admitted by its
   * CONNECT is not connected yet: Socket.IO makes it a member once every middleware
   * has let it through, and a member before that would receive broadcasts the app's
   * later middlewares might still refuse it.
   */
  admit(): void {
    unisolate(this.#socket);
  }

  authenticated(payload: AuthenticatedPayload): void {
    const socket = this.#socket;
    const { events, formatVerdict } = this.#config;
    socket.data.principal = connectionOf(socket)?.principal;
    socket.emit(events.authenticated, formatVerdict === undefined ? payload : formatVerdict(payload, socket));
    // After the verdict, so what a listener emits reaches the client after `authenticated`.
    // A socket authenticated by its CONNECT is announced when it connects (guard.ts).
    if (socket.connected) this.#announce?.(socket);
  }

  expiring(expiresAt: number): void {
    this.#socket.emit(this.#config.events.expiring, { expiresAt });
  }

  refreshFailed(error: AuthError): void {
    this.#socket.emit(this.#config.events.refreshFailed, this.#config.format(error, this.#socket) ?? error.toJSON());
  }

  close(error: AuthError): void {
    const socket = this.#socket;
    const next = this.#decided();
    if (next !== undefined) {
      // Still in the namespace middleware: refuse the CONNECT.
      const err = new Error(error.message) as Error & { data: unknown };
      err.data =
        error.retryAfter === undefined
          ? { code: error.code, retryable: error.retryable }
          : { code: error.code, retryable: error.retryable, retryAfter: error.retryAfter };
      next(err);
      return;
    }
    if (!socket.connected) return;
    // `undefined`: close without an `unauthorized` event (the compat entry's timeout).
    const refusal = this.#config.format(error, socket);
    // A pending socket is isolated: `emitToIsolated` reaches it even when connection state recovery routes emits
    // through the adapter.
    if (refusal !== undefined) emitToIsolated(socket, this.#config.events.unauthorized, refusal);
    // Close the whole engine connection when this was its only namespace, so a
    // refused client cannot linger on the transport.
    socket.disconnect(socketsOnConnection(socket) <= 1);
  }

  /**
   * Closes the Engine.IO connection (every namespace on it). After the current
   * tick, so the refusal Socket.IO writes in a `nextTick` (`connect_error`) goes first.
   */
  closeTransport(): void {
    process.nextTick(closeEngine, this.#socket);
  }
}

function closeEngine(socket: Socket): void {
  socket.conn.close();
}
