/**
 * Demo users with real password hashing (`node:crypto` scrypt, a random salt per
 * user, a constant-time comparison), and signed session cookies.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** A demo account. The passwords are printed by `npm run demo`: they are demo passwords. */
export interface DemoUser {
  readonly name: string;
  readonly role: 'user' | 'admin';
  readonly password: string;
}

export const DEMO_USERS: readonly DemoUser[] = [
  { name: 'alice', role: 'user', password: 'wonderland' },
  { name: 'bob', role: 'user', password: 'builder' },
  { name: 'admin', role: 'admin', password: 'portcullis' },
];

interface StoredUser {
  readonly name: string;
  readonly role: 'user' | 'admin';
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const KEY_LEN = 32;
/** scrypt cost: N = 2^14, r = 8, p = 1 (≈ 16 MiB, tens of ms per check). */
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

function hashPassword(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LEN, SCRYPT, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** The user table: only salts and hashes are kept. */
export interface UserTable {
  /** Resolves the user when the password matches; `undefined` otherwise (same work either way). */
  verify(name: string, password: string): Promise<{ name: string; role: 'user' | 'admin' } | undefined>;
  roleOf(name: string): 'user' | 'admin' | undefined;
}

/** Hashes the demo users' passwords (once, at start). */
export async function createUserTable(users: readonly DemoUser[] = DEMO_USERS): Promise<UserTable> {
  const table = new Map<string, StoredUser>();
  for (const u of users) {
    const salt = randomBytes(16);
    table.set(u.name, { name: u.name, role: u.role, salt, hash: await hashPassword(u.password, salt) });
  }
  // Unknown names are checked against a dummy hash, so they take as long as known ones.
  const dummy = { salt: randomBytes(16), hash: randomBytes(KEY_LEN) };
  return {
    async verify(name, password) {
      if (typeof name !== 'string' || typeof password !== 'string' || password.length > 256) return undefined;
      const user = table.get(name);
      const hash = await hashPassword(password, (user ?? dummy).salt);
      const ok = timingSafeEqual(hash, (user ?? dummy).hash);
      return ok && user !== undefined ? { name: user.name, role: user.role } : undefined;
    },
    roleOf(name) {
      return table.get(name)?.role;
    },
  };
}

/** What a session cookie says. */
export interface Session {
  /** The user name. */
  readonly user: string;
  /** The session id (revocation by `sessionId` and logout use it). */
  readonly sid: string;
  /** Login time, epoch ms. */
  readonly iat: number;
}

/** Session cookies signed with HMAC-SHA256: stateless, so they survive a restart that keeps the key. */
export interface SessionCookies {
  readonly name: string;
  issue(user: string, now: number): { session: Session; cookie: string };
  /** The verified session of `cookieHeader`, if any (signature and age checked). */
  read(cookieHeader: string | undefined, now: number): Session | undefined;
  /** A `Set-Cookie` value that clears the cookie. */
  readonly clear: string;
}

export function createSessionCookies(key: Uint8Array, maxAgeSec = 8 * 3600): SessionCookies {
  const name = 'pc_demo_session';
  const sign = (value: string): string => createHmac('sha256', key).update(value).digest('base64url');
  const attrs = `Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}`;
  return {
    name,
    issue(user, now) {
      const session: Session = { user, sid: randomBytes(12).toString('base64url'), iat: now };
      const value = Buffer.from(JSON.stringify(session)).toString('base64url');
      return { session, cookie: `${name}=${value}.${sign(value)}; ${attrs}` };
    },
    read(cookieHeader, now) {
      const raw = cookieHeader
        ?.split(';')
        .map((c) => c.trim())
        .find((c) => c.startsWith(`${name}=`))
        ?.slice(name.length + 1);
      const [value, mac] = raw?.split('.') ?? [];
      if (value === undefined || mac === undefined) return undefined;
      const expected = Buffer.from(sign(value));
      const given = Buffer.from(mac);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
      try {
        const s = JSON.parse(Buffer.from(value, 'base64url').toString()) as Partial<Session>;
        if (typeof s.user !== 'string' || typeof s.sid !== 'string' || typeof s.iat !== 'number') return undefined;
        if (now - s.iat > maxAgeSec * 1000) return undefined;
        return { user: s.user, sid: s.sid, iat: s.iat };
      } catch {
        return undefined;
      }
    },
    clear: `${name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`,
  };
}
