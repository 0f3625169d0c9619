import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { Server } from 'socket.io';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createManualClock } from '../../src/core/clock.js';
import type { Strategy } from '../../src/core/types.js';
import { isAuthError } from '../../src/errors.js';
import { createTlsClientCertStrategy } from '../../src/strategies/tls-client-cert.js';
import { makeContext, refusal, run } from '../helpers/auth-context.js';
import { type CertPair, generateTestCerts, type TestCerts } from '../helpers/certs.js';
import { connected, refused, startIo } from '../helpers/socket-io.js';

let certs: TestCerts;
before(async () => {
  certs = await generateTestCerts();
});
after(() => certs.cleanup());

/** An https server on 127.0.0.1 that runs `strategy` on each request's TLS state and answers the verdict. */
async function verdictServer(strategy: Strategy): Promise<{ server: HttpsServer; port: number }> {
  const server = createHttpsServer(
    { key: certs.server.key, cert: certs.server.cert, ca: certs.ca.cert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const tls = req.socket as TLSSocket;
      const cert = tls.getPeerCertificate(true);
      const context = makeContext({
        peerCertificate: Object.keys(cert).length > 0 ? cert : undefined,
        peerAuthorized: tls.authorized,
        secure: true,
      });
      Promise.resolve(strategy.authenticate(Object.create(null), context)).then(
        (p) => res.end(JSON.stringify({ id: p?.id ?? null, expiresAt: p?.expiresAt })),
        (err) => res.writeHead(401).end(JSON.stringify({ code: isAuthError(err) ? err.code : 'bug', detail: err.detail })),
      );
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A real TLS client request presenting `pair` (or no certificate). */
function call(port: number, pair: CertPair | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        ca: certs.ca.cert,
        agent: false,
        ...(pair === undefined ? {} : { cert: pair.cert, key: pair.key }),
      },
      (res) => {
        let data = '';
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('tls-client-cert strategy: options', () => {
  it('refuses half-configured proxy mode and a non-CA `ca`', () => {
    assert.throws(() => createTlsClientCertStrategy({ header: 'x-client-cert', ca: certs.ca.cert }), /trustedProxies/);
    assert.throws(() => createTlsClientCertStrategy({ trustedProxies: ['10.0.0.1'], ca: certs.ca.cert }), /header/);
    assert.throws(() => createTlsClientCertStrategy({ trustedProxies: ['10.0.0.1'], header: 'x-client-cert' }), /ca/);
    assert.throws(
      () => createTlsClientCertStrategy({ trustedProxies: ['10.0.0.1'], header: 'x-client-cert', ca: certs.client.cert }),
      /not a CA/,
    );
    assert.throws(() => createTlsClientCertStrategy({ ca: certs.ca.cert }), /proxy mode/);
  });
});

describe('tls-client-cert strategy: direct TLS with real certificates', () => {
  let server: HttpsServer;
  let port: number;
  before(async () => {
    ({ server, port } = await verdictServer(createTlsClientCertStrategy()));
  });
  after(() => new Promise((r) => server.close(r)));

  it('admits the good certificate with id = CN and expiresAt = notAfter', async () => {
    const { status, body } = await call(port, certs.client);
    assert.equal(status, 200);
    assert.equal(body.id, 'alice');
    assert.equal(body.expiresAt, Date.parse(new X509Certificate(certs.client.cert).validTo));
  });

  it('returns null without a certificate', async () => {
    assert.deepEqual((await call(port, undefined)).body, { id: null });
  });

  for (const [name, pick] of [
    ['self-signed', (c: TestCerts) => c.selfSignedClient],
    ['other CA', (c: TestCerts) => c.otherCaClient],
    ['expired', (c: TestCerts) => c.expiredClient],
  ] as const) {
    it(`refuses a ${name} certificate`, async () => {
      const { status, body } = await call(port, pick(certs));
      assert.equal(status, 401);
      assert.equal(body.code, 'invalid_credentials');
    });
  }

  it('refuses a certificate without the clientAuth usage', async () => {
    const { status, body } = await call(port, certs.serverOnlyClient);
    assert.equal(status, 401);
    assert.equal(body.code, 'invalid_credentials');
  });
});

describe('tls-client-cert strategy: validity at the guard clock', () => {
  it('refuses an authorised certificate once the clock passes notAfter, and maps with a custom mapper', async () => {
    const legacy = new X509Certificate(certs.client.cert).toLegacyObject() as PeerCertificate;
    const s = createTlsClientCertStrategy({ principal: (c) => ({ id: `cert:${c.serialNumber}`, data: { san: c.subjectAltName } }) });
    const ctx = makeContext({ peerCertificate: legacy, peerAuthorized: true });
    const p = await run(s, {}, ctx);
    assert.equal(p?.id, `cert:${legacy.serialNumber}`);
    assert.equal(p?.tokenId, legacy.fingerprint256);
    assert.deepEqual(p?.data, { san: 'email:user@example.com' });
    const later = makeContext({ peerCertificate: legacy, peerAuthorized: true, clock: createManualClock(Date.parse(legacy.valid_to) + 1) });
    assert.equal((await refusal(run(s, {}, later))).detail, 'tls: certificate expired');
    const unverified = makeContext({ peerCertificate: legacy, peerAuthorized: false });
    assert.equal((await refusal(run(s, {}, unverified))).code, 'invalid_credentials');
  });
});

describe('tls-client-cert strategy: proxy mode', () => {
  const header = (pair: CertPair) => ({ 'x-client-cert': encodeURIComponent(pair.cert) });
  let strategy: Strategy;
  before(() => {
    strategy = createTlsClientCertStrategy({ trustedProxies: ['10.0.0.5'], header: 'X-Client-Cert', ca: certs.ca.cert });
  });

  it('admits a forwarded certificate from a trusted proxy (IPv4-mapped too)', async () => {
    for (const ip of ['10.0.0.5', '::ffff:10.0.0.5']) {
      assert.equal((await run(strategy, {}, makeContext({ ip, headers: header(certs.client) })))?.id, 'alice');
    }
  });

  it('ignores the header from an untrusted IP', async () => {
    assert.equal(await run(strategy, {}, makeContext({ ip: '10.0.0.6', headers: header(certs.client) })), null);
    assert.equal(await run(strategy, {}, makeContext({ ip: '10.0.0.5' })), null);
  });

  it('refuses forwarded self-signed, other-CA, expired and garbage certificates', async () => {
    for (const pair of [certs.selfSignedClient, certs.otherCaClient, certs.expiredClient, certs.ca]) {
      const err = await refusal(run(strategy, {}, makeContext({ ip: '10.0.0.5', headers: header(pair) })));
      assert.equal(err.code, 'invalid_credentials');
    }
    const serverOnly = await refusal(run(strategy, {}, makeContext({ ip: '10.0.0.5', headers: header(certs.serverOnlyClient) })));
    assert.equal(serverOnly.detail, 'tls: certificate not for client auth');
    const garbage = await refusal(run(strategy, {}, makeContext({ ip: '10.0.0.5', headers: { 'x-client-cert': '%E0%A4%A' } })));
    assert.equal(garbage.detail, 'tls: forwarded certificate unreadable');
  });
});

describe('tls-client-cert strategy over Socket.IO', () => {
  let https: HttpsServer;
  let io: Server;
  let url: string;
  const clients: ClientSocket[] = [];
  before(async () => {
    https = createHttpsServer({
      key: certs.server.key,
      cert: certs.server.cert,
      ca: certs.ca.cert,
      requestCert: true,
      rejectUnauthorized: false,
    });
    io = new Server(https);
    createSocketIoGuard(io, { strategies: createTlsClientCertStrategy() });
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await new Promise<void>((r) => io.close(() => r()));
  });
  const client = (pair: CertPair | undefined) => {
    const c = ioc(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      ca: certs.ca.cert,
      ...(pair === undefined ? {} : { cert: pair.cert, key: pair.key }),
    });
    clients.push(c);
    return c;
  };

  it('connects with the good certificate and refuses self-signed, other-CA, expired and none', async () => {
    await connected(client(certs.client));
    for (const pair of [certs.selfSignedClient, certs.otherCaClient, certs.expiredClient]) {
      assert.equal((await refused(client(pair))).data?.code, 'invalid_credentials');
    }
    assert.equal((await refused(client(undefined))).data?.code, 'credentials_required');
  });
});

describe('tls-client-cert proxy mode over Socket.IO', () => {
  it('honours the header from a trusted proxy address only', async () => {
    const headers = { 'x-client-cert': encodeURIComponent(certs.client.cert) };
    const trusted = await startIo();
    const untrusted = await startIo();
    try {
      createSocketIoGuard(trusted.io, {
        strategies: createTlsClientCertStrategy({ trustedProxies: ['127.0.0.1'], header: 'x-client-cert', ca: certs.ca.cert }),
      });
      createSocketIoGuard(untrusted.io, {
        strategies: createTlsClientCertStrategy({ trustedProxies: ['192.0.2.1'], header: 'x-client-cert', ca: certs.ca.cert }),
      });
      await connected(trusted.client('/', { extraHeaders: headers }));
      assert.equal((await refused(untrusted.client('/', { extraHeaders: headers }))).data?.code, 'credentials_required');
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });
});
