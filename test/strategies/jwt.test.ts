import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import type { AuthError } from '../../src/errors.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { makeContext, refusal, run } from '../helpers/auth-context.js';
import { connected, refused, startIo } from '../helpers/socket-io.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const enc = new TextEncoder();
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function hs256(claims: JWTPayload, nowMs: number, expSec = 60, secret: Uint8Array = enc.encode(SECRET)): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(Math.floor(nowMs / 1000))
    .setExpirationTime(Math.floor(nowMs / 1000) + expSec)
    .sign(secret);
}

describe('jwt strategy: options', () => {
  it('refuses missing, empty, `none` and mixed algorithm lists', () => {
    assert.throws(() => createJwtStrategy({ secret: SECRET } as never), TypeError);
    assert.throws(() => createJwtStrategy({ algorithms: [], secret: SECRET }), TypeError);
    assert.throws(() => createJwtStrategy({ algorithms: ['none'] as never, secret: SECRET }), /none/);
    assert.throws(() => createJwtStrategy({ algorithms: ['HS256', 'RS256'], secret: SECRET }), /mix/);
    assert.throws(() => createJwtStrategy({ algorithms: ['HS257'] as never, secret: SECRET }), TypeError);
  });

  it('refuses keys that do not fit the algorithms', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.throws(() => createJwtStrategy({ algorithms: ['RS256'], secret: SECRET }), /HS\*/);
    assert.throws(() => createJwtStrategy({ algorithms: ['HS256'], publicKey: pem }), /secret/);
    assert.throws(() => createJwtStrategy({ algorithms: ['HS256'], secret: 'short' }), /32 bytes/);
    assert.throws(() => createJwtStrategy({ algorithms: ['ES256'], publicKey: pem }), /does not fit/);
    assert.throws(
      () => createJwtStrategy({ algorithms: ['RS256'], publicKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }),
      /private/,
    );
    assert.throws(() => createJwtStrategy({ algorithms: ['RS256'], publicKey: pem, secret: SECRET }), /exactly one/);
    assert.throws(() => createJwtStrategy({ algorithms: ['RS256'] }), /exactly one/);
    assert.throws(() => createJwtStrategy({ algorithms: ['RS256'], jwksUrl: 'http://idp.example.com/jwks' }), /https/);
  });
});

