import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import type { Principal } from '../../src/core/types.js';
import {
  createSessionCookieStrategy,
  type ExpressSessionStoreLike,
  expressSessionLookup,
  issueCsrfToken,
  type SessionCookieStrategyOptions,
} from '../../src/strategies/session-cookie.js';
import { makeContext, refusal, run } from '../helpers/auth-context.js';
import { connected, refused, startIo } from '../helpers/socket-io.js';

const COOKIE_SECRET = 'keyboard cat keyboard cat keyboard cat';
const CSRF_SECRET = 'csrf-secret-csrf-secret-csrf-secret-!!';
const APP = 'https://app.example.com';

/** Signs a session id the way express-session does (`s:` + id + `.` + unpadded base64 HMAC-SHA256), URL-encoded. */
function signedCookie(sid: string, secret = COOKIE_SECRET): string {
  const mac = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `connect.sid=${encodeURIComponent(`s:${sid}.${mac}`)}`;
}

/** An express-session-like store: async callbacks, sessions as plain objects. */
function fakeStore(sessions: Record<string, unknown>, fail = false): ExpressSessionStoreLike {
  return {
    get(sid, cb) {
      setImmediate(() => (fail ? cb(new Error('store down')) : cb(null, sessions[sid] ?? null)));
    },
  };
}

const EXPIRES = new Date(Date.now() + 14 * 86_400_000).toISOString(); // a two-week session
const sessions = {
  sid1: { cookie: { expires: EXPIRES }, userId: 'alice' },
  sid2: { cookie: {}, user: { id: 42 } },
  anon: { cookie: {} },
};

function strategy(overrides: Partial<SessionCookieStrategyOptions> = {}) {
  return createSessionCookieStrategy({
    lookup: expressSessionLookup(fakeStore(sessions)),
    secret: COOKIE_SECRET,
    origins: [APP],
    csrf: 'portcullis',
    csrfSecret: CSRF_SECRET,
    ...overrides,
  });
}

/** A context with `cookie` and `origin` (`null`: no Origin header). */
const ctxFor = (cookie: string | undefined, origin: string | null = APP, headers: Record<string, string> = {}) =>
  makeContext({ origin: origin ?? undefined, headers: cookie === undefined ? headers : { ...headers, cookie } });

describe('session-cookie strategy: options', () => {
  it('requires origins, a csrf check and a distinct csrf secret', () => {
    const lookup = async () => null;
    assert.throws(() => createSessionCookieStrategy({ lookup, csrf: 'portcullis', csrfSecret: CSRF_SECRET } as never), /origins/);
    assert.throws(() => createSessionCookieStrategy({ lookup, origins: [], csrf: 'portcullis', csrfSecret: CSRF_SECRET }), /origins/);
    assert.throws(
      () => createSessionCookieStrategy({ lookup, origins: ['app.example.com'], csrf: 'portcullis', csrfSecret: CSRF_SECRET }),
      /origin/,
    );
    assert.throws(() => createSessionCookieStrategy({ lookup, origins: [APP] } as never), /csrf/);
    assert.throws(() => createSessionCookieStrategy({ lookup, origins: [APP], csrf: 'portcullis' }), /csrfSecret/);
    assert.throws(
      () => createSessionCookieStrategy({ lookup, origins: [APP], csrf: 'portcullis', secret: CSRF_SECRET, csrfSecret: CSRF_SECRET }),
      /differ/,
    );
    assert.throws(
      () => createSessionCookieStrategy({ lookup, origins: [APP], csrf: { verify: () => true }, csrfSecret: CSRF_SECRET }),
      /only used/,
    );
  });
});

