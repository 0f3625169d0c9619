/**
 * `sioGuard.on('connection')`: hands the app each socket once, when it is connected
 * and authenticated (at connect in handshake mode, after its first accepted
 * `authentication` otherwise), never a pending one. A listener that throws or
 * rejects is logged; the others still run.
 */
import type { Socket } from 'socket.io';
import { describeError } from '../../core/logger.js';
import type { Logger } from '../../core/types.js';
import { connectionOf } from './driver.js';
import type { AuthenticatedListener, AuthenticatedSocket } from './options.js';

export interface Announcer {
  readonly listeners: Set<AuthenticatedListener>;
  /** Hands `socket` to the listeners if it is authenticated and was not handed over yet. */
  announce(socket: Socket): void;
}

type Flagged = Socket & { [key: symbol]: unknown };

export function createAnnouncer(logger: Logger): Announcer {
  const listeners = new Set<AuthenticatedListener>();
  /** Announced sockets carry this flag (a property, not a `WeakSet`: its table grew by about 60 B per socket). */
  const kAnnounced = Symbol('portcullis.announced');
  const failed = (socket: Socket, err: unknown): void => {
    logger.error({ socketId: socket.id, namespace: socket.nsp.name, ...describeError(err) }, 'portcullis: a connection listener threw');
  };
  return {
    listeners,
    announce(socket) {
      if ((socket as Flagged)[kAnnounced] === true) return;
      const conn = connectionOf(socket);
      if (conn?.authenticated !== true || conn.principal === undefined) return;
      (socket as Flagged)[kAnnounced] = true;
      const { principal } = conn;
      for (const listener of [...listeners]) {
        try {
          const result = listener(socket as AuthenticatedSocket, principal);
          if (result instanceof Promise) result.catch((err: unknown) => failed(socket, err));
        } catch (err) {
          failed(socket, err);
        }
      }
    },
  };
}
