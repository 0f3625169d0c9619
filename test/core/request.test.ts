import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { createRequestResolver, MAX_FORWARDED_HOPS, peerCertificateOf, snapshotRequest } from '../../src/core/request.js';

interface FakeSocket {
  remoteAddress?: string;
  encrypted?: boolean;
  authorized?: boolean;
  getPeerCertificate?: () => object;
}

function req(remoteAddress: string, headers: Record<string, string> = {}, socket: Partial<FakeSocket> = {}): IncomingMessage {
  return { socket: { remoteAddress, ...socket }, headers, url: '/ws?ticket=abc' } as unknown as IncomingMessage;
}

describe('createRequestResolver', () => {
  it('uses the socket when no proxy is trusted, ignoring forged forwarding headers', () => {
    const resolve = createRequestResolver();
    const forged = req('203.0.113.7', { 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https' });
    assert.deepEqual(resolve(forged), { ip: '203.0.113.7', secure: false });
  });

  it('ignores X-Forwarded-* from an untrusted peer even when proxies are configured', () => {
    const resolve = createRequestResolver({ trustedProxies: ['10.0.0.2'] });
    const forged = req('203.0.113.7', { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' });
    assert.deepEqual(resolve(forged), { ip: '203.0.113.7', secure: false });
  });

  it('takes the rightmost untrusted X-Forwarded-For entry behind trusted proxies', () => {
    const resolve = createRequestResolver({ trustedProxies: ['10.0.0.2', '10.0.0.3'] });
    // client forged "6.6.6.6"; the edge proxy appended the real client, the inner proxy appended the edge.
    const r = req('::ffff:10.0.0.2', { 'x-forwarded-for': '6.6.6.6, 198.51.100.9, 10.0.0.3' });
    assert.equal(resolve(r).ip, '198.51.100.9');
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-for': '198.51.100.9' })).ip, '198.51.100.9');
    // Every hop trusted: the leftmost one.
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-for': '10.0.0.3' })).ip, '10.0.0.3');
    // No header: the proxy itself.
    assert.equal(resolve(req('10.0.0.2')).ip, '10.0.0.2');
    // Garbage next to us: the last valid address.
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-for': '198.51.100.9, not-an-ip' })).ip, '10.0.0.2');
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-for': 'garbage, 10.0.0.3' })).ip, '10.0.0.3');
  });

  it('reads X-Forwarded-Proto (rightmost value) only from a trusted proxy', () => {
    const resolve = createRequestResolver({ trustedProxies: ['10.0.0.2'] });
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-proto': 'https' })).secure, true);
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-proto': 'HTTPS' })).secure, true);
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-proto': 'https, http' })).secure, false);
    assert.equal(resolve(req('10.0.0.2', { 'x-forwarded-proto': 'http' }, { encrypted: true })).secure, false);
    assert.equal(resolve(req('10.0.0.2', {}, { encrypted: true })).secure, true);
  });

  it('reports direct TLS from the socket', () => {
    assert.equal(createRequestResolver()(req('127.0.0.1', {}, { encrypted: true })).secure, true);
  });

  it('normalises IPv4-mapped addresses and handles IPv6 proxies', () => {
    const resolve = createRequestResolver({ trustedProxies: ['::1'] });
    assert.equal(resolve(req('::ffff:127.0.0.1')).ip, '127.0.0.1');
    assert.equal(resolve(req('::1', { 'x-forwarded-for': '2001:db8::5' })).ip, '2001:db8::5');
  });

  it('throws TypeError for entries that are not addresses, ranges or presets', () => {
    assert.throws(() => createRequestResolver({ trustedProxies: ['proxy.internal'] }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: ['10.0.0.0/33'] }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: ['10.0.0.0/x'] }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: [7 as never] }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: '10.0.0.1' as never }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: -1 }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: 1.5 }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: { proxies: 1, header: 'x-real-ip' as never } }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: { proxies: 'loopback' as never } }), TypeError);
  });

  it('trusts CIDR ranges (bits or netmask) and the proxy-addr presets', () => {
    const cidr = createRequestResolver({ trustedProxies: ['10.0.0.0/8', '192.168.0.0/255.255.0.0', 'fd00::/8'] });
    assert.equal(cidr(req('10.200.3.4', { 'x-forwarded-for': '198.51.100.9' })).ip, '198.51.100.9');
    assert.equal(cidr(req('::ffff:192.168.7.7', { 'x-forwarded-for': '198.51.100.9' })).ip, '198.51.100.9');
    assert.equal(cidr(req('fd12::1', { 'x-forwarded-for': '2001:db8::5' })).ip, '2001:db8::5');
    assert.equal(cidr(req('11.0.0.1', { 'x-forwarded-for': '198.51.100.9' })).ip, '11.0.0.1');
    // A chain of load balancers inside the range, whatever their addresses.
    assert.equal(cidr(req('10.0.0.9', { 'x-forwarded-for': '6.6.6.6, 198.51.100.9, 10.9.9.9, 10.1.1.1' })).ip, '198.51.100.9');
    const presets = createRequestResolver({ trustedProxies: ['loopback', 'uniquelocal', 'linklocal'] });
    for (const proxy of ['127.0.0.1', '127.9.9.9', '::1', '10.1.2.3', '172.16.0.1', '192.168.1.1', 'fc00::1', '169.254.1.1', 'fe80::1']) {
      assert.equal(presets(req(proxy, { 'x-forwarded-for': '198.51.100.9' })).ip, '198.51.100.9', proxy);
    }
    for (const outsider of ['8.8.8.8', '172.32.0.1', '2001:db8::1']) {
      assert.equal(presets(req(outsider, { 'x-forwarded-for': '198.51.100.9' })).ip, outsider, outsider);
    }
  });

  it('counts hops from the right with a number (Express "trust proxy" n)', () => {
    const one = createRequestResolver({ trustedProxies: 1 });
    assert.equal(one(req('203.0.113.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.9' })).ip, '198.51.100.9');
    assert.equal(one(req('203.0.113.1')).ip, '203.0.113.1');
    const two = createRequestResolver({ trustedProxies: 2 });
    assert.equal(two(req('203.0.113.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.9, 203.0.113.2' })).ip, '198.51.100.9');
    // Fewer hops than trusted: the leftmost.
    assert.equal(two(req('203.0.113.1', { 'x-forwarded-for': '198.51.100.9' })).ip, '198.51.100.9');
    assert.equal(createRequestResolver({ trustedProxies: 0 })(req('203.0.113.1', { 'x-forwarded-for': '1.2.3.4' })).ip, '203.0.113.1');
  });

  it('reads the standard Forwarded header (RFC 7239) when told to, and only then', () => {
    const std = createRequestResolver({ trustedProxies: { proxies: ['loopback'], header: 'forwarded' } });
    const xff = createRequestResolver({ trustedProxies: ['loopback'] });
    const headers = {
      forwarded: 'for=6.6.6.6;proto=http, For="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1, for=127.0.0.2',
      'x-forwarded-for': '1.2.3.4',
    };
    assert.deepEqual(std(req('127.0.0.1', headers)), { ip: '2001:db8:cafe::17', secure: true });
    assert.deepEqual(xff(req('127.0.0.1', headers)), { ip: '1.2.3.4', secure: false });
    assert.deepEqual(std(req('127.0.0.1', { forwarded: 'for="198.51.100.9:47011";proto=http' }, { encrypted: true })), {
      ip: '198.51.100.9',
      secure: false,
    });
    // Not from a trusted peer: ignored.
    assert.deepEqual(std(req('203.0.113.7', headers)), { ip: '203.0.113.7', secure: false });
    // Obfuscated or unknown nodes, and malformed headers, are not addresses: the last good hop is the client.
    assert.equal(std(req('127.0.0.1', { forwarded: 'for=198.51.100.9, for=unknown' })).ip, '127.0.0.1');
    assert.equal(std(req('127.0.0.1', { forwarded: 'for=_hidden, for=198.51.100.9' })).ip, '198.51.100.9');
    assert.equal(std(req('127.0.0.1', { forwarded: 'for="198.51.100.9' })).ip, '127.0.0.1');
    assert.equal(std(req('127.0.0.1', { forwarded: 'for' })).ip, '127.0.0.1');
    assert.equal(std(req('127.0.0.1', { forwarded: 'proto=https' })).ip, '127.0.0.1');
    const hops = createRequestResolver({ trustedProxies: { proxies: 1, header: 'forwarded' } });
    assert.equal(hops(req('203.0.113.1', { forwarded: 'for=6.6.6.6, for=198.51.100.9' })).ip, '198.51.100.9');
  });

  it(`walks at most ${MAX_FORWARDED_HOPS} hops, so 50 000 trusted hops cost no more than ${MAX_FORWARDED_HOPS}`, () => {
    assert.equal(MAX_FORWARDED_HOPS, 32);
    const resolve = createRequestResolver({ trustedProxies: ['10.0.0.0/8'] });
    const std = createRequestResolver({ trustedProxies: { proxies: ['10.0.0.0/8'], header: 'forwarded' } });
    const many = Array.from({ length: 50_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    // The 32 rightmost entries are believed, the last of them a proxy address, never one a client wrote.
    const last = many[many.length - MAX_FORWARDED_HOPS];
    const started = performance.now();
    assert.equal(resolve(req('10.0.0.1', { 'x-forwarded-for': `198.51.100.9, ${many.join(', ')}` })).ip, last);
    assert.equal(std(req('10.0.0.1', { forwarded: `for=198.51.100.9, ${many.map((a) => `for=${a}`).join(', ')}` })).ip, last);
    const ms = performance.now() - started;
    // Generous for a busy machine (the Forwarded header is still parsed once, linearly).
    assert.ok(ms < 1_000, `took ${ms.toFixed(1)} ms`);
    // 31 proxies and the client: the client.
    const chain = many.slice(0, 30).join(', ');
    assert.equal(resolve(req('10.0.0.1', { 'x-forwarded-for': `6.6.6.6, 198.51.100.9, ${chain}` })).ip, '198.51.100.9');
  });
});

