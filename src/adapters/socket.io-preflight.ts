/**
 * Checks made before Socket.IO's engine accepts a new connection: Origin, TLS,
 * the pending budget and the handshake rate. A refusal is a plain HTTP response
 * (status of the code, JSON body, `Retry-After` on 429) written before any
 * Engine.IO handshake or WebSocket upgrade, so an over-limit attempt costs a
 * small fraction of a normal handshake.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server } from 'socket.io';
import { refuseRequest, writeRefusal } from '../core/http-refusal.js';
import type { AuthError } from '../errors.js';
import { toAuthError } from '../errors.js';

/** True for requests of an existing Engine.IO session (polling requests, transport upgrades). */
function hasSid(url: string | undefined): boolean {
  return url !== undefined && /[?&]sid=/.test(url);
}

/**
 * Wraps the engine's request and upgrade handlers of `io` with `preflight`.
 * Returns a function that restores them.
 */
export function installPreflight(
  io: Server,
  preflight: (req: IncomingMessage) => Promise<void> | undefined,
  onRefused: (req: IncomingMessage, error: AuthError) => void,
): () => void {
  const engine = io.engine as unknown as {
    handleRequest(req: IncomingMessage, res: ServerResponse): void;
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  };
  const originalRequest = engine.handleRequest;
  const originalUpgrade = engine.handleUpgrade;
  const run = (req: IncomingMessage, pass: () => void, refuse: (error: AuthError) => void): void => {
    let pending: Promise<void> | undefined;
    try {
      pending = preflight(req);
    } catch (err) {
      const error = toAuthError(err);
      onRefused(req, error);
      refuse(error);
      return;
    }
    if (pending === undefined) {
      pass();
      return;
    }
    pending.then(pass, (err: unknown) => {
      const error = toAuthError(err);
      onRefused(req, error);
      refuse(error);
    });
  };
  const handleRequest = function (this: unknown, req: IncomingMessage, res: ServerResponse): void {
    // Only the request opening a new session is checked (not CORS preflights or later polls).
    if (req.method !== 'GET' || hasSid(req.url)) {
      originalRequest.call(engine, req, res);
      return;
    }
    run(
      req,
      () => originalRequest.call(engine, req, res),
      (error) => refuseRequest(res, error),
    );
  };
  const handleUpgrade = function (this: unknown, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (hasSid(req.url)) {
      originalUpgrade.call(engine, req, socket, head);
      return;
    }
    run(
      req,
      () => originalUpgrade.call(engine, req, socket, head),
      (error) => {
        socket.on('error', () => socket.destroy());
        writeRefusal(socket, error);
      },
    );
  };
  engine.handleRequest = handleRequest;
  engine.handleUpgrade = handleUpgrade;
  return () => {
    if (engine.handleRequest === handleRequest) engine.handleRequest = originalRequest;
    if (engine.handleUpgrade === handleUpgrade) engine.handleUpgrade = originalUpgrade;
  };
}
