/**
 * Which namespaces a Socket.IO guard covers, and what it installs in each: its
 * middleware (first, before any app middleware), its `connect` listener, the
 * check of connection state recovery, and the cleanup of the dynamic child
 * namespaces that refused CONNECTs created.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { Guard } from '../../core/guard.js';
import type { Principal } from '../../core/types.js';
import {
  childrenOf,
  hasMiddleware,
  isServer,
  namespacesOf,
  onNewNamespace,
  recoverySkipsMiddlewares,
  removeChildNamespace,
  removeMiddleware,
  useFirst,
  watchChildCreation,
  wrapRestoreSession,
} from './internals.js';

export type Middleware = ((socket: Socket, next: (err?: Error) => void) => void) & { readonly [MIDDLEWARE]: true };

/** Marks a portcullis middleware (a child namespace inherits its parent's). */
export const MIDDLEWARE = Symbol.for('portcullis.middleware');

/**
 * @internal Calls `fn` for every namespace of a `Server`, present and future (dynamic
 * children included), or once for a `Namespace`. Returns a function that stops
 * watching for new namespaces.
 */
export function eachNamespace(target: Server | Namespace, fn: (nsp: Namespace) => void): () => void {
  if (!isServer(target)) {
    fn(target);
    return () => {};
  }
  for (const nsp of namespacesOf(target)) fn(nsp);
  return onNewNamespace(target, fn);
}

export function isPrincipal(value: unknown): value is Principal {
  return typeof value === 'object' && value !== null && typeof (value as Principal).id === 'string' && (value as Principal).id !== '';
}

/** Which guard owns a namespace (an explicit guard on a namespace replaces the server's). */
const attached = new WeakMap<Namespace, { readonly owner: object; detach(): void }>();

/**
 * Dynamic child namespaces a CONNECT created that no socket ever connected to:
 * removed again when the CONNECT (and every other one still deciding there) is refused.
 */
const unclaimed = new WeakMap<Namespace, number>();

/** What one guard installs in its namespaces. */
export interface NamespaceWiring {
  /** Attaches to a namespace (`explicit`: the guard was created for it). */
  attach(nsp: Namespace, explicit: boolean): void;
  /** A socket entered the middleware of `nsp`. */
  deciding(nsp: Namespace): void;
  /** A socket of `nsp` that entered the middleware connected (`true`) or was dropped without connecting. */
  decided(socket: Socket, connected: boolean): void;
  /** Removes everything installed. */
  detach(): void;
}

export function createNamespaceWiring(
  server: Server,
  guard: Guard,
  middleware: Middleware,
  onConnect: (socket: Socket) => void,
  declineRecovery: () => boolean = () => false,
): NamespaceWiring {
  const owner = {};
  const detachers: (() => void)[] = [];

  /**
   * Connection state recovery restores rooms, data and missed packets before any
   * middleware runs (and skips middlewares altogether with `skipMiddlewares`), so
   * the check happens here: a session whose principal expired or was revoked is not
   * restored, and the client goes through a fresh, verified handshake instead.
   * With an authorization attached (`declineRecovery`), no session is restored: its
   * rooms and missed packets come from memberships the room policy may have ended
   * meanwhile, and a restored socket would skip the authorization's admission.
   * Nor without `skipMiddlewares`: Socket.IO then joins the restored rooms and writes
   * the missed packets before any middleware has verified the client's credentials,
   * so a client with a session id and invalid (or someone else's) credentials would
   * receive them before its refusal. With `skipMiddlewares`, the session id is the
   * credential (Socket.IO's design) and the principal it restores is re-checked here.
   */
  const guardRecovery = (nsp: Namespace): (() => void) =>
    wrapRestoreSession(nsp, (original) => async (pid, offset) => {
      if (declineRecovery() || !recoverySkipsMiddlewares(server)) return null;
      const session = await original(pid, offset);
      if (session === null || session === undefined) return null;
      const principal = session.data?.principal;
      if (!isPrincipal(principal)) return null;
      if (principal.expiresAt !== undefined && principal.expiresAt <= guard.clock.now()) return null;
      try {
        if (await guard.isRevoked(principal)) return null;
      } catch {
        return null; // store down: no recovery, a full handshake decides
      }
      return session;
    });

  detachers.push(
    watchChildCreation(server, (child) => {
      if (!unclaimed.has(child)) unclaimed.set(child, 0);
    }),
  );

  const attach = (nsp: Namespace, explicit: boolean): void => {
    const existing = attached.get(nsp);
    if (existing !== undefined) {
      if (!explicit || existing.owner === owner) return;
      existing.detach();
    }
    // A child of a guarded parent namespace inherits the parent's middleware.
    if (!explicit && hasMiddleware(nsp, (fn) => typeof fn === 'function' && MIDDLEWARE in fn)) return;
    useFirst(nsp, middleware);
    nsp.prependListener('connect', onConnect);
    const unguards = [guardRecovery(nsp)];
    // Children of a dynamic parent namespace get their own adapters: guard them as they appear.
    const children = childrenOf(nsp);
    const onChild = (child: Namespace): void => {
      if (children?.has(child)) unguards.push(guardRecovery(child));
    };
    const unwatch = children === undefined ? undefined : onNewNamespace(server, onChild);
    const detach = (): void => {
      for (const u of unguards.splice(0)) u();
      unwatch?.();
      removeMiddleware(nsp, middleware);
      nsp.off('connect', onConnect);
      if (attached.get(nsp)?.owner === owner) attached.delete(nsp);
    };
    attached.set(nsp, { owner, detach });
    detachers.push(detach);
  };

  return {
    attach,
    deciding(nsp) {
      const n = unclaimed.get(nsp);
      if (n !== undefined) unclaimed.set(nsp, n + 1);
    },
    decided(socket, connected) {
      const nsp = socket.nsp;
      const n = unclaimed.get(nsp);
      if (n === undefined) return;
      if (connected) {
        unclaimed.delete(nsp); // the app's namespace from now on
        return;
      }
      // The last CONNECT deciding in a child it created was refused: nothing may stay behind.
      if (n > 1 || nsp.sockets.size > 0) unclaimed.set(nsp, n - 1);
      else if (removeChildNamespace(server, nsp)) unclaimed.delete(nsp);
    },
    detach() {
      for (const d of detachers.splice(0)) d();
    },
  };
}
