/**
 * `createSocketIoGuard`: maps Socket.IO onto the core's admission.
 *
 * - The engine preflight (`preflight.ts`) runs the checks that need no socket
 *   before Engine.IO accepts a session; the namespace middleware hands every
 *   CONNECT to `admission.admit`, which runs any check this very Engine.IO
 *   connection did not pass yet, then the credentials.
 * - Handshake mode: refusals become `connect_error` with `err.data = { code, retryable }`.
 * - Post-connect mode (the `socketio-auth` protocol): the socket connects pending,
 *   isolated from broadcasts, and its events reach the app only once authenticated.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import { createAdmission, Expect } from '../../core/admission.js';
import type { Connection } from '../../core/connection.js';
import { createGuard } from '../../core/guard.js';
import { createAnnouncer } from './announce.js';
import { handshakeContext, hasAmbientCredentials } from './context.js';
import { closeReason, connectionOf, SocketIoDriver } from './driver.js';
import type { IdleSlots } from './idle.js';
import { createIdleSlots } from './idle.js';
import type { OneventHandler } from './internals.js';
import {
  dispatchEvent,
  emitToIsolated,
  engineOf,
  interceptEvents,
  isolate,
  isServer,
  onCleanup,
  socketsOnConnection,
} from './internals.js';
import type { Middleware } from './namespaces.js';
import { createNamespaceWiring, eachNamespace, isPrincipal, MIDDLEWARE } from './namespaces.js';
import type { AuthenticatedListener, EventGate, SocketIoGuard, SocketIoGuardOptions } from './options.js';
import { kEventGate, resolveSocketIoOptions } from './options.js';
import { installPreflight } from './preflight.js';

/** Ends the connection of a socket that disconnects (one function for every socket, `this` is the socket). */
function onSocketDisconnect(this: Socket, reason: string): void {
  const conn = connectionOf(this);
  const pending = conn?.pending === true;
  conn?.closed(closeReason(reason));
  // A client that leaves its last namespace before authenticating would keep an Engine.IO connection that holds
  // no pending slot (given back at its first CONNECT) and that Socket.IO's connectTimeout no longer watches: close
  // it. socket.io-client closes its Engine.IO connection itself when its last socket disconnects.
  if (pending && reason === 'client namespace disconnect' && socketsOnConnection(this) === 0) this.conn.close();
}

/**
 * Guards a Socket.IO `Server` (every namespace, present and future, unless a
 * namespace has a guard of its own) or one `Namespace` (including a dynamic
 * parent namespace created with `io.of(/regex/)`).
 */
