/**
 * Idle Engine.IO connections: one that has sent no CONNECT yet holds a pending slot
 * (per IP and in all) from the engine's `connection` event until its first CONNECT
 * or its close, so a client cannot hold more of them than `maxPendingPerIp`; and
 * Socket.IO's own `connectTimeout` (45 s by default), which closes them, is lowered
 * to the guard's `timeoutMs`.
 */
import type { Server, Socket } from 'socket.io';
import type { Admission } from '../../core/admission.js';
import type { Guard } from '../../core/guard.js';
import { onEngineConnection } from './internals.js';

/** The pending-budget key of an Engine.IO connection's idle slot, until its first CONNECT (or its close). */
const kIdle = Symbol('portcullis.idle');
type Idle = { [kIdle]?: string | undefined };

export interface IdleSlots {
  /** The connection of `socket` made its first attempt: its slot goes back (once). */
  attempted(socket: Socket): void;
  /** Stops counting new connections. */
  detach(): void;
}

export function createIdleSlots(server: Server, guard: Guard, admission: Admission): IdleSlots {
  const release = (conn: Idle): void => {
    const key = conn[kIdle];
    if (key === undefined) return;
    conn[kIdle] = undefined;
    guard.releaseIdle(key);
  };
  /** Shared by every Engine.IO connection (`this` is the connection): no closure per connection. */
  function onClose(this: unknown): void {
    release(this as Idle);
  }
  const detach = onEngineConnection(server, (conn) => {
    (conn as unknown as Idle)[kIdle] = guard.holdIdle(admission.addressOf(conn.request).ip);
    // `on`, not `once`: `once` wraps each listener (a bound function and a state object per connection, about
    // 110 B, measured with bench/heap-profile.ts); `onClose` is idempotent and the connection closes once.
    conn.on('close', onClose);
  });
  const { timeoutMs } = guard.options;
  if (timeoutMs !== false && server.connectTimeout() > timeoutMs) server.connectTimeout(timeoutMs);
  return {
    attempted(socket) {
      release(socket.conn as unknown as Idle);
    },
    detach,
  };
}
