import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { createRequestResolver, peerCertificateOf, snapshotRequest } from '../../src/core/request.js';

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

  it('throws TypeError for entries that are not IPs', () => {
    assert.throws(() => createRequestResolver({ trustedProxies: ['10.0.0.0/8'] }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: ['proxy.internal'] }), TypeError);
    assert.throws(() => createRequestResolver({ trustedProxies: '10.0.0.1' as never }), TypeError);
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
