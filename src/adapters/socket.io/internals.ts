/**
 * Every use of Socket.IO and Engine.IO private API, in one place. Each function
 * names the private member it touches and is pinned by a test in
 * `test/adapters/socket.io-internals.test.ts` (run against 4.6, 4.7 and 4.8 by
 * `npm run test:socket.io-matrix`), so a Socket.IO release that changes one of
 * them fails a test here rather than weakening the guard.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Namespace, Server, Socket } from 'socket.io';

type Middleware = (socket: Socket, next: (err?: Error) => void) => void;

interface ServerPrivate {
  _nsps?: Map<string, Namespace>;
  parentNsps?: Map<unknown, Namespace & { children?: Set<Namespace> }>;
  _checkNamespace?: (name: string, auth: unknown, fn: (nsp: Namespace | false) => void) => void;
  engine?: EnginePrivate;
}

/** The Engine.IO server's request entry points (`handleRequest`, `handleUpgrade`) and its query parser (`prepare`). */
export interface EnginePrivate {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  prepare?(req: IncomingMessage): void;
}

// ── Server ────────────────────────────────────────────────────────────────────

/** True for a `Server` (it has a namespace map `_nsps`), false for a `Namespace`. */
export function isServer(target: Server | Namespace): target is Server {
  return typeof (target as Server).of === 'function' && (target as unknown as ServerPrivate)._nsps instanceof Map;
}

/** The namespaces of `server` that exist now (`_nsps`). */
export function namespacesOf(server: Server): Namespace[] {
  return [...((server as unknown as ServerPrivate)._nsps?.values() ?? [])];
}

/** Calls `fn` for every namespace created from now on (the reserved `new_namespace` event). Returns a stop function. */
export function onNewNamespace(server: Server, fn: (nsp: Namespace) => void): () => void {
  server.sockets.on('new_namespace' as never, fn as never);
  return () => server.sockets.off('new_namespace' as never, fn as never);
}

/** An Engine.IO connection, as the engine's `connection` event hands it. */
export interface EngineConnection {
  readonly request: IncomingMessage;
  on(event: 'close', listener: (this: unknown) => void): unknown;
}

/**
 * Calls `fn` for every new Engine.IO connection of `server` (the engine's public
 * `connection` event; here because it reaches into the engine). Returns a stop function.
 */
export function onEngineConnection(server: Server, fn: (conn: EngineConnection) => void): () => void {
  const engine = server.engine as unknown as {
    on(event: 'connection', listener: (conn: EngineConnection) => void): unknown;
    off(event: 'connection', listener: (conn: EngineConnection) => void): unknown;
  };
  engine.on('connection', fn);
  return () => engine.off('connection', fn);
}

/** The Engine.IO server of `server`, once it is attached to an HTTP server. */
export function engineOf(server: Server): EnginePrivate | undefined {
  return (server as unknown as ServerPrivate).engine;
}

/**
 * Replaces the engine's `handleRequest` and `handleUpgrade` (what `engine.attach`
 * calls for every request on its path). Returns a function that restores them.
 */
export function wrapEngineHandlers(
  engine: EnginePrivate,
  wrap: (original: Pick<EnginePrivate, 'handleRequest' | 'handleUpgrade'>) => Pick<EnginePrivate, 'handleRequest' | 'handleUpgrade'>,
): () => void {
  const original = { handleRequest: engine.handleRequest, handleUpgrade: engine.handleUpgrade };
  const bound = {
    handleRequest: (req: IncomingMessage, res: ServerResponse) => original.handleRequest.call(engine, req, res),
    handleUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => original.handleUpgrade.call(engine, req, socket, head),
  };
  const wrapped = wrap(bound);
  engine.handleRequest = wrapped.handleRequest;
  engine.handleUpgrade = wrapped.handleUpgrade;
  return () => {
    if (engine.handleRequest === wrapped.handleRequest) engine.handleRequest = original.handleRequest;
    if (engine.handleUpgrade === wrapped.handleUpgrade) engine.handleUpgrade = original.handleUpgrade;
  };
}

