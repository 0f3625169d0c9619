import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import type { Principal, Strategy } from '../../src/core/types.js';
import { AuthError, type ErrorCode } from '../../src/errors.js';
import { ANY_OF_PRIORITY, anyOf, firstOf } from '../../src/strategies/compose.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { createJwtStrategy } from '../../src/strategies/jwt.js';
import { makeContext, refusal, run } from '../helpers/auth-context.js';
import { connected, refused, startIo } from '../helpers/socket-io.js';

/** A strategy with a fixed outcome that counts its calls. */
function fixed(name: string, outcome: Principal | null | ErrorCode | Error): Strategy & { calls: number } {
  const s = {
    name,
    calls: 0,
    async authenticate() {
      s.calls++;
      if (outcome instanceof Error) throw outcome;
      if (typeof outcome === 'string') throw new AuthError(outcome, { detail: name });
      return outcome;
    },
  };
  return s;
}

describe('firstOf', () => {
  it('checks its arguments', () => {
    assert.throws(() => firstOf(), TypeError);
    assert.throws(() => firstOf({} as Strategy), TypeError);
  });

  it('skips nulls, admits the first principal and stops there', async () => {
    const a = fixed('a', null);
    const b = fixed('b', { id: 'bob' });
    const c = fixed('c', { id: 'carol' });
    const s = firstOf(a, b, c);
    assert.equal(s.name, 'firstOf(a,b,c)');
    assert.equal((await run(s, {}, makeContext()))?.id, 'bob');
    assert.deepEqual([a.calls, b.calls, c.calls], [1, 1, 0]);
  });

  it('refuses with the first refusal and tries nothing after it', async () => {
    const later = fixed('later', { id: 'x' });
    const err = await refusal(run(firstOf(fixed('a', null), fixed('b', 'invalid_credentials'), later), {}, makeContext()));
    assert.equal(err.detail, 'b');
    assert.equal(later.calls, 0);
  });

  it('returns null when every strategy passes, and wraps foreign errors as internal_error', async () => {
    assert.equal(await run(firstOf(fixed('a', null), fixed('b', null)), {}, makeContext()), null);
    assert.equal((await refusal(run(firstOf(fixed('a', new Error('bug'))), {}, makeContext()))).code, 'internal_error');
  });
});

describe('anyOf', () => {
  it('keeps trying after a refusal and admits the first principal', async () => {
    const s = anyOf(fixed('a', 'invalid_credentials'), fixed('b', null), fixed('c', { id: 'carol' }));
    assert.equal((await run(s, {}, makeContext()))?.id, 'carol');
  });

  it('refuses with the highest-priority error when none admits', async () => {
    const cases: [ErrorCode[], ErrorCode][] = [
      [['invalid_credentials', 'token_expired'], 'token_expired'],
      [['invalid_credentials', 'unavailable'], 'unavailable'],
      [['internal_error', 'invalid_credentials'], 'invalid_credentials'],
      [['token_expired', 'revoked', 'csrf_failed'], 'revoked'],
      [['invalid_request', 'origin_not_allowed'], 'origin_not_allowed'],
    ];
    for (const [codes, expected] of cases) {
      const s = anyOf(...codes.map((code, i) => fixed(`s${i}`, code)), fixed('none', null));
      assert.equal((await refusal(run(s, {}, makeContext()))).code, expected, codes.join(','));
    }
    // Ties keep the first seen.
    assert.equal(
      (await refusal(run(anyOf(fixed('x', 'invalid_credentials'), fixed('y', 'invalid_credentials')), {}, makeContext()))).detail,
      'x',
    );
  });

  it('returns null when every strategy passes', async () => {
    assert.equal(await run(anyOf(fixed('a', null), fixed('b', null)), {}, makeContext()), null);
  });

  it('ranks every wire code', () => {
    const codes: ErrorCode[] = [
      'invalid_request',
      'credentials_required',
      'invalid_credentials',
      'token_expired',
      'forbidden',
      'origin_not_allowed',
      'csrf_failed',
      'tls_required',
      'revoked',
      'auth_timeout',
      'rate_limited',
      'unavailable',
      'internal_error',
    ];
    assert.deepEqual([...ANY_OF_PRIORITY].sort(), [...codes].sort());
  });
});

describe('anyOf over Socket.IO: HS256 service tokens or RS256 user tokens', () => {
  const SERVICE_SECRET = 'service-secret-service-secret-service!';
  let fixture: Awaited<ReturnType<typeof startIo>>;
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  before(async () => {
    rsa = await generateKeyPair('RS256');
    fixture = await startIo();
    createSocketIoGuard(fixture.io, {
      strategies: anyOf(
        createJwtStrategy({ algorithms: ['HS256'], secret: SERVICE_SECRET }),
        createJwtStrategy({ algorithms: ['RS256'], publicKey: rsa.publicKey }),
      ),
    });
  });
  after(() => fixture.close());

  const token = (alg: 'HS256' | 'RS256', sub: string, expOffsetSec: number) =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg })
      .setExpirationTime(Math.floor(Date.now() / 1000) + expOffsetSec)
      .sign(alg === 'HS256' ? new TextEncoder().encode(SERVICE_SECRET) : rsa.privateKey);

  it('admits either kind, and reports token_expired for an expired user token', async () => {
    await connected(fixture.client('/', { auth: { token: await token('HS256', 'svc', 60) } }));
    await connected(fixture.client('/', { auth: { token: await token('RS256', 'alice', 60) } }));
    assert.equal((await refused(fixture.client('/', { auth: { token: await token('RS256', 'alice', -60) } }))).data?.code, 'token_expired');
  });
});

describe('the identity of a composite', () => {
  it('is the identity its members declare that the credentials name, refused when they name two, none when no member declares one', () => {
    const byUser = createCustomStrategy({ authenticate: () => null, identity: 'username' });
    const byEmail = createCustomStrategy({ authenticate: () => null, identity: { field: 'email', caseFold: false } });
    const token = createCustomStrategy(() => null);
    for (const combine of [firstOf, anyOf]) {
      const both = combine(token, byUser, byEmail);
      assert.equal(both.identity?.({ username: ' Alice ' }), 'alice');
      // A decoy in another member's field would move the counter off the real target.
      assert.throws(() => both.identity?.({ username: ' Alice ', email: 'x@example.com' }), { code: 'invalid_request' });
      assert.equal(both.identity?.({ username: 'alice', email: 'alice' }), 'alice');
      assert.equal(both.identity?.({ email: ' X@example.com' }), 'X@example.com');
      assert.equal(both.identity?.({ token: 'abc' }), undefined);
      assert.equal(combine(token).identity, undefined);
    }
  });
});
