/**
 * The floor of a *stateful* guard on Socket.IO, written by hand with nothing but
 * Maps: what any middleware must keep per socket to offer what portcullis offers
 * (a handshake rate per address, a pending budget, a revocation lookup, a record
 * per connection indexed by id and by user so that a user can be kicked, a tag
 * on the socket, a `disconnect` listener to drop it, and an `onevent` hook to
 * intercept in-band refreshes). It verifies nothing (like the `none` strategy), or,
 * with `verify`, an HS256 JWT by the least checks an app would write: the pair with
 * a guarded server measures the library against the least code that does the same job.
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { Server, Socket } from 'socket.io';

const TAG = Symbol('record');

interface Rec {
  readonly id: string;
  readonly user: string;
  readonly ip: string;
}

type Tagged = Socket & { [TAG]?: Rec };

/**
 * The least an app can do to admit an HS256 JWT by hand, synchronously: the header's
 * `alg`, the HMAC (constant-time compare), `exp` and `sub`. Returns the user, or undefined.
 */
export function hs256Check(secret: Uint8Array): (auth: unknown) => string | undefined {
  const key = createSecretKey(secret);
  return (auth) => {
    const token = (auth as { token?: unknown } | null)?.token;
    if (typeof token !== 'string') return undefined;
    const [head = '', body = '', sig = ''] = token.split('.');
    try {
      if ((JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: unknown }).alg !== 'HS256') return undefined;
      const mac = createHmac('sha256', key).update(`${head}.${body}`).digest();
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== mac.length || !timingSafeEqual(given, mac)) return undefined;
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { exp?: unknown; sub?: unknown };
      if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now() || typeof claims.sub !== 'string') return undefined;
      return claims.sub;
    } catch {
      return undefined;
    }
  };
}

export function installStatefulBaseline(
  io: Server,
  options: { onevent: boolean; verify?: ((auth: unknown) => string | undefined) | undefined },
): void {
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
    const user = options.verify === undefined ? 'anyone' : options.verify(socket.handshake.auth);
    if (user === undefined) return next(new Error('invalid_credentials'));
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
