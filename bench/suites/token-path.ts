/**
 * Figure 2: the token path in-process, library vs the raw primitive it wraps:
 *
 * - JWT: the portcullis JWT strategy's `authenticate` (and the whole
 *   `guard.verify`: sanitising, failure lockout check, strategy, revocation
 *   lookup) vs `jose.jwtVerify(token, key, { algorithms })` with the same key
 *   material, as a `CryptoKey` imported once and as the strategy's `KeyObject`;
 * - tickets: `guard.verify` vs redeeming by hand;
 * - HMAC: the portcullis HMAC strategy (parse, canonical string, HMAC, constant-time
 *   compare, nonce remembered in the memory store) vs building the same canonical
 *   string, `createHmac` and `timingSafeEqual` by hand (no replay protection).
 *
 * Both sides run in batches of concurrent calls, alternating, and the CPU of the
 * whole process (`process.cpuUsage()`, which includes the WebCrypto thread pool)
 * is charged to each batch. The library is the compiled build the servers run
 * (see `lib/build.ts`), not the TypeScript sources.
 */
import { createHash, createHmac, createPublicKey, createSecretKey, type KeyObject, timingSafeEqual, webcrypto } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import type { AuthContext, Credentials, Store, Strategy } from '../../src/core/types.js';
import { compiled } from '../lib/build.js';
import { type HmacCredentials, hs256Key, type KeyMaterial, secretOf, signHmac, signTokens } from '../lib/credentials.js';
import { type Spread, spread } from '../lib/stats.js';

export interface TokenPathOptions {
  /** Measured rounds (each runs both sides once). */
  readonly rounds: number;
  /** Calls per side per round. */
  readonly perRound: number;
  /** Calls in flight at once. */
  readonly concurrency: number;
}

export interface TokenPathResult {
  readonly id: string;
  readonly label: string;
  /** raw µs per call / portcullis µs per call, per round. */
  readonly ratios: number[];
  readonly ratio: Spread;
  readonly rawUs: Spread;
  readonly libraryUs: Spread;
}

type Call = (i: number) => Promise<unknown>;

function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * CPU µs per call of `raw` and `library`, `n` calls each, interleaved batch by
 * batch (`concurrency` calls in flight per batch, which side goes first
 * alternating), so that whatever the machine does meanwhile lands on both.
 */
async function interleavedCpu(raw: Call, library: Call, n: number, concurrency: number): Promise<[number, number]> {
  let rawUs = 0;
  let libUs = 0;
  const batch = async (fn: Call, from: number): Promise<number> => {
    const calls: Promise<unknown>[] = [];
    const t0 = cpuNow();
    for (let j = from; j < Math.min(n, from + concurrency); j++) calls.push(fn(j));
    await Promise.all(calls);
    return cpuNow() - t0;
  };
  for (let i = 0, k = 0; i < n; i += concurrency, k++) {
    if (k % 2 === 0) {
      rawUs += await batch(raw, i);
      libUs += await batch(library, i);
    } else {
      libUs += await batch(library, i);
      rawUs += await batch(raw, i);
    }
  }
  return [rawUs / n, libUs / n];
}

/** Compares `raw` and `library` over several rounds, after a warm-up round. */
export async function comparePaths(
  id: string,
  label: string,
  raw: Call,
  library: Call,
  o: TokenPathOptions,
  prepare: () => Promise<void> | void = () => {},
): Promise<TokenPathResult> {
  await prepare();
  await interleavedCpu(raw, library, o.perRound, o.concurrency);
  const ratios: number[] = [];
  const rawUs: number[] = [];
  const libUs: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    await prepare();
    (globalThis as { gc?: () => void }).gc?.();
    const [a, b] = await interleavedCpu(raw, library, o.perRound, o.concurrency);
    rawUs.push(a);
    libUs.push(b);
    ratios.push(a / b);
  }
  return { id, label, ratios, ratio: spread(ratios), rawUs: spread(rawUs), libraryUs: spread(libUs) };
}

/** The compiled library modules this suite calls. */
interface Library {
  readonly guard: typeof import('../../src/core/guard.js');
  readonly clock: typeof import('../../src/core/clock.js');
  readonly memory: typeof import('../../src/stores/memory.js');
  readonly jwt: typeof import('../../src/strategies/jwt.js');
  readonly hmac: typeof import('../../src/strategies/hmac.js');
  readonly ticket: typeof import('../../src/strategies/ticket.js');
}