describe('jwt strategy: HS256', () => {
  const strategy = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET, issuer: 'https://idp.test', audience: 'chat' });

  it('admits a valid token and maps sub, sid, jti and exp', async () => {
    const ctx = makeContext();
    const token = await hs256(
      { sub: 'alice', sid: 's-1', jti: 't-1', iss: 'https://idp.test', aud: 'chat', role: 'admin' },
      ctx.clock.now(),
    );
    const p = await run(strategy, { token }, ctx);
    assert.equal(p?.id, 'alice');
    assert.equal(p?.sessionId, 's-1');
    assert.equal(p?.tokenId, 't-1');
    assert.equal(p?.expiresAt, Math.floor(ctx.clock.now() / 1000) * 1000 + 60_000);
    assert.equal(p?.claims?.role, 'admin');
    assert.equal(p?.issuedAt, Math.floor(ctx.clock.now() / 1000) * 1000);
  });

  it('answers at once for HS* (no promise), and through a promise when mapClaims returns one', async () => {
    const ctx = makeContext();
    const token = await hs256({ sub: 'alice', iss: 'https://idp.test', aud: 'chat' }, ctx.clock.now());
    const now = strategy.authenticate({ token }, ctx);
    assert.ok(!(now instanceof Promise), 'an HS256 verdict needs no promise');
    assert.equal((now as { id: string }).id, 'alice');
    assert.throws(
      () => strategy.authenticate({ token: `${token.slice(0, -2)}AA` }, ctx),
      (err: AuthError) => err.code === 'invalid_credentials',
    );
    const mapped = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET, mapClaims: async (p) => ({ id: `u:${String(p.sub)}` }) });
    const later = mapped.authenticate({ token }, ctx);
    assert.ok(later instanceof Promise);
    assert.equal((await later)?.id, 'u:alice');
  });

  it('returns null without a token, or for a value that is not a JWT', async () => {
    const ctx = makeContext();
    assert.equal(await run(strategy, {}, ctx), null);
    assert.equal(await run(strategy, { token: 'opaque-api-key' }, ctx), null);
    assert.equal((await refusal(run(strategy, { token: 42 }, ctx))).code, 'invalid_request');
  });

  it('refuses wrong audience and wrong issuer', async () => {
    const ctx = makeContext();
    const now = ctx.clock.now();
    const wrongAud = await hs256({ sub: 'a', iss: 'https://idp.test', aud: 'billing' }, now);
    const wrongIss = await hs256({ sub: 'a', iss: 'https://evil.test', aud: 'chat' }, now);
    const e1 = await refusal(run(strategy, { token: wrongAud }, ctx));
    assert.deepEqual([e1.code, e1.detail], ['invalid_credentials', 'jwt: audience mismatch']);
    const e2 = await refusal(run(strategy, { token: wrongIss }, ctx));
    assert.deepEqual([e2.code, e2.detail], ['invalid_credentials', 'jwt: issuer mismatch']);
  });

  it('refuses an expired token with token_expired, honouring the clock tolerance', async () => {
    const ctx = makeContext();
    const token = await hs256({ sub: 'a', iss: 'https://idp.test', aud: 'chat' }, ctx.clock.now(), 10);
    ctx.clock.advance(13_000); // 3 s past exp: inside the default 5 s tolerance
    assert.equal((await run(strategy, { token }, ctx))?.id, 'a');
    ctx.clock.advance(5_000);
    const err = await refusal(run(strategy, { token }, ctx));
    assert.equal(err.code, 'token_expired');
  });

  it('refuses a token that is not valid yet (nbf in the future)', async () => {
    const ctx = makeContext();
    const nowSec = Math.floor(ctx.clock.now() / 1000);
    const token = await new SignJWT({ sub: 'a', iss: 'https://idp.test', aud: 'chat' })
      .setProtectedHeader({ alg: 'HS256' })
      .setNotBefore(nowSec + 600)
      .setExpirationTime(nowSec + 1200)
      .sign(enc.encode(SECRET));
    const err = await refusal(run(strategy, { token }, ctx));
    assert.deepEqual([err.code, err.detail], ['invalid_credentials', 'jwt: not yet valid']);
    ctx.clock.advance(600_000);
    assert.equal((await run(strategy, { token }, ctx))?.id, 'a');
  });

  it('refuses a tampered signature and a tampered payload', async () => {
    const ctx = makeContext();
    const token = await hs256({ sub: 'alice', iss: 'https://idp.test', aud: 'chat' }, ctx.clock.now());
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    const forged = `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })}.${s}`;
    for (const bad of [flipped, forged]) {
      const err = await refusal(run(strategy, { token: bad }, ctx));
      assert.deepEqual([err.code, err.detail], ['invalid_credentials', 'jwt: bad signature']);
      assert.ok(!err.message.includes(bad) && !String(err.detail).includes(bad));
    }
  });

  it('refuses `alg: none`', async () => {
    const ctx = makeContext();
    const exp = Math.floor(ctx.clock.now() / 1000) + 60;
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'admin', iss: 'https://idp.test', aud: 'chat', exp })}.`;
    const err = await refusal(run(strategy, { token }, ctx));
    assert.equal(err.code, 'invalid_credentials');
  });

  it('checks HS* headers strictly: listed alg only, no crit, a JSON object, a full-length signature', async () => {
    const ctx = makeContext();
    const now = ctx.clock.now();
    const exp = Math.floor(now / 1000) + 60;
    const claims = { sub: 'alice', iss: 'https://idp.test', aud: 'chat', exp };
    // Signed by hand: jose would not produce most of these.
    const signRaw = (header: string, payload: string): string =>
      `${header}.${payload}.${createHmac(header === b64({ alg: 'HS384' }) ? 'sha384' : 'sha256', SECRET)
        .update(`${header}.${payload}`)
        .digest('base64url')}`;
    // HS384 is a fine algorithm, but this strategy only lists HS256.
    const hs384 = signRaw(b64({ alg: 'HS384' }), b64(claims));
    assert.deepEqual([(await refusal(run(strategy, { token: hs384 }, ctx))).detail], ['jwt: algorithm not allowed']);
    // A critical extension nobody here understands.
    const crit = signRaw(b64({ alg: 'HS256', crit: ['exp'], exp }), b64(claims));
    assert.equal((await refusal(run(strategy, { token: crit }, ctx))).detail, 'jwt: malformed token');
    // Headers that are not a JSON object, correctly signed.
    for (const header of ['bm90IGpzb24', b64([{ alg: 'HS256' }]), b64('HS256'), b64(null)]) {
      const token = signRaw(header, b64(claims));
      assert.equal((await refusal(run(strategy, { token }, ctx))).detail, 'jwt: malformed token');
    }
    // A payload that is not a JSON object, correctly signed.
    const h = b64({ alg: 'HS256' });
    assert.equal((await refusal(run(strategy, { token: signRaw(h, b64([1])) }, ctx))).detail, 'jwt: malformed token');
    // A truncated or missing signature.
    const good = signRaw(h, b64(claims));
    const [, p, s] = good.split('.') as [string, string, string];
    for (const sig of [s.slice(0, 20), '']) {
      assert.equal((await refusal(run(strategy, { token: `${h}.${p}.${sig}` }, ctx))).detail, 'jwt: bad signature');
    }
    assert.equal((await run(strategy, { token: good }, ctx))?.id, 'alice');
  });

  it('remembers the headers that passed, a few of them, without changing any verdict', async () => {
    const ctx = makeContext();
    const exp = Math.floor(ctx.clock.now() / 1000) + 60;
    const payload = b64({ sub: 'alice', iss: 'https://idp.test', aud: 'chat', exp });
    const signRaw = (header: string): string =>
      `${header}.${payload}.${createHmac('sha256', SECRET).update(`${header}.${payload}`).digest('base64url')}`;
    const fresh = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET, issuer: 'https://idp.test', audience: 'chat' });
    // More distinct good headers than are remembered: every one is admitted, each time.
    const headers = Array.from({ length: 40 }, (_, i) => b64({ alg: 'HS256', kid: `k${i}` }));
    for (let round = 0; round < 2; round++) {
      for (const header of headers) assert.equal((await run(fresh, { token: signRaw(header) }, ctx))?.id, 'alice');
    }
    // A remembered header does not vouch for a signature: a forged token under it is refused.
    const remembered = headers[0] as string;
    const forged = `${remembered}.${payload}.${createHmac('sha256', 'another-secret-another-secret-12').update(`${remembered}.${payload}`).digest('base64url')}`;
    assert.equal((await refusal(run(fresh, { token: forged }, ctx))).detail, 'jwt: bad signature');
    // Headers refused before are refused again (nothing bad is remembered).
    const crit = signRaw(b64({ alg: 'HS256', crit: ['exp'], exp }));
    for (let i = 0; i < 2; i++) assert.equal((await refusal(run(fresh, { token: crit }, ctx))).detail, 'jwt: malformed token');
  });

  it('requires exp unless told otherwise, and checks requiredClaims', async () => {
    const ctx = makeContext();
    const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).sign(enc.encode(SECRET));
    const plain = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET });
    assert.equal((await refusal(run(plain, { token }, ctx))).detail, 'jwt: missing exp claim');
    const lax = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET, requireExpiration: false });
    assert.equal((await run(lax, { token }, ctx))?.expiresAt, undefined);
    const strict = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET, requireExpiration: false, requiredClaims: ['tenant'] });
    assert.equal((await refusal(run(strict, { token }, ctx))).detail, 'jwt: missing tenant claim');
  });

  it('reads a Bearer header when enabled, and a custom field', async () => {
    const ctx = makeContext();
    const token = await hs256({ sub: 'bob' }, ctx.clock.now());
    const s = createJwtStrategy({ algorithms: ['HS256'], secret: SECRET, field: 'accessToken', bearerHeader: true });
    assert.equal((await run(s, { accessToken: token }, ctx))?.id, 'bob');
    const withHeader = makeContext({ headers: { authorization: `Bearer ${token}` } });
    assert.equal((await run(s, {}, withHeader))?.id, 'bob');
    assert.equal(await run(createJwtStrategy({ algorithms: ['HS256'], secret: SECRET }), {}, withHeader), null);
  });

  it('lets mapClaims shape the principal but never extend past exp', async () => {
    const ctx = makeContext();
    const token = await hs256({ sub: 'x', uid: 'u-7', jti: 'j' }, ctx.clock.now(), 60);
    const s = createJwtStrategy({
      algorithms: ['HS256'],
      secret: SECRET,
      mapClaims: (payload) => ({ id: String(payload.uid), expiresAt: ctx.clock.now() + 3_600_000, data: { name: 'U7' } }),
    });
    const p = await run(s, { token }, ctx);
    assert.equal(p?.id, 'u-7');
    assert.equal(p?.tokenId, 'j');
    assert.ok((p?.expiresAt ?? Infinity) <= ctx.clock.now() + 60_000);
  });
});

describe('jwt strategy: asymmetric keys', () => {
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let pem: string;
  before(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    pem = await exportSPKI(rsa.publicKey);
  });

  const rs256 = (claims: JWTPayload, nowMs: number, kid?: string) =>
    new SignJWT(claims)
      .setProtectedHeader(kid === undefined ? { alg: 'RS256' } : { alg: 'RS256', kid })
      .setExpirationTime(Math.floor(nowMs / 1000) + 60)
      .sign(rsa.privateKey);

  it('admits RS256 with a PEM, a JWK, a JWK Set and a CryptoKey', async () => {
    const ctx = makeContext();
    const token = await rs256({ sub: 'alice' }, ctx.clock.now(), 'k1');
    const jwk = await exportJWK(rsa.publicKey);
    for (const publicKey of [pem, jwk, { keys: [{ ...jwk, kid: 'k1' }] }, rsa.publicKey]) {
      const s = createJwtStrategy({ algorithms: ['RS256'], publicKey });
      assert.equal((await run(s, { token }, ctx))?.id, 'alice');
    }
  });

  it('refuses HS/RS confusion: an HS256 token keyed with the RSA public key PEM', async () => {
    const ctx = makeContext();
    const s = createJwtStrategy({ algorithms: ['RS256'], publicKey: pem });
    const token = await hs256({ sub: 'admin' }, ctx.clock.now(), 60, enc.encode(pem));
    const err = await refusal(run(s, { token }, ctx));
    assert.deepEqual([err.code, err.detail], ['invalid_credentials', 'jwt: algorithm not allowed']);
  });

  it('refuses a token signed by another key', async () => {
    const ctx = makeContext();
    const other = await generateKeyPair('RS256');
    const token = await new SignJWT({ sub: 'a' })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime(Math.floor(ctx.clock.now() / 1000) + 60)
      .sign(other.privateKey);
    const err = await refusal(run(createJwtStrategy({ algorithms: ['RS256'], publicKey: pem }), { token }, ctx));
    assert.equal(err.detail, 'jwt: bad signature');
  });

  it('fetches and caches a remote JWKS; an unreachable JWKS is `unavailable`', async () => {
    const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256' };
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    try {
      const s = createJwtStrategy({ algorithms: ['RS256'], jwksUrl: url, jwks: { timeoutMs: 2000 } });
      const real = makeContext();
      const now = real.clock.now();
      assert.equal((await run(s, { token: await rs256({ sub: 'a' }, now, 'k1') }, real))?.id, 'a');
      assert.equal((await run(s, { token: await rs256({ sub: 'b' }, now, 'k1') }, real))?.id, 'b');
      assert.equal(fetches, 1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    const down = createJwtStrategy({ algorithms: ['RS256'], jwksUrl: url, jwks: { timeoutMs: 2000 } });
    const ctx = makeContext();
    const err = await refusal(run(down, { token: await rs256({ sub: 'a' }, ctx.clock.now(), 'k1') }, ctx));
    assert.equal(err.code, 'unavailable');
  });
});

describe('jwt strategy over Socket.IO', () => {
  let fixture: Awaited<ReturnType<typeof startIo>>;
  before(async () => {
    fixture = await startIo();
    createSocketIoGuard(fixture.io, { strategies: createJwtStrategy({ algorithms: ['HS256'], secret: SECRET, audience: 'chat' }) });
  });
  after(() => fixture.close());

  it('connects with a good token and refuses expired, forged and wrong-audience tokens', async () => {
    const good = fixture.client('/', { auth: { token: await hs256({ sub: 'alice', aud: 'chat' }, Date.now()) } });
    await connected(good);
    const expired = fixture.client('/', { auth: { token: await hs256({ sub: 'a', aud: 'chat' }, Date.now() - 3_600_000) } });
    assert.equal((await refused(expired)).data?.code, 'token_expired');
    const forged = fixture.client('/', {
      auth: { token: await hs256({ sub: 'a', aud: 'chat' }, Date.now(), 60, enc.encode('x'.repeat(40))) },
    });
    assert.equal((await refused(forged)).data?.code, 'invalid_credentials');
    const aud = fixture.client('/', { auth: { token: await hs256({ sub: 'a', aud: 'other' }, Date.now()) } });
    const err = await refused(aud);
    assert.deepEqual(err.data, { code: 'invalid_credentials', retryable: true });
  });
});
