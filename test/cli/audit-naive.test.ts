/**
 * The audit against deliberately naive servers written the way tutorials write them
 * (test/fixtures/naive/): each one's known weaknesses must be reported, and nothing it
 * does not have. Loopback only.
 */
import { after, describe, it } from 'node:test';
import { startCookieSessionIo } from '../fixtures/naive/cookie-session-io.js';
import { startJwtIoUse } from '../fixtures/naive/jwt-io-use.js';
import { startPostConnectAuthIo } from '../fixtures/naive/post-connect-auth-io.js';
import { startWsConnectionCap } from '../fixtures/naive/ws-connection-cap.js';
import { startWsVerifyClient } from '../fixtures/naive/ws-verify-client.js';
import { assertFindings, assertRedacted, audit, quickOptions } from './audit-helpers.js';

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const server of servers) await server.close();
});

describe('portcullis audit on naive servers', () => {
  it('Socket.IO io.use + jsonwebtoken: hijack, no deadline, query token, retries, 1 MB, no limit, expiry ignored', async () => {
    const server = await startJwtIoUse();
    servers.push(server);
    const issued: string[] = [];
    const { report, ids } = await audit(
      quickOptions(server.url, () => {
        const token = server.credential(3); // short-lived: the expiry probe waits for it
        issued.push(token);
        return token;
      }),
    );
    assertFindings(
      ids,
      [
        'origin.foreign-accepted',
        'origin.null-accepted',
        'origin.lookalike-accepted',
        'deadline.missing',
        'attempts.unbounded',
        'credentials.in-query',
        'payload.oversized',
        'limits.pending-unbounded',
        'expiry.not-enforced',
        'expiry.no-refresh',
      ],
      ['isolation.pending-broadcast', 'transport.plaintext', 'credentials.subprotocol-echoed'],
    );
    assertRedacted(report, issued);
  });

  it('cookie-session Socket.IO app: a foreign page opens an authenticated socket with the cookie', async () => {
    const server = await startCookieSessionIo();
    servers.push(server);
    const cookies: string[] = [];
    const { report, ids } = await audit(
      quickOptions(server.url, () => {
        const credential = server.credential();
        cookies.push((JSON.parse(credential) as { headers: { cookie: string } }).headers.cookie.slice(4));
        return credential;
      }),
    );
    assertFindings(
      ids,
      ['origin.foreign-accepted', 'deadline.missing', 'attempts.unbounded', 'payload.oversized', 'limits.pending-unbounded'],
      ['credentials.in-query', 'expiry.not-enforced', 'isolation.pending-broadcast'],
    );
    const hijack = report.findings.find((f) => f.id === 'origin.foreign-accepted');
    if (hijack?.severity !== 'high') throw new Error(`a cookie hijack is high, got ${hijack?.severity}`);
    assertRedacted(report, cookies);
  });

  it('ws with verifyClient and a query token: hijack, query token, echoed bearer subprotocol, 1 MB relayed, expiry ignored', async () => {
    const server = await startWsVerifyClient();
    servers.push(server);
    const tokens: string[] = [];
    const { report, ids } = await audit(
      quickOptions(server.url, () => {
        const credential = server.credential(3);
        tokens.push((JSON.parse(credential) as { query: { token: string } }).query.token);
        return credential;
      }),
    );
    assertFindings(
      ids,
      ['origin.foreign-accepted', 'credentials.in-query', 'credentials.subprotocol-echoed', 'payload.oversized', 'expiry.not-enforced'],
      // verifyClient refuses before the upgrade: nothing is ever pending.
      ['deadline.missing', 'limits.pending-unbounded', 'isolation.pending-broadcast', 'attempts.unbounded'],
    );
    assertRedacted(report, tokens);
  });

  it('post-connect authentication event without isolation: pending sockets get broadcasts and reach handlers; an error oracle', async () => {
    const server = await startPostConnectAuthIo();
    servers.push(server);
    const { report, ids } = await audit(quickOptions(server.url, () => server.credential(), { username: 'alice', emit: 'chat' }));
    assertFindings(
      ids,
      [
        'isolation.pending-broadcast',
        'isolation.pending-handler',
        'deadline.missing',
        'attempts.unbounded',
        'oracle.user-enumeration',
        'origin.foreign-accepted',
        'limits.pending-unbounded',
      ],
      ['credentials.in-query', 'expiry.not-enforced'],
    );
    assertRedacted(report, ['correct horse battery staple']);
  });

  it('ws with a hand-rolled connection cap: 429 without Retry-After, and no deadline', async () => {
    const server = await startWsConnectionCap();
    servers.push(server);
    const { report, ids } = await audit(quickOptions(server.url, undefined));
    assertFindings(ids, ['limits.retry-after-missing', 'deadline.missing'], ['limits.pending-unbounded', 'credentials.in-query']);
    const cap = report.probes.find((p) => p.probe === 'pending-limit');
    if (!/connection \d+ was refused: HTTP 429/.test(cap?.note ?? '')) throw new Error(`pending-limit: ${cap?.note}`);
  });
});