export function createSocketIoGuard(target: Server | Namespace, options: SocketIoGuardOptions): SocketIoGuard {
  const config = resolveSocketIoOptions(options);
  const { mode, events } = config;
  const guard = createGuard(options);
  const admission = createAdmission(guard, options);
  const { logger } = guard.options;
  const server = isServer(target) ? target : target.server;

  const { listeners, announce } = createAnnouncer(logger);
  let idle: IdleSlots | undefined;

  /** Where a socket dropped without connecting ends (a later middleware refused it, its client left). */
  const cleanedUp = (socket: Socket): void => {
    if (socket.connected) return; // disconnecting: the `disconnect` event reports it with its reason
    wiring.decided(socket, false);
    connectionOf(socket)?.closed(socket.conn.readyState === 'open' ? 'server_disconnect' : 'client_disconnect');
  };

  const middleware: Middleware = Object.assign(
    (socket: Socket, next: (err?: Error) => void): void => {
      // The Engine.IO connection made its first attempt: from now on its sockets are counted instead.
      idle?.attempted(socket);
      wiring.deciding(socket.nsp);
      onCleanup(socket, cleanedUp);
      const auth = socket.handshake.auth as unknown;
      const hasAuth = typeof auth === 'object' && auth !== null && Object.keys(auth).length > 0;
      // Auto mode with only ambient credentials (a cookie, a certificate): if no strategy
      // recognises them, the socket stays pending and may authenticate by message.
      const byMessage = mode === 'message' || (mode === 'auto' && !hasAuth && !hasAmbientCredentials(socket));
      const req = socket.conn.request;
      const address = admission.addressOf(req);
      admission.admit(
        {
          id: socket.id,
          transport: 'socket.io',
          namespace: socket.nsp.name,
          req,
          address,
          carrier: socket.conn,
          socket,
          phase: 'handshake',
          credentials: auth,
          expect: byMessage ? Expect.Message : mode === 'auto' && !hasAuth ? Expect.Optional : Expect.Credentials,
          context: handshakeContext(socket, address),
        },
        new SocketIoDriver(socket, next, config, announce),
      );
    },
    { [MIDDLEWARE]: true as const },
  );

  /** Shared by every socket of this guard (no per-socket closure). */
  let eventGate: EventGate | undefined;
  const guardedOnevent: OneventHandler = function (this: Socket, packet) {
    const conn = connectionOf(this);
    if (conn === undefined) return;
    const args = packet.data;
    if (Array.isArray(args) && args[0] === events.authentication) {
      admission.authenticate(conn, args[1], handshakeContext(this, admission.addressOf(this.request)));
      return;
    }
    // Pending (or ending) sockets: the event is dropped and its ack never called.
    if (!conn.authenticated) return;
    // The authorization layer, when attached, decides before any app handler sees the event.
    if (eventGate !== undefined && !eventGate.admit(this, packet, dispatchEvent)) return;
    dispatchEvent(this, packet);
  };

  const onConnect = (socket: Socket): void => {
    wiring.decided(socket, true);
    let conn = connectionOf(socket);
    if (conn === undefined && socket.recovered) conn = adoptRecovered(socket);
    if (conn === undefined || conn.state === 'closed') {
      if (conn === undefined) logger.warn({ socketId: socket.id }, 'portcullis: socket connected without passing the guard');
      socket.disconnect(true);
      return;
    }
    socket.on('disconnect', onSocketDisconnect);
    if (conn.pending) {
      // Out of nsp.sockets until admitted, so no broadcast finds it.
      isolate(socket);
      if (config.announce)
        emitToIsolated(socket, events.required, { timeoutMs: guard.options.timeoutMs === false ? null : guard.options.timeoutMs });
    }
    // Intercept before Socket.IO's own dispatch: `onAny` listeners run before
    // socket middlewares, so `socket.use` alone would leak pending events and credentials.
    interceptEvents(socket, guardedOnevent);
    // Authenticated by its CONNECT (or restored by state recovery): announced now it is connected.
    if (conn.authenticated) announce(socket);
  };

  /** A socket restored by connection state recovery with `skipMiddlewares`: its principal was re-checked before. */
  function adoptRecovered(socket: Socket): Connection | undefined {
    const principal = socket.data?.principal as unknown;
    if (!isPrincipal(principal)) return undefined;
    const request = {
      id: socket.id,
      transport: 'socket.io',
      namespace: socket.nsp.name,
      address: admission.addressOf(socket.request),
      socket,
    } as const;
    return admission.resume(request, principal, new SocketIoDriver(socket, undefined, config, announce));
  }

  const wiring = createNamespaceWiring(server, guard, middleware, onConnect, () => eventGate !== undefined);
  const detachers: (() => void)[] = [() => wiring.detach()];
  if (isServer(target)) {
    const engine = engineOf(target);
    if (engine !== undefined) {
      detachers.push(installPreflight(engine, admission));
      idle = createIdleSlots(target, guard, admission);
      detachers.push(idle.detach);
    } else
      logger.warn(
        {},
        'portcullis: the Socket.IO server is not attached to an HTTP server yet; checks run in the namespace middleware only',
      );
    detachers.push(eachNamespace(target, (nsp) => wiring.attach(nsp, false)));
  } else {
    wiring.attach(target, true);
  }

  const detach = (): void => {
    for (const d of detachers.splice(0).reverse()) d();
  };

  const sioGuard: SocketIoGuard = {
    guard,
    on(_event, listener) {
      listeners.add(listener as AuthenticatedListener);
      return sioGuard;
    },
    off(_event, listener) {
      listeners.delete(listener as AuthenticatedListener);
      return sioGuard;
    },
    principalOf(socket) {
      const conn = connectionOf(socket);
      return conn?.authenticated === true ? conn.principal : undefined;
    },
    isAuthenticated(socket) {
      return connectionOf(socket)?.authenticated === true;
    },
    revoke(revokeTarget, revokeOptions) {
      return guard.revoke(revokeTarget, revokeOptions);
    },
    detach,
    async close() {
      detach();
      await guard.close();
    },
    [kEventGate](gate) {
      eventGate = gate;
    },
  };
  return sioGuard;
}
