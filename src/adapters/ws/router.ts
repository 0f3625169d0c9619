/**
 * Several guarded `ws` endpoints on one HTTP server: the `upgrade` event is
 * dispatched on the exact request path; an unknown path is refused with `404`
 * before any upgrade.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { writeStatus } from '../../core/http-refusal.js';
import type { WsGuard } from './guard.js';
import { kHandleAt } from './guard.js';
import { pathnameOf } from './upgrade.js';

/** Options of {@link createWsRouter}. */
export interface WsRouterOptions {
  /**
   * What to do with an upgrade for a path no route serves: `'reject'` answers
   * `404 Not Found` and closes the socket; `'ignore'` leaves it to the server's
   * other `upgrade` listeners (e.g. Socket.IO on the same server), which must
   * then answer it; `'auto'` rejects unless the server has other `upgrade` listeners.
   * @default 'auto'
   */
  unknownPath?: 'reject' | 'ignore' | 'auto';
}

/** A path → guard dispatcher. */
export interface WsRouter {
  /** The `upgrade` handler (usable directly when no server was given). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Stops listening on the server given to {@link createWsRouter}. Guards are not closed. */
  detach(): void;
}

/**
 * Routes upgrades by exact path (the part of the URL before `?`) to `ws` guards.
 * A guard's `path`, when set, must equal its route; otherwise the route becomes
 * the connection's namespace. Attaches to `server` when one is given. Throws
 * `TypeError` on an invalid route table.
 */
export function createWsRouter(
  server: HttpServer | HttpsServer | undefined,
  routes: Readonly<Record<string, WsGuard>>,
  options: WsRouterOptions = {},
): WsRouter {
  const table = new Map<string, WsGuard>();
  for (const [path, guard] of Object.entries(routes)) {
    if (!path.startsWith('/') || path.includes('?'))
      throw new TypeError(`portcullis: route "${path}" must start with '/' and have no query`);
    if (typeof guard?.[kHandleAt] !== 'function') throw new TypeError(`portcullis: route "${path}" needs a guard from createWsGuard`);
    if (guard.path !== undefined && guard.path !== path) {
      throw new TypeError(`portcullis: route "${path}" maps to a guard whose path is "${guard.path}"`);
    }
    table.set(path, guard);
  }
  if (table.size === 0) throw new TypeError('portcullis: createWsRouter needs at least one route');
  const unknownPath = options.unknownPath ?? 'auto';
  if (unknownPath !== 'reject' && unknownPath !== 'ignore' && unknownPath !== 'auto') {
    throw new TypeError("portcullis: unknownPath must be 'reject', 'ignore' or 'auto'");
  }

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = pathnameOf(req.url);
    const guard = table.get(path);
    if (guard !== undefined) {
      guard[kHandleAt](req, socket, head, path);
      return;
    }
    const others = server !== undefined && server.listenerCount('upgrade') > 1;
    if (unknownPath === 'reject' || (unknownPath === 'auto' && !others)) {
      socket.on('error', () => socket.destroy());
      writeStatus(socket, 404);
    }
  };
  server?.on('upgrade', handleUpgrade);
  return {
    handleUpgrade,
    detach() {
      server?.off('upgrade', handleUpgrade);
    },
  };
}