/**
 * True when Engine.IO will open a new session for `req`, decided exactly as it
 * decides: its own `prepare` parses the query into `req._query` (the parser
 * differs between releases: the last of repeated `sid`s, or an array, `%73id`
 * decoded, a fragment ignored), then a falsy `sid` (absent, empty) means a new
 * session. Calling `prepare` first is harmless: it keeps an existing `_query`.
 */
export function isNewEngineSession(engine: EnginePrivate, req: IncomingMessage): boolean {
  const r = req as IncomingMessage & { _query?: Record<string, unknown> };
  if (typeof engine.prepare === 'function') engine.prepare(r);
  if (r._query === undefined) {
    // No parser of its own (never seen): the same reading as engine.io 6.5+.
    r._query = Object.fromEntries(new URL(req.url ?? '/', 'https://socket.io').searchParams.entries());
  }
  return !r._query.sid;
}

/**
 * Marks dynamic child namespaces created for a CONNECT (`_checkNamespace` found
 * no namespace of that name, and a parent created one): `created` sees each.
 * Returns a function that stops.
 */
export function watchChildCreation(server: Server, created: (nsp: Namespace) => void): () => void {
  const s = server as unknown as ServerPrivate;
  const original = s._checkNamespace;
  if (typeof original !== 'function') return () => {};
  const wrapped = function (this: unknown, name: string, auth: unknown, fn: (nsp: Namespace | false) => void): void {
    const existed = s._nsps?.has(name) === true;
    original.call(this, name, auth, (nsp) => {
      if (nsp !== false && !existed) created(nsp);
      fn(nsp);
    });
  };
  s._checkNamespace = wrapped;
  return () => {
    if (s._checkNamespace === wrapped) s._checkNamespace = original;
  };
}

/**
 * Forgets a dynamic child namespace: out of its parent's `children` and the
 * server's `_nsps`, its adapter closed (what `cleanupEmptyChildNamespaces` does).
 * False when `child` is no child of a parent namespace of `server`.
 */
export function removeChildNamespace(server: Server, child: Namespace): boolean {
  const s = server as unknown as ServerPrivate;
  for (const parent of s.parentNsps?.values() ?? []) {
    if (parent.children?.delete(child) !== true) continue;
    if (s._nsps?.get(child.name) === child) s._nsps.delete(child.name);
    void child.adapter.close();
    return true;
  }
  return false;
}

// ── Namespace ─────────────────────────────────────────────────────────────────

/** The dynamic children of a parent namespace (`children`), or `undefined` for a plain namespace. */
export function childrenOf(nsp: Namespace): ReadonlySet<Namespace> | undefined {
  return (nsp as unknown as { children?: Set<Namespace> }).children;
}

/** The middleware list of a namespace (`_fns`). */
function middlewares(nsp: Namespace): unknown[] | undefined {
  const fns = (nsp as unknown as { _fns?: unknown })._fns;
  return Array.isArray(fns) ? fns : undefined;
}

/** True when a middleware of `nsp` satisfies `test` (a child inherits its parent's middlewares). */
export function hasMiddleware(nsp: Namespace, test: (fn: unknown) => boolean): boolean {
  return middlewares(nsp)?.some(test) === true;
}

/** Adds `fn` as the namespace's first middleware, so it runs before any app middleware sees the handshake. */
export function useFirst(nsp: Namespace, fn: Middleware): void {
  nsp.use(fn);
  const fns = middlewares(nsp);
  if (fns !== undefined && fns[fns.length - 1] === fn) fns.unshift(fns.pop());
}

/** Removes `fn` from the namespace's middlewares. */
export function removeMiddleware(nsp: Namespace, fn: Middleware): void {
  const fns = middlewares(nsp);
  const i = fns?.indexOf(fn) ?? -1;
  if (fns !== undefined && i !== -1) fns.splice(i, 1);
}

interface RestoredSession {
  data?: { principal?: unknown };
}
type RestoreSession = (pid: string, offset: string) => Promise<RestoredSession | null>;

/**
 * Wraps the namespace adapter's `restoreSession` (connection state recovery
 * restores rooms and data before any middleware runs). Returns a restore function.
 */
