/**
 * The floor of a *stateful* guard on Socket.IO, written by hand with nothing but
 * Maps: what any middleware must keep per socket to offer what portcullis offers
 * (a handshake rate per address, a pending budget, a revocation lookup, a record
 * per connection indexed by id and by user so that a user can be kicked, a tag
 * on the socket, a `disconnect` listener to drop it, and an `onevent` hook to
 * intercept in-band refreshes). It verifies nothing (like the `none` strategy), or,
 * with `verify`, an HS256 JWT by the least checks an app would write: the pair with
 * a guarded server measures the library against the least code that does the same job.
 *
 * With `features`, it also does by hand, in the least code, what a guarded HS256
 * handshake does beyond that floor: the Origin check, the handshake rate and the
 * pending budget before the engine handshake (Socket.IO's `allowRequest`), a
 * failed-attempt lockout lookup, `nbf`, revocation lookups and indexes by session and
 * token id as well as by user, and the expiry of a socket whose token expires while it
 * is connected (one timer per socket, the usual hand-written way).
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Server, Socket } from 'socket.io';

const TAG = Symbol('record');

/** What the hand-written check reads from a token. */
export interface HandClaims {
  readonly sub: string;
  readonly sid: string | undefined;
  readonly jti: string | undefined;
  /** Expiry, epoch seconds. */
  readonly exp: number;
}

interface Rec {
  readonly id: string;
  readonly user: string;
  readonly ip: string;
  readonly sid: string | undefined;
  readonly jti: string | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

type Tagged = Socket & { [TAG]?: Rec };

/**
 * The least an app can do to admit an HS256 JWT by hand, synchronously: the header's
 * `alg`, the HMAC (constant-time compare), `exp`, `nbf` (when present) and `sub`.
 * Returns the claims it read, or undefined.
 */
export function hs256Check(secret: Uint8Array): (auth: unknown) => HandClaims | undefined {
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
      const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
      const now = Date.now() / 1000;
      const { exp, nbf, sub, sid, jti } = claims;
      if (typeof exp !== 'number' || exp <= now || typeof sub !== 'string') return undefined;
      if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) return undefined;
      return { sub, sid: typeof sid === 'string' ? sid : undefined, jti: typeof jti === 'string' ? jti : undefined, exp };
    } catch {
      return undefined;
    }
  };
}

type Index = Map<string, Rec | Set<Rec>>;

function indexAdd(index: Index, key: string | undefined, rec: Rec): void {
  if (key === undefined) return;
  const entry = index.get(key);
  if (entry === undefined) index.set(key, rec);
  else if (entry instanceof Set) entry.add(rec);
  else index.set(key, new Set([entry, rec]));
}

function indexDelete(index: Index, key: string | undefined, rec: Rec): void {
  if (key === undefined) return;
  const entry = index.get(key);
  if (entry === rec) index.delete(key);
  else if (entry instanceof Set) {
    entry.delete(rec);
    if (entry.size === 0) index.delete(key);
  }
}

/** Same-origin, as an app writes it: the Origin's host is the Host header, over the same scheme. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
    return url.host === req.headers.host && url.protocol === (secure ? 'https:' : 'http:');
  } catch {
    return false;
  }
}

export function installStatefulBaseline(
  io: Server,
  options: { onevent: boolean; verify?: ((auth: unknown) => HandClaims | undefined) | undefined; features?: boolean },
): void {
  const features = options.features === true;
  const live = new Map<string, Rec>();
  const byUser: Index = new Map();
  const bySession: Index = new Map();
  const byToken: Index = new Map();
  const pendingByIp = new Map<string, number>();
  const rate = new Map<string, { n: number; reset: number }>();
  const failures = new Map<string, { n: number; reset: number }>();
  const revoked = new Map<string, number>();
  const pending = 0;

  /** The handshake rate and the pending budget of `ip`: true when it may go on. */
  const admit = (ip: string, now: number): boolean => {
    let window = rate.get(ip);
    if (window === undefined || window.reset <= now) {
      window = { n: 0, reset: now + 10_000 };
      rate.set(ip, window);
    }
    if (++window.n > 100_000) return false;
    return pending < 10_000 && (pendingByIp.get(ip) ?? 0) < 50;
  };

  if (features) {
    // Before the engine handshake, as portcullis does: a refusal costs no Engine.IO session.
    (io.engine as unknown as { opts: { allowRequest?: unknown } }).opts.allowRequest = (
      req: IncomingMessage,
      callback: (err: string | null | undefined, success: boolean) => void,
    ) => {
      const ip = req.socket.remoteAddress ?? '';
      callback(null, sameOrigin(req) && admit(ip, Date.now()));
    };
  }

  function drop(rec: Rec): void {
    live.delete(rec.id);
    indexDelete(byUser, rec.user, rec);
    indexDelete(bySession, rec.sid, rec);
    indexDelete(byToken, rec.jti, rec);
    if (rec.timer !== undefined) clearTimeout(rec.timer);
  }

  function onDisconnect(this: Tagged): void {
    const rec = this[TAG];
    if (rec !== undefined) drop(rec);
  }

  function onevent(this: Tagged, packet: { data?: unknown[] }): void {
    if (Array.isArray(packet.data) && packet.data[0] === 'authentication') return;
    (Object.getPrototypeOf(this) as { onevent: (p: unknown) => void }).onevent.call(this, packet);
  }

  const isRevoked = (key: string | undefined, now: number): boolean => {
    if (key === undefined) return false;
    const until = revoked.get(key);
    return until !== undefined && until > now;
  };

  io.use((socket, next) => {
    const ip = socket.handshake.address;
    const now = Date.now();
    if (!features && !admit(ip, now)) return next(new Error('rate_limited'));
    if (features) {
      const failed = failures.get(ip);
      if (failed !== undefined && failed.reset > now && failed.n >= 100) return next(new Error('rate_limited'));
    }
    // Decided in this tick: pending in and out at once, no deadline needed.
    const claims = options.verify === undefined ? undefined : options.verify(socket.handshake.auth);
    if (options.verify !== undefined && claims === undefined) {
      if (features) {
        const failed = failures.get(ip);
        if (failed === undefined || failed.reset <= now) failures.set(ip, { n: 1, reset: now + 600_000 });
        else failed.n++;
      }
      return next(new Error('invalid_credentials'));
    }
    const user = claims?.sub ?? 'anyone';
    const sid = features ? claims?.sid : undefined;
    const jti = features ? claims?.jti : undefined;
    if (isRevoked(user, now) || isRevoked(sid, now) || isRevoked(jti, now)) return next(new Error('revoked'));
    const rec: Rec = { id: socket.id, user, ip, sid, jti, timer: undefined };
    live.set(rec.id, rec);
    indexAdd(byUser, user, rec);
    indexAdd(bySession, sid, rec);
    indexAdd(byToken, jti, rec);
    if (features && claims !== undefined) {
      rec.timer = setTimeout(() => socket.disconnect(true), claims.exp * 1000 - now);
      rec.timer.unref();
    }
    (socket as Tagged)[TAG] = rec;
    socket.data.user = user;
    next();
  });
  io.on('connection', (socket: Socket) => {
    socket.on('disconnect', onDisconnect);
    if (options.onevent) (socket as unknown as { onevent: typeof onevent }).onevent = onevent;
  });
}
