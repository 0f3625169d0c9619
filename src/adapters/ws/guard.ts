/**
 * `createWsGuard`: the `ws` adapter. It runs in the HTTP server's `upgrade`
 * handler and hands every upgrade to the core's admission (Origin, TLS, budgets,
 * handshake rate, upgrade-carried credentials) before any `101` (a refusal is an
 * HTTP response); the verdict upgrades the socket authenticated, or pending until
 * its first `authenticate` frame (`session.ts`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { WebSocketServer } from 'ws';
import { createAdmission, Expect } from '../../core/admission.js';
import type { AttemptContext } from '../../core/connection.js';
import { createGuard } from '../../core/guard.js';
import { writeRefusal, writeStatus } from '../../core/http-refusal.js';
import { describeError } from '../../core/logger.js';
import { snapshotRequest } from '../../core/request.js';
import type { Principal } from '../../core/types.js';
import { AuthError, toAuthError } from '../../errors.js';
import type { WsConnectionListener, WsGuard } from './api.js';
import { kHandleAt } from './api.js';
import { createHub } from './hub.js';
import type { WsGuardOptions } from './options.js';
import { resolveWsOptions } from './options.js';
import type { WsConnectionInfo } from './session.js';
import { WsSession } from './session.js';
import type { UpgradeCredentials } from './upgrade.js';
import { assertUpgradeRequest, pathnameOf, takeUpgradeCredentials } from './upgrade.js';

/** Creates a `ws` guard. Throws `TypeError` on invalid options. */
export function createWsGuard(options: WsGuardOptions): WsGuard {
  const cfg = resolveWsOptions(options);
  const guard = createGuard(options);
  const admission = createAdmission(guard, options);
  const { logger } = guard.options;
  const ownsWss = options.wss === undefined;
  const wss =
    options.wss ??
    new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: cfg.maxPayload,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (cfg.subprotocol !== undefined && protocols.has(cfg.subprotocol) ? cfg.subprotocol : false),
    });
  const hub = createHub();
  const sessions = new Set<WsSession>();
  const listeners = new Set<WsConnectionListener>();
  const detachers = new Set<() => void>();
  let closed = false;
  let onReleased: (() => void) | undefined;

  const host = {
    guard,
    admission,
    hub,
    sessions,
    closeTimeoutMs: cfg.closeTimeoutMs,
    wss,
    get closed() {
      return closed;
    },
    announce(socket: WebSocket, principal: Principal, info: WsConnectionInfo) {
      for (const listener of [...listeners]) {
        try {
          listener(socket, principal, info);
        } catch (err) {
          logger.error({ connectionId: info.id, ...describeError(err) }, 'portcullis: ws connection listener threw');
        }
      }
    },
    released() {
      if (sessions.size === 0) onReleased?.();
    },
  };

  function handle(req: IncomingMessage, socket: Duplex, head: Buffer, route: string | undefined, shared = false): void {
    const namespace = cfg.path ?? route ?? '/';
    if (cfg.path !== undefined && pathnameOf(req.url) !== cfg.path) {
      // Another `upgrade` listener on the same server (Socket.IO, another ws guard) may own that path.
      if (shared) return;
      socket.on('error', () => socket.destroy());
      writeStatus(socket, 404);
      return;
    }
    const address = admission.addressOf(req);
    let context: AttemptContext;
    let upgrade: UpgradeCredentials;
    try {
      if (closed) throw new AuthError('unavailable', { detail: 'ws guard closed', retryAfter: 1 });
      // Checked before credentials, so a malformed request never consumes a one-time ticket.
      assertUpgradeRequest(req);
      upgrade = takeUpgradeCredentials(req, cfg.ticketParam);
      context = snapshotRequest(req, address);
    } catch (err) {
      const error = toAuthError(err);
      guard.rejected(error, { phase: 'upgrade', transport: 'ws', namespace, ip: address.ip });
      socket.on('error', () => socket.destroy());
      writeRefusal(socket, error);
      return;
    }
    // Credentials that travel with the upgrade: bearer protocol, ticket, Authorization, cookie, client certificate.
    const carried =
      upgrade.explicit ||
      req.headers.authorization !== undefined ||
      req.headers.cookie !== undefined ||
      context.peerCertificate !== undefined;
    const expect =
      cfg.mode === 'message' || (cfg.mode === 'auto' && !carried)
        ? Expect.Message
        : // Only ambient credentials in auto mode: when no strategy recognises them, upgrade pending.
          cfg.mode === 'auto' && !upgrade.explicit
          ? Expect.Optional
          : Expect.Credentials;
    const id = randomUUID();
    const session = new WsSession(host, id, address.ip, namespace, context, socket, req, head);
    admission.admit(
      {
        id,
        transport: 'ws',
        namespace,
        req,
        address,
        carrier: session,
        phase: 'upgrade',
        credentials: upgrade.credentials,
        expect,
        context,
      },
      session,
    );
  }

  const api: WsGuard = {
    guard,
    hub,
    wss,
    path: cfg.path,
    get stats() {
      const { pending, authenticated } = guard.stats;
      let upgrading = 0;
      for (const session of sessions) if (session.upgrading) upgrading++;
      return { upgrading, pending, authenticated, sockets: sessions.size };
    },
    handleUpgrade(req, socket, head) {
      handle(req, socket, head, undefined);
    },
    [kHandleAt]: handle,
    attach(server) {
      const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void =>
        handle(req, socket, head, undefined, server.listenerCount('upgrade') > 1);
      server.on('upgrade', listener);
      const detach = (): void => {
        server.off('upgrade', listener);
        detachers.delete(detach);
      };
      detachers.add(detach);
      return detach;
    },
    on(event, listener) {
      if (event !== 'connection') throw new TypeError(`portcullis: unknown ws guard event ${String(event)}`);
      listeners.add(listener);
      return this;
    },
    off(event, listener) {
      if (event === 'connection') listeners.delete(listener);
      return this;
    },
    revoke(target, revokeOptions) {
      return guard.revoke(target, revokeOptions);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const detach of [...detachers]) detach();
      if (sessions.size > 0) {
        const done = new Promise<void>((resolve) => {
          onReleased = resolve;
        });
        for (const session of [...sessions]) session.shutdown();
        await done;
      }
      hub.clear();
      await guard.close();
      if (ownsWss) await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  return api;
}

export type { WsConnectionListener, WsGuard, WsGuardStats } from './api.js';
/** @internal */
export { kHandleAt } from './api.js';
