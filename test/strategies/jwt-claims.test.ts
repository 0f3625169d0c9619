/**
 * The HS* claims check is portcullis' own (jose's decoding machinery cost ~4 % of
 * a handshake). It must agree with `jose.jwtVerify`, the reference, on every
 * case: the same tokens admitted with the same claims, the same ones refused with
 * the same code. Each token is signed by hand, so that payloads jose would never
 * produce (arrays, invalid UTF-8, claims of the wrong type) can be tried too.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { errors, jwtVerify } from 'jose';
import type { AuthError } from '../../src/errors.js';
import { createJwtStrategy, type JwtStrategyOptions } from '../../src/strategies/jwt.js';
import { makeContext, run } from '../helpers/auth-context.js';

const SECRET = 'claims-secret-claims-secret-claims-secret';
const NOW_MS = 1_800_000_000_500;
const NOW = Math.floor(NOW_MS / 1000);

const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64url');

/** Signs `payload` (an object, or raw bytes of the claims segment) with HS256. */
function sign(payload: object | Buffer): string {
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = Buffer.isBuffer(payload) ? b64(payload) : b64(JSON.stringify(payload));
  const mac = createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${mac}`;
}

/** Signs a raw claims segment as given (to try lengths base64url cannot produce). */
function signSegment(body: string): string {
  const head = b64(JSON.stringify({ alg: 'HS256' }));
  return `${head}.${body}.${createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url')}`;
}

type Verdict = { ok: true; claims: unknown } | { ok: false; code: string };

async function viaJose(token: string, options: Partial<JwtStrategyOptions>): Promise<Verdict> {
  const required = new Set(options.requiredClaims ?? []);
  if (options.requireExpiration ?? true) required.add('exp');
  const list = (v: string | readonly string[] | undefined) => (v === undefined ? undefined : typeof v === 'string' ? [v] : [...v]);
  try {
    const issuer = list(options.issuer);
    const audience = list(options.audience);
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ['HS256'],
      clockTolerance: options.clockToleranceSec ?? 5,
      currentDate: new Date(NOW_MS),
      requiredClaims: [...required],
      ...(issuer === undefined ? {} : { issuer }),
      ...(audience === undefined ? {} : { audience }),
    });
    return { ok: true, claims: payload };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, code: 'token_expired' };
    if (err instanceof errors.JOSEError) return { ok: false, code: 'invalid_credentials' };
    throw err;
  }
}

async function viaPortcullis(token: string, options: Partial<JwtStrategyOptions>): Promise<Verdict> {
  const strategy = createJwtStrategy({
    algorithms: ['HS256'],
    secret: SECRET,
    mapClaims: (claims) => ({ id: 'x', claims }),
    ...options,
  });
  const ctx = makeContext();
  ctx.clock.set(NOW_MS);
  try {
    const principal = await run(strategy, { token }, ctx);
    return { ok: true, claims: principal?.claims };
  } catch (err) {
    return { ok: false, code: (err as AuthError).code };
  }
}

const sub = 'alice';
const exp = NOW + 60;
/** Valid claims whose base64url is 4n characters, plus one more: a length no encoder produces. */
function danglingSegment(): string {
  let json = JSON.stringify({ sub, exp });
  while (Buffer.byteLength(json) % 3 !== 0) json += ' ';
  return `${b64(json)}A`;
}

const cases: [string, object | Buffer | string, Partial<JwtStrategyOptions>][] = [
  ['a valid token', { sub, exp }, {}],
  ['extra claims of any type', { sub, exp, role: ['a'], n: null, __proto__x: 1 }, {}],
  ['expired', { sub, exp: NOW - 6 }, {}],
  ['expired exactly at the tolerance edge', { sub, exp: NOW - 5 }, {}],
  ['expired but within the tolerance', { sub, exp: NOW - 4 }, {}],
  ['expired with no tolerance', { sub, exp: NOW }, { clockToleranceSec: 0 }],
  ['exp not a number', { sub, exp: String(exp) }, {}],
  ['exp missing', { sub }, {}],
  ['exp missing, not required', { sub }, { requireExpiration: false }],
  ['exp null', { sub, exp: null }, {}],
  ['exp huge (1e999 parses as Infinity)', Buffer.from(`{"sub":"alice","exp":1e999}`), {}],
  ['nbf in the future', { sub, exp, nbf: NOW + 6 }, {}],
  ['nbf within the tolerance', { sub, exp, nbf: NOW + 5 }, {}],
  ['nbf not a number', { sub, exp, nbf: 'soon' }, {}],
  ['iat in the future (allowed without a max age)', { sub, exp, iat: NOW + 3600 }, {}],
  ['iat not a number', { sub, exp, iat: '1' }, {}],
  ['iss accepted', { sub, exp, iss: 'https://idp' }, { issuer: 'https://idp' }],
  ['iss one of a list', { sub, exp, iss: 'b' }, { issuer: ['a', 'b'] }],
  ['iss mismatch', { sub, exp, iss: 'https://evil' }, { issuer: 'https://idp' }],
  ['iss missing', { sub, exp }, { issuer: 'https://idp' }],
  ['iss not a string', { sub, exp, iss: ['https://idp'] }, { issuer: 'https://idp' }],
  ['aud string accepted', { sub, exp, aud: 'chat' }, { audience: 'chat' }],
  ['aud array naming one', { sub, exp, aud: ['x', 'chat'] }, { audience: ['chat', 'y'] }],
  ['aud mismatch', { sub, exp, aud: 'other' }, { audience: 'chat' }],
  ['aud array mismatch', { sub, exp, aud: ['x'] }, { audience: 'chat' }],
  ['aud missing', { sub, exp }, { audience: 'chat' }],
  ['aud a number', { sub, exp, aud: 1 }, { audience: 'chat' }],
  ['required claim present', { sub, exp, role: 'admin' }, { requiredClaims: ['role'] }],
  ['required claim missing', { sub, exp }, { requiredClaims: ['role'] }],
  ['required claim inherited only', { sub, exp }, { requiredClaims: ['toString'] }],
  ['missing iss and expired: presence first', { sub, exp: NOW - 100 }, { issuer: 'https://idp' }],
  ['expired and not yet valid: nbf first', { sub, exp: NOW - 100, nbf: NOW + 100 }, {}],
  ['a JSON array', Buffer.from('[1,2]'), {}],
  ['JSON null', Buffer.from('null'), {}],
  ['a JSON string', Buffer.from('"alice"'), {}],
  ['not JSON', Buffer.from('{sub:alice}'), {}],
  ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), {}],
  ['valid claims plus a dangling character (4n+1)', danglingSegment(), {}],
];

describe('HS* claims: portcullis agrees with jose.jwtVerify', () => {
  for (const [name, payload, options] of cases) {
    it(name, async () => {
      const token = typeof payload === 'string' ? signSegment(payload) : sign(payload);
      const [reference, ours] = await Promise.all([viaJose(token, options), viaPortcullis(token, options)]);
      assert.deepEqual(ours, reference);
    });
  }

  it('covers both verdicts in the table', async () => {
    const verdicts = await Promise.all(
      cases.map(([, payload, options]) => viaJose(typeof payload === 'string' ? signSegment(payload) : sign(payload), options)),
    );
    const kinds = new Set(verdicts.map((v) => (v.ok ? 'ok' : v.code)));
    assert.deepEqual([...kinds].sort(), ['invalid_credentials', 'ok', 'token_expired']);
  });
});
