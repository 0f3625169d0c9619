/**
 * The audit's pure parts: credentials and their redaction, durations, look-alike origins,
 * loopback, JWT expiry, and the Socket.IO packet parser.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from '../../src/cli/audit/command.js';
import { createRedactor, jwtExpiry, parseCredential, tokenOf } from '../../src/cli/audit/model.js';
import { lookalikes } from '../../src/cli/audit/probes-admission.js';
import { isLoopback } from '../../src/cli/audit/probes-limits.js';
import { parseIoPacket } from '../../src/cli/audit/socket-io-session.js';

describe('audit internals', () => {
  it('parses a bare token or the JSON credential form, and refuses an empty one', () => {
    assert.deepEqual(parseCredential('abc.def\n'), { auth: { token: 'abc.def' } });
    assert.deepEqual(parseCredential('{"headers":{"Cookie":"sid=1234"},"query":{"token":"q-123"}}'), {
      headers: { cookie: 'sid=1234' },
      query: { token: 'q-123' },
    });
    assert.equal(tokenOf(parseCredential('{"query":{"token":"q-123"}}')), 'q-123');
    assert.throws(() => parseCredential('  '));
    assert.throws(() => parseCredential('{"nothing":1}'));
  });

  it('redacts every credential string, cookie values included, longest first', () => {
    const redactor = createRedactor();
    redactor.add({ auth: { username: 'alice', password: 'hunter2-hunter2' }, headers: { cookie: 'sid=s3cr3t-value; ui=on' } });
    const out = redactor.redact('user alice sent hunter2-hunter2 with sid=s3cr3t-value and s3cr3t-value again; ui on');
    assert.ok(!out.includes('alice') && !out.includes('hunter2') && !out.includes('s3cr3t'), out);
    assert.match(out, /ui on$/, 'values under 4 characters stay');
  });

  it('reads durations in ms, s and m', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('250'), 250);
    assert.throws(() => parseDuration('soon'));
  });

  it('builds look-alike origins that only a prefix or substring check would accept', () => {
    assert.deepEqual(lookalikes('https://app.example.com'), [
      'https://app.example.com.portcullis-audit.invalid',
      'https://portcullis-audit-app.example.com',
    ]);
    assert.deepEqual(lookalikes('http://127.0.0.1:3000'), [
      'http://127.0.0.1.portcullis-audit.invalid:3000',
      'http://portcullis-audit-127.0.0.1:3000',
    ]);
  });

  it('tells loopback addresses from the rest', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost']) assert.equal(isLoopback(a), true, a);
    for (const a of ['10.0.0.1', '192.168.1.1', '::', '2001:db8::1', '128.0.0.1']) assert.equal(isLoopback(a), false, a);
  });

  it('reads the exp of a JWT in epoch milliseconds, and nothing from other tokens', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'a', exp: 1_700_000_000 })).toString('base64url');
    assert.equal(jwtExpiry(`e30.${payload}.sig`), 1_700_000_000_000);
    assert.equal(jwtExpiry('opaque-token'), undefined);
    assert.equal(jwtExpiry(undefined), undefined);
  });

  it('parses Socket.IO packets: namespace, ack id, payload', () => {
    assert.deepEqual(parseIoPacket('0{"sid":"x"}'), { type: 0, nsp: '/', id: undefined, data: { sid: 'x' } });
    assert.deepEqual(parseIoPacket('4/chat,{"message":"m","data":{"code":"forbidden"}}'), {
      type: 4,
      nsp: '/chat',
      id: undefined,
      data: { message: 'm', data: { code: 'forbidden' } },
    });
    assert.deepEqual(parseIoPacket('3/chat,12["ok"]'), { type: 3, nsp: '/chat', id: 12, data: ['ok'] });
    assert.deepEqual(parseIoPacket('1/x'), { type: 1, nsp: '/x', id: undefined, data: undefined });
    assert.equal(parseIoPacket('x'), undefined);
  });
});