export function wrapRestoreSession(nsp: Namespace, wrap: (original: RestoreSession) => RestoreSession): () => void {
  const adapter = nsp.adapter as unknown as { restoreSession?: RestoreSession };
  const original = adapter.restoreSession;
  if (typeof original !== 'function') return () => {};
  const wrapped = wrap((pid, offset) => original.call(adapter, pid, offset));
  adapter.restoreSession = wrapped;
  return () => {
    if (adapter.restoreSession === wrapped) adapter.restoreSession = original;
  };
}

// ── Socket ────────────────────────────────────────────────────────────────────

const kCleanup = Symbol('portcullis.cleanup');
type Cleaned = Socket & { [kCleanup]?: (socket: Socket) => void; _cleanup?: () => void };

/** One function for every socket: Socket.IO's own `_cleanup`, then the listener. */
function cleanupThenTell(this: Cleaned): void {
  (Object.getPrototypeOf(this) as { _cleanup: () => void })._cleanup.call(this);
  this[kCleanup]?.(this);
}

/**
 * Calls `listener` when Socket.IO cleans `socket` up (`_cleanup`): a socket that
 * never connects (a middleware refused it, its client left while one ran) ends
 * there and nowhere else; no event tells. A connected socket passes there too
 * while disconnecting (4.7+). No closure per socket: two properties.
 */
export function onCleanup(socket: Socket, listener: (socket: Socket) => void): void {
  const s = socket as Cleaned;
  s[kCleanup] = listener;
  s._cleanup = cleanupThenTell;
}

/** An EVENT packet as Socket.IO hands it to `onevent`. */
export interface EventPacket {
  data?: unknown[];
  id?: number;
}
/** A replacement of `socket.onevent`, called with the socket as `this`. */
export type OneventHandler = (this: Socket, packet: EventPacket) => void;

/**
 * Replaces the socket's `onevent` (where an EVENT packet enters, before `onAny`
 * listeners and socket middlewares), so no app code sees a pending socket's events.
 */
export function interceptEvents(socket: Socket, handler: OneventHandler): void {
  (socket as unknown as { onevent: OneventHandler }).onevent = handler;
}

/** Hands an EVENT packet to Socket.IO's own `onevent` (the app's listeners). */
export function dispatchEvent(socket: Socket, packet: EventPacket): void {
  (Object.getPrototypeOf(socket) as { onevent: OneventHandler }).onevent.call(socket, packet);
}

/** Takes a connected socket out of `nsp.sockets`: no namespace, room or cluster broadcast finds it. */
export function isolate(socket: Socket): void {
  socket.nsp.sockets.delete(socket.id);
}

/** Makes an isolated, connected socket a member again. */
export function unisolate(socket: Socket): void {
  if (socket.connected) socket.nsp.sockets.set(socket.id, socket);
}

/**
 * `socket.emit` that reaches an isolated socket too. With connection state recovery on, Socket.IO sends every
 * `socket.emit` through the adapter (`broadcast` to the socket's own room, so the packet is stored for recovery),
 * and the adapter looks the socket up in `nsp.sockets`, where an isolated one is not: the packet would be dropped.
 * The socket is a member for the synchronous emit only; no broadcast can run in between.
 */
export function emitToIsolated(socket: Socket, event: string, ...args: unknown[]): void {
  const sockets = socket.nsp.sockets;
  if (!socket.connected || sockets.get(socket.id) === socket) {
    socket.emit(event, ...args);
    return;
  }
  sockets.set(socket.id, socket);
  try {
    socket.emit(event, ...args);
  } finally {
    if (sockets.get(socket.id) === socket) sockets.delete(socket.id);
  }
}

/** Whether the server skips middlewares for a session restored by connection state recovery (`server.opts`). */
export function recoverySkipsMiddlewares(server: Server): boolean {
  const opts = (server as unknown as { opts?: { connectionStateRecovery?: { skipMiddlewares?: boolean } } }).opts;
  return opts?.connectionStateRecovery?.skipMiddlewares === true;
}

/** How many Socket.IO sockets share the socket's Engine.IO connection (`client.sockets`), itself included. */
export function socketsOnConnection(socket: Socket): number {
  return (socket.client as unknown as { sockets?: Map<string, Socket> }).sockets?.size ?? 1;
}
