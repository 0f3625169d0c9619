/**
 * No unbounded work before a limit (the `ws` upgrade): what an unauthenticated
 * upgrade request costs before the rate limit and the pending budget apply is
 * bounded by its size, and `Sec-WebSocket-Protocol` by a fixed entry count.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, describe, it } from 'node:test';
import { MAX_OFFERED_PROTOCOLS, takeUpgradeCredentials } from '../../src/adapters/ws/upgrade.js';
import { isAuthError } from '../../src/errors.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { opened, rawRequest, startWs, upgradeRequest, type WsFixture } from '../helpers/ws.js';

const strategy = createCustomStrategy((c) => (typeof c.user === 'string' ? { id: c.user } : null));
const offered = (n: number): string[] => Array.from({ length: n }, (_, i) => `p${i}`);
const request = (protocols: string): IncomingMessage => ({ headers: { 'sec-websocket-protocol': protocols }, url: '/' }) as IncomingMessage;

describe('ws upgrade: Sec-WebSocket-Protocol', () => {
  const fixtures: WsFixture[] = [];
  after(async () => {
    await Promise.all(fixtures.map((fx) => fx.close()));
  });

  it(`accepts ${MAX_OFFERED_PROTOCOLS} offered subprotocols and refuses one more with invalid_request (HTTP 400)`, async () => {
    assert.equal(MAX_OFFERED_PROTOCOLS, 64);
    const fx = await startWs({ strategies: [strategy], origins: '*', subprotocol: 'p63' });
    fixtures.push(fx);
    const ws = fx.client('/', offered(MAX_OFFERED_PROTOCOLS));
    await opened(ws);
    assert.equal(ws.protocol, 'p63');
    const tooMany = await rawRequest(
      fx.port,
      upgradeRequest('/', { 'Sec-WebSocket-Protocol': offered(MAX_OFFERED_PROTOCOLS + 1).join(', ') }),
    );
    assert.match(tooMany, /^HTTP\/1\.1 400 .*"code":"invalid_request"/s);
    // Thousands of entries (as many as fit in Node's 16 KiB of headers) are refused the same way.
    const thousands = await rawRequest(fx.port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': offered(2_500).join(',') }));
    assert.match(thousands, /^HTTP\/1\.1 400 .*"code":"invalid_request"/s);
  });

  it('refuses 50 000 entries after counting separators, without splitting or comparing them', () => {
    const header = offered(50_000).join(', ');
    const started = performance.now();
    assert.throws(
      () => takeUpgradeCredentials(request(header), 'ticket'),
      (err: unknown) => isAuthError(err) && err.code === 'invalid_request' && /too many/.test(err.detail ?? ''),
    );
    // Generous: the quadratic parse took seconds for this list; counting 64 commas takes microseconds.
    const ms = performance.now() - started;
    assert.ok(ms < 250, `took ${ms.toFixed(1)} ms`);
  });

  it('still refuses a repeated entry and keeps the others in order (the bearer entry taken out)', () => {
    const req = request('chat, portcullis.bearer.tok, v2');
    assert.deepEqual(takeUpgradeCredentials(req, 'ticket').credentials, { token: 'tok' });
    assert.equal(req.headers['sec-websocket-protocol'], 'chat, v2');
    assert.throws(
      () => takeUpgradeCredentials(request('chat, v2, chat'), 'ticket'),
      (err: unknown) => isAuthError(err) && err.code === 'invalid_request',
    );
  });
});
