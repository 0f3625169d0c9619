/**
 * The floor of a *stateful* guard on Socket.IO, written by hand with nothing but
 * Maps: what any middleware must keep per socket to offer what portcullis offers
 * (a handshake rate per address, a pending budget, a revocation lookup, a record
 * per connection indexed by id and by user so that a user can be kicked, a tag
 * on the socket, a `disconnect` listener to drop it, and an `onevent` hook to
 * intercept in-band refreshes). It verifies nothing (like the `none` strategy):
 * the pair with a guarded server measures the library's machinery against the
 * least machinery that can do the same job.
 */
import type { Server, Socket } from 'socket.io';

const TAG = Symbol('record');

interface Rec {
  readonly id: string;
  readonly user: string;
  readonly ip: string;
}

type Tagged = Socket & { [TAG]?: Rec };

export function installStatefulBaseline(io: Server, options: { onevent: boolean }): void {
  const live = new Map<string, Rec>();
  const byUser = new Map<string, Rec | Set<Rec>>();
  const pendingByIp = new Map<string, number>();
  const rate = new Map<string, { n: number; reset: number }>();
  const revoked = new Map<string, number>();
  const pending = 0;

  function onDisconnect(this: Tagged): void {
    const rec = this[TAG];
    if (rec === undefined) return;
    live.delete(rec.id);
    const entry = byUser.get(rec.user);
    if (entry === rec) byUser.delete(rec.user);
    else if (entry instanceof Set) {
      entry.delete(rec);
      if (entry.size === 0) byUser.delete(rec.user);
    }
  }

  function onevent(this: Tagged, packet: { data?: unknown[] }): void {
    if (Array.isArray(packet.data) && packet.data[0] === 'authentication') return;
    (Object.getPrototypeOf(this) as { onevent: (p: unknown) => void }).onevent.call(this, packet);
  }

  io.use((socket, next) => {
    const ip = socket.handshake.address;
    const now = Date.now();
    let window = rate.get(ip);
    if (window === undefined || window.reset <= now) {
      window = { n: 0, reset: now + 10_000 };
      rate.set(ip, window);
    }
    if (++window.n > 100_000) return next(new Error('rate_limited'));
    if (pending >= 10_000 || (pendingByIp.get(ip) ?? 0) >= 50) return next(new Error('rate_limited'));
    // Decided in this tick: pending in and out at once, no deadline needed.
    const user = 'anyone';
    const until = revoked.get(user);
    if (until !== undefined && until > now) return next(new Error('revoked'));
    const rec: Rec = { id: socket.id, user, ip };
    live.set(rec.id, rec);
    const entry = byUser.get(user);
    if (entry === undefined) byUser.set(user, rec);
    else if (entry instanceof Set) entry.add(rec);
    else byUser.set(user, new Set([entry, rec]));
    (socket as Tagged)[TAG] = rec;
    socket.data.user = user;
    next();
  });
  io.on('connection', (socket: Socket) => {
    socket.on('disconnect', onDisconnect);
    if (options.onevent) (socket as unknown as { onevent: typeof onevent }).onevent = onevent;
  });
}