describe('peerCertificateOf / snapshotRequest', () => {
  it('returns the peer certificate only on TLS and only when one was sent', () => {
    assert.deepEqual(peerCertificateOf(req('127.0.0.1')), { certificate: undefined, authorized: false });
    const none = req('127.0.0.1', {}, { encrypted: true, authorized: false, getPeerCertificate: () => ({}) });
    assert.deepEqual(peerCertificateOf(none), { certificate: undefined, authorized: false });
    const cert = { subject: { CN: 'alice' }, fingerprint256: 'AA' };
    const some = req('127.0.0.1', {}, { encrypted: true, authorized: true, getPeerCertificate: () => cert });
    assert.deepEqual(peerCertificateOf(some), { certificate: cert, authorized: true });
  });

  it('takes headers, url and origin without keeping the request', () => {
    const r = req('127.0.0.1', { origin: 'https://app.example.com', cookie: 'sid=1' });
    const ctx = snapshotRequest(r, { ip: '127.0.0.1', secure: true });
    assert.equal(ctx.origin, 'https://app.example.com');
    assert.equal(ctx.url, '/ws?ticket=abc');
    assert.equal(ctx.secure, true);
    assert.equal(ctx.headers.cookie, 'sid=1');
    assert.equal(ctx.socket, undefined);
    for (const value of Object.values(ctx)) assert.notEqual(value, r);
  });
});