let library: Promise<Library> | undefined;

function load(): Promise<Library> {
  library ??= (async () => {
    const [guard, clock, memory, jwt, hmac, ticket] = await Promise.all([
      compiled<Library['guard']>('src/core/guard.js'),
      compiled<Library['clock']>('src/core/clock.js'),
      compiled<Library['memory']>('src/stores/memory.js'),
      compiled<Library['jwt']>('src/strategies/jwt.js'),
      compiled<Library['hmac']>('src/strategies/hmac.js'),
      compiled<Library['ticket']>('src/strategies/ticket.js'),
    ]);
    return { guard, clock, memory, jwt, hmac, ticket };
  })();
  return library;
}

/** The context a strategy sees for a Socket.IO handshake from 127.0.0.1. */
export async function benchContext(store?: Store): Promise<AuthContext> {
  const lib = await load();
  return {
    transport: 'socket.io',
    phase: 'handshake',
    connectionId: 'bench-connection',
    ip: '127.0.0.1',
    origin: undefined,
    secure: false,
    headers: { host: '127.0.0.1', connection: 'Upgrade', upgrade: 'websocket' },
    url: '/socket.io/?EIO=4&transport=websocket',
    namespace: '/',
    peerCertificate: undefined,
    peerAuthorized: false,
    previous: undefined,
    store: store ?? lib.memory.createMemoryStore(),
    clock: lib.clock.systemClock,
    socket: undefined,
  };
}

function credentialsOf(value: Record<string, unknown>): Credentials {
  return Object.assign(Object.create(null) as Record<string, unknown>, value);
}

/**
 * JWT: the strategy and the full `guard.verify` vs raw `jose.jwtVerify` given a
 * `CryptoKey` imported once (the cheapest way to call jose v6), and the strategy
 * vs raw jose given the same `KeyObject` form the strategy passes.
 */
