/**
 * Every strategy over both transports: one success and one characteristic attack each.
 *
 * `tls-client-cert` stays in test/strategies/tls-client-cert.test.ts: it needs HTTPS
 * servers and per-client certificates, which this harness does not set up (yet).
 */

import { signHandshake } from '../client/hmac-signer.js';
import type { Principal } from '../core/types.js';
import { createMemoryStore } from '../stores/memory.js';
import { createHmacStrategy } from '../strategies/hmac.js';
import { createJwtStrategy } from '../strategies/jwt.js';
import { createSessionCookieStrategy, issueCsrfToken } from '../strategies/session-cookie.js';
import { createTicketIssuer, createTicketStrategy } from '../strategies/ticket.js';
import {
  APP_ORIGIN,
  COOKIE_SECRET,
  CSRF_SECRET,
  HMAC_KEY_ID,
  HMAC_SECRET,
  JWT_AUDIENCE,
  JWT_SECRET,
  sessionCookie,
  signJwt,
  tokenStrategy,
  unsecuredJwt,
} from './fixtures.js';
import { assertAccepted, assertRefused, type Lab, login, MODES } from './lab.js';
import { describe, it } from './runner.js';

const sessions: Readonly<Record<string, Principal>> = { sid1: { id: 'alice' } };

export function strategyBehaviours(lab: Lab): void {
  for (const mode of MODES) {
    describe(`strategies (${mode})`, () => {
      it('custom: admits, and refuses wrong credentials with invalid_credentials', async () => {
        const server = await lab.start({ mode, strategies: tokenStrategy().strategy });
        assertAccepted((await login(server, mode, { token: 'alice' })).verdict);
        assertRefused((await login(server, mode, { token: 'wrong' })).verdict, 'invalid_credentials');
      });

      it('jwt: admits an HS256 token; refuses alg none and a foreign audience', async () => {
        const strategy = createJwtStrategy({ algorithms: ['HS256'], secret: JWT_SECRET, audience: JWT_AUDIENCE });
        const server = await lab.start({ mode, strategies: strategy });
        assertAccepted((await login(server, mode, { token: await signJwt('alice') })).verdict);
        assertRefused((await login(server, mode, { token: unsecuredJwt('alice') })).verdict, 'invalid_credentials');
        assertRefused((await login(server, mode, { token: await signJwt('alice', 'someone-else') })).verdict, 'invalid_credentials');
      });

      it('ticket: admits a fresh ticket once; a replay is refused with invalid_credentials', async () => {
        const store = createMemoryStore();
        lab.defer(() => store.close());
        const issuer = createTicketIssuer({ store });
        const server = await lab.start({ mode, store, strategies: createTicketStrategy() });
        const { ticket } = await issuer.issue({ id: 'alice' });
        assertAccepted((await login(server, mode, { ticket })).verdict);
        assertRefused((await login(server, mode, { ticket })).verdict, 'invalid_credentials');
      });

      it('session-cookie: admits a signed cookie with its CSRF token from an allowed Origin', async () => {
        const server = await startSessionServer(lab, mode);
        const headers = { cookie: sessionCookie('sid1'), origin: APP_ORIGIN, 'x-csrf-token': issueCsrfToken('sid1', CSRF_SECRET) };
        assertAccepted((await login(server, mode, {}, headers)).verdict);
      });

      it('session-cookie: a foreign Origin is refused with origin_not_allowed (adapter or strategy)', async () => {
        // The adapter's allowlist is the strategy's, so the adapter refuses first: before the
        // Engine.IO handshake on Socket.IO (§3.4), before the upgrade on ws (§4.1).
        const server = await startSessionServer(lab, mode);
        const csrf = issueCsrfToken('sid1', CSRF_SECRET);
        const headers = { cookie: sessionCookie('sid1'), origin: 'https://evil.example', 'x-csrf-token': csrf };
        assertRefused((await login(server, mode, {}, headers)).verdict, 'origin_not_allowed');
      });

      it('session-cookie: a cookie without its CSRF token is refused with csrf_failed', async () => {
        const server = await startSessionServer(lab, mode);
        const headers = { cookie: sessionCookie('sid1'), origin: APP_ORIGIN };
        assertRefused((await login(server, mode, {}, headers)).verdict, 'csrf_failed');
      });
    });
  }

  // HMAC credentials are an object: they travel in the CONNECT `auth` or an `authenticate`
  // frame, never with a ws upgrade (§4.1), so message mode is what both transports share.
  describe('strategies (message only)', () => {
    it('hmac: admits a signed handshake; a replayed nonce is refused with invalid_credentials', async () => {
      const strategy = createHmacStrategy({ keys: { [HMAC_KEY_ID]: HMAC_SECRET } });
      const server = await lab.start({ mode: 'message', strategies: strategy });
      const signed = await signHandshake({
        keyId: HMAC_KEY_ID,
        secret: HMAC_SECRET,
        namespace: server.namespace,
        fields: { sub: 'alice' },
      });
      const credentials = { ...signed, fields: { ...signed.fields } };
      assertAccepted((await login(server, 'message', credentials)).verdict);
      assertRefused((await login(server, 'message', credentials)).verdict, 'invalid_credentials');
      // Signed for another namespace: the signature does not match this one.
      const elsewhere = await signHandshake({ keyId: HMAC_KEY_ID, secret: HMAC_SECRET, namespace: '/other', fields: { sub: 'alice' } });
      assertRefused((await login(server, 'message', { ...elsewhere })).verdict, 'invalid_credentials');
    });
  });
}

function startSessionServer(lab: Lab, mode: 'handshake' | 'message') {
  const strategy = createSessionCookieStrategy({
    lookup: (sid) => sessions[sid] ?? null,
    secret: COOKIE_SECRET,
    origins: [APP_ORIGIN],
    csrf: 'portcullis',
    csrfSecret: CSRF_SECRET,
  });
  return lab.start({ mode, origins: [APP_ORIGIN], strategies: strategy });
}
