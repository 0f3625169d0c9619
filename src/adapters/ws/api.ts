/**
 * The public face of a `ws` guard: its type, its stats and its `connection` listener.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Guard, RevokeTarget } from '../../core/guard.js';
import type { Principal } from '../../core/types.js';
import type { Hub } from './hub.js';
import type { WsConnectionInfo } from './session.js';

/** Listener of the `connection` event: an authenticated socket for the application. */
export type WsConnectionListener = (ws: WebSocket, principal: Principal, info: WsConnectionInfo) => void;

/** Live counts of a `ws` guard. */
export interface WsGuardStats {
  /** Upgrades not completed yet (credentials being verified, no WebSocket yet); counted in `pending` too. */
  readonly upgrading: number;
  /** Pending connections: upgrading, or upgraded and waiting for their first `authenticate` frame. */
  readonly pending: number;
  /** Authenticated sockets. */
  readonly authenticated: number;
  /** Sockets the guard still tracks (pending, authenticated and closing). */
  readonly sockets: number;
}

/** @internal Lets `createWsRouter` pass the matched route as the namespace. */
export const kHandleAt: unique symbol = Symbol('portcullis.ws.handleAt');

/** A guarded `ws` endpoint. */
export interface WsGuard {
  /** The transport-agnostic guard (stats, connections, verification). */
  readonly guard: Guard;
  /** Authenticated sockets, by principal and room. */
  readonly hub: Hub;
  /** The `ws` server performing upgrades. */
  readonly wss: WebSocketServer;
  /** The path this guard serves, if restricted to one. */
  readonly path: string | undefined;
  readonly stats: WsGuardStats;
  /** The `upgrade` handler: `server.on('upgrade', wsGuard.handleUpgrade)` (bound; safe to pass around). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Listens for `upgrade` on `server`; returns a function that stops listening.
   * With a `path`, upgrades for other paths are answered `404` when this is the
   * server's only `upgrade` listener, and left alone otherwise (Socket.IO or
   * another guard on the same server answers them).
   */
  attach(server: HttpServer | HttpsServer): () => void;
  /** `connection`: fired once per socket, only after it authenticated. */
  on(event: 'connection', listener: WsConnectionListener): this;
  off(event: 'connection', listener: WsConnectionListener): this;
  /**
   * Revokes on every node sharing the store (see `Guard.revoke`): matching sockets
   * close with `4403 revoked`, and the same credentials are refused for `ttlMs`.
   * Resolves how many local sockets closed.
   */
  revoke(target: RevokeTarget, options?: { ttlMs?: number }): Promise<number>;
  /** Refuses new upgrades (503), closes every socket (1001), stops timers. */
  close(): Promise<void>;
  /** @internal */
  [kHandleAt](req: IncomingMessage, socket: Duplex, head: Buffer, route: string | undefined): void;
}