describe('session-cookie strategy', () => {
  const s = strategy();
  const token = issueCsrfToken('sid1', CSRF_SECRET);

  it('admits a signed session cookie with the right Origin and CSRF token', async () => {
    const p = await run(s, { csrfToken: token }, ctxFor(signedCookie('sid1')));
    assert.equal(p?.id, 'alice');
    assert.equal(p?.sessionId, 'sid1');
    assert.equal(p?.expiresAt, Date.parse(EXPIRES));
    // The CSRF token may also come as a header; the Origin is normalised.
    const viaHeader = ctxFor(signedCookie('sid1'), 'HTTPS://APP.EXAMPLE.COM:443', { 'x-csrf-token': token });
    assert.equal((await run(s, {}, viaHeader))?.id, 'alice');
    // user.id, numeric
    assert.equal((await run(s, { csrfToken: issueCsrfToken('sid2', CSRF_SECRET) }, ctxFor(signedCookie('sid2'))))?.id, '42');
  });

  it('returns null without the cookie', async () => {
    assert.equal(await run(s, { csrfToken: token }, ctxFor(undefined)), null);
    assert.equal(await run(s, { csrfToken: token }, ctxFor('other=1')), null);
  });

  it('refuses a foreign, a null and a missing Origin', async () => {
    for (const origin of ['https://app.example.com.evil.com', 'null', 'http://app.example.com', 'https://app.example.com:8443', null]) {
      const err = await refusal(run(s, { csrfToken: token }, ctxFor(signedCookie('sid1'), origin)));
      assert.equal(err.code, 'origin_not_allowed', String(origin));
    }
  });

  it('refuses a missing or wrong CSRF token', async () => {
    const missing = await refusal(run(s, {}, ctxFor(signedCookie('sid1'))));
    assert.deepEqual([missing.code, missing.detail], ['csrf_failed', 'session: no CSRF token']);
    const otherSession = issueCsrfToken('sid2', CSRF_SECRET);
    const wrong = await refusal(run(s, { csrfToken: otherSession }, ctxFor(signedCookie('sid1'))));
    assert.deepEqual([wrong.code, wrong.detail], ['csrf_failed', 'session: wrong CSRF token']);
    assert.ok(!String(wrong.detail).includes(otherSession));
  });

  it('refuses a bad cookie signature, an unsigned cookie and a cookie signed with another secret', async () => {
    const forged = signedCookie('sid1').replace(/.{4}$/, 'AAAA');
    for (const cookie of [forged, 'connect.sid=sid1', signedCookie('sid1', 'another secret another secret')]) {
      const err = await refusal(run(s, { csrfToken: token }, ctxFor(cookie)));
      assert.deepEqual([err.code, err.detail], ['invalid_credentials', 'session: bad cookie signature']);
    }
  });

  it('accepts any secret of a rotation list', async () => {
    const rotated = strategy({ secret: ['new secret new secret new secret', COOKIE_SECRET] });
    assert.equal((await run(rotated, { csrfToken: token }, ctxFor(signedCookie('sid1'))))?.id, 'alice');
  });

  it('refuses an unknown or anonymous session, and maps a failing store to unavailable', async () => {
    const unknown = await refusal(run(s, { csrfToken: issueCsrfToken('nope', CSRF_SECRET) }, ctxFor(signedCookie('nope'))));
    assert.equal(unknown.code, 'invalid_credentials');
    const anon = await refusal(run(s, { csrfToken: issueCsrfToken('anon', CSRF_SECRET) }, ctxFor(signedCookie('anon'))));
    assert.equal(anon.code, 'invalid_credentials');
    const down = strategy({ lookup: expressSessionLookup(fakeStore(sessions, true)) });
    assert.equal((await refusal(run(down, { csrfToken: token }, ctxFor(signedCookie('sid1'))))).code, 'unavailable');
  });

  it('runs a custom CSRF check with the session principal', async () => {
    const seen: [string, string, Principal][] = [];
    const custom = createSessionCookieStrategy({
      lookup: async (sid) => ({ id: `user-of-${sid}`, claims: { csrf: 'expected' } }),
      origins: [APP],
      csrf: {
        field: 'xsrf',
        verify: (t, sid, principal) => {
          seen.push([t, sid, principal]);
          return t === principal.claims?.csrf;
        },
      },
    });
    const ctx = ctxFor('connect.sid=plain-id');
    assert.equal((await run(custom, { xsrf: 'expected' }, ctx))?.id, 'user-of-plain-id');
    assert.equal(seen[0]?.[1], 'plain-id');
    assert.equal((await refusal(run(custom, { xsrf: 'guess' }, ctx))).code, 'csrf_failed');
  });
});

describe('session-cookie strategy over Socket.IO', () => {
  let fixture: Awaited<ReturnType<typeof startIo>>;
  before(async () => {
    fixture = await startIo();
    // The adapter's own Origin check is off here so that the strategy's check is the one under test.
    createSocketIoGuard(fixture.io, { strategies: strategy(), origins: '*' });
  });
  after(() => fixture.close());

  const client = (origin: string, csrfToken?: string) =>
    fixture.client('/', { extraHeaders: { cookie: signedCookie('sid1'), origin }, auth: csrfToken === undefined ? {} : { csrfToken } });

  it('connects from the app origin with the CSRF token; refuses foreign origins and a missing token', async () => {
    const token = issueCsrfToken('sid1', CSRF_SECRET);
    await connected(client(APP, token));
    assert.equal((await refused(client('https://app.example.com.evil.com', token))).data?.code, 'origin_not_allowed');
    assert.equal((await refused(client(APP))).data?.code, 'csrf_failed');
  });
});