export async function jwtPaths(keys: KeyMaterial, alg: 'HS256' | 'ES256', o: TokenPathOptions): Promise<TokenPathResult[]> {
  const { jwt, guard: core } = await load();
  const tokens = await signTokens(keys, alg, 64);
  const keyObject: KeyObject =
    alg === 'HS256' ? createSecretKey(hs256Key(keys)) : createPublicKey({ key: keys.es256PublicJwk as never, format: 'jwk' });
  const cryptoKey =
    alg === 'HS256'
      ? await webcrypto.subtle.importKey('raw', hs256Key(keys), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
      : await importJWK(keys.es256PublicJwk, 'ES256');
  const strategy: Strategy =
    alg === 'HS256'
      ? jwt.createJwtStrategy({ algorithms: ['HS256'], secret: hs256Key(keys) })
      : jwt.createJwtStrategy({ algorithms: ['ES256'], publicKey: keys.es256PublicJwk });
  const context = await benchContext();
  const creds = tokens.map((token) => credentialsOf({ token }));
  const guard = core.createGuard({ strategies: [strategy] });
  const token = (i: number): string => tokens[i % tokens.length] as string;
  const rawCrypto: Call = (i) => jwtVerify(token(i), cryptoKey, { algorithms: [alg] });
  const rawObject: Call = (i) => jwtVerify(token(i), keyObject, { algorithms: [alg] });
  const viaStrategy: Call = async (i) => strategy.authenticate(creds[i % creds.length] as Credentials, context);
  const viaGuard: Call = (i) => guard.verify({ token: token(i) }, context);
  const id = alg.toLowerCase();
  try {
    return [
      await comparePaths(
        `jwt-${id}-strategy`,
        `JWT ${alg}: strategy vs raw jose.jwtVerify (CryptoKey imported once)`,
        rawCrypto,
        viaStrategy,
        o,
      ),
      await comparePaths(
        `jwt-${id}-guard`,
        `JWT ${alg}: guard.verify vs raw jose.jwtVerify (CryptoKey imported once)`,
        rawCrypto,
        viaGuard,
        o,
      ),
      await comparePaths(
        `jwt-${id}-keyobject`,
        `JWT ${alg}: strategy vs raw jose.jwtVerify (same KeyObject form)`,
        rawObject,
        viaStrategy,
        o,
      ),
    ];
  } finally {
    await guard.close();
    await context.store.close();
  }
}

/**
 * One-time tickets: the whole `guard.verify` (sanitising, lockout check, strategy,
 * revocation lookup) vs redeeming by hand from the same kind of store
 * (`getAndDelete` of the SHA-256, `JSON.parse`, expiry check).
 */
export async function ticketPath(o: TokenPathOptions): Promise<TokenPathResult> {
  const { memory, guard: core, ticket: ticketLib } = await load();
  const store = memory.createMemoryStore();
  const guard = core.createGuard({ strategies: [ticketLib.createTicketStrategy()], store });
  const issuer = ticketLib.createTicketIssuer({ store, ttlSec: 300 });
  const context = await benchContext(store);
  let tickets: string[] = [];
  let rawTickets: string[] = [];
  const prepare = async (): Promise<void> => {
    tickets = [];
    rawTickets = [];
    for (let i = 0; i < o.perRound; i++) {
      tickets.push((await issuer.issue({ id: `user-${i % 64}` })).ticket);
      rawTickets.push((await issuer.issue({ id: `user-${i % 64}` })).ticket);
    }
  };
  const raw: Call = async (i) => {
    const ticket = rawTickets[i] as string;
    const value = await store.getAndDelete(`ticket:${createHash('sha256').update(ticket, 'utf8').digest('hex')}`);
    if (value === undefined) throw new Error('unknown ticket');
    const record = JSON.parse(value) as { principal: { id: string }; expiresAt: number };
    if (record.expiresAt <= Date.now()) throw new Error('expired');
    return record.principal;
  };
  const viaGuard: Call = (i) => guard.verify({ ticket: tickets[i] }, context);
  try {
    return await comparePaths('ticket-guard', 'One-time ticket: guard.verify vs raw redemption from the store', raw, viaGuard, o, prepare);
  } finally {
    await guard.close();
    await store.close();
  }
}

/**
 * HMAC: the strategy vs a hand-rolled check of the same credentials: the same
 * canonical string, `createHmac`, `timingSafeEqual`, and (with `replay: true`)
 * the nonce remembered in the same kind of store, as any replay-safe check must.
 */
export async function hmacPath(keys: KeyMaterial, o: TokenPathOptions, replay = false): Promise<TokenPathResult> {
  const { hmac } = await load();
  const secret = createSecretKey(secretOf(keys.hmacSecret));
  const strategy = hmac.createHmacStrategy({ keys: { [keys.hmacKeyId]: secretOf(keys.hmacSecret) } });
  const context = await benchContext();
  const nonces = (await load()).memory.createMemoryStore();
  let signed: HmacCredentials[] = [];
  let creds: Credentials[] = [];
  const prepare = (): void => {
    // Fresh nonces every round: the strategy refuses a replay.
    signed = Array.from({ length: o.perRound }, (_, i) => signHmac(keys, '/', `user-${i % 64}`));
    creds = signed.map((c) => credentialsOf({ ...c, fields: credentialsOf(c.fields) }));
  };
  const raw: Call = async (i) => {
    const c = signed[i] as HmacCredentials;
    const canonical = ['portcullis-hmac-v1', c.keyId, String(c.timestamp), c.nonce, '/', `sub=${c.fields.sub}`].join('\n');
    const expected = createHmac('sha256', secret).update(canonical, 'utf8').digest();
    const given = Buffer.from(c.signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error('bad signature');
    if (replay && !(await nonces.setIfAbsent(`nonce:${c.keyId}:${c.nonce}`, '1', 60_000))) throw new Error('replayed');
    return c.fields.sub;
  };
  const viaStrategy: Call = async (i) => strategy.authenticate(creds[i] as Credentials, context);
  const what = replay ? 'createHmac + timingSafeEqual + nonce in the store' : 'createHmac + timingSafeEqual';
  try {
    return await comparePaths(
      replay ? 'hmac-strategy-replay' : 'hmac-strategy',
      `HMAC: strategy vs raw ${what}`,
      raw,
      viaStrategy,
      o,
      prepare,
    );
  } finally {
    await context.store.close();
    await nonces.close();
  }
}
