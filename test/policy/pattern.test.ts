import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createManualClock } from '../../src/core/clock.js';
import { decide, Outcome, takeToken } from '../../src/policy/decide.js';
import { createGrantVerifier, signGrant } from '../../src/policy/grants.js';
import { compileEventRules, compilePattern } from '../../src/policy/pattern.js';

const alice = { id: 'alice', claims: { orgId: 'acme', orgs: ['acme', 'globex'], n: 42, evil: 'x:*', empty: '' } };

describe('name patterns', () => {
  it('binds claims segment-wise', () => {
    const p = compilePattern('org:{orgId}:*', ':');
    assert.equal(p.match('org:acme:chat', alice), true);
    assert.equal(p.match('org:globex:chat', alice), false);
    assert.equal(p.match('org:acme', alice), false);
    assert.equal(p.match('org:acme:', alice), false);
    assert.equal(p.match('org:acme:a:b', alice), false);
    assert.equal(p.match('org:acmex:chat', alice), false);
    assert.equal(p.match('org:acm:chat', alice), false);
    assert.equal(p.match('org:acme:chat', { id: 'bob' }), false);
  });

  it('never lets a claim value widen the match', () => {
    const p = compilePattern('t:{evil}:*', ':');
    assert.equal(p.match('t:x:*:y', alice), false);
    assert.equal(p.match('t:x:y', alice), false);
    assert.equal(p.match('t:anything:y', alice), false);
    assert.equal(compilePattern('t:{empty}', ':').match('t:', alice), false);
  });

  it('arrays, numbers, $id, rest and globs', () => {
    assert.equal(compilePattern('org:{orgs}', ':').match('org:globex', alice), true);
    assert.equal(compilePattern('org:{orgs}', ':').match('org:initech', alice), false);
    assert.equal(compilePattern('n:{n}', ':').match('n:42', alice), true);
    assert.equal(compilePattern('user:{$id}', ':').match('user:alice', alice), true);
    assert.equal(compilePattern('user:{$id}', ':').match('user:bob', alice), false);
    assert.equal(compilePattern('a:**', ':').match('a:b:c', alice), true);
    assert.equal(compilePattern('a:**', ':').match('a', alice), false);
    assert.equal(compilePattern('private-*', ':').match('private-1', alice), true);
    assert.equal(compilePattern('private-*', ':').match('private-', alice), false);
    assert.equal(compilePattern('private-*', ':').match('private-1:x', alice), false);
    assert.equal(compilePattern('/tenant-{orgId}', '/').match('/tenant-acme', alice), true);
    assert.equal(compilePattern('/tenant-{orgId}', '/').match('/tenant-acme/x', alice), false);
    assert.equal(compilePattern('/', '/').match('/', alice), true);
    assert.equal(compilePattern('/', '/').match('/admin', alice), false);
  });

  it('refuses ambiguous patterns with a TypeError', () => {
    assert.throws(() => compilePattern('a:**:b', ':'), TypeError);
    assert.throws(() => compilePattern('a:{x}{y}', ':'), TypeError);
    assert.throws(() => compilePattern('a:{x}*', ':'), TypeError);
    assert.throws(() => compilePattern('', ':'), TypeError);
  });

  it('event rules: exact first, then the longest prefix', () => {
    const m = compileEventRules({ '*': 'all', 'admin:*': 'admin', 'admin:kick': 'kick' });
    assert.equal(m.find('admin:kick')?.rule, 'kick');
    assert.equal(m.find('admin:ban')?.rule, 'admin');
    assert.equal(m.find('chat')?.rule, 'all');
    assert.equal(compileEventRules({ chat: 1 }).find('chat2'), undefined);
    assert.throws(() => compileEventRules({ 'a*b': 1 }), TypeError);
  });
});

describe('grants', () => {
  const secret = 'k'.repeat(32);
  it('verifies only for the same connection, channel and secret, before expiry and within maxTtl', () => {
    const clock = createManualClock(1_700_000_000_000);
    const v = createGrantVerifier({ secrets: [secret, 'old'.repeat(11)], clock, maxTtlMs: 60_000 });
    const expiresAt = clock.now() + 30_000;
    const token = signGrant(secret, { connectionId: 'c1', channel: 'private-1', expiresAt });
    assert.match(token, /^v1\.\d+\.[A-Za-z0-9_-]{43}$/);
    assert.equal(v.verify(token, 'c1', 'private-1'), expiresAt);
    assert.equal(
      v.verify(signGrant('old'.repeat(11), { connectionId: 'c1', channel: 'private-1', expiresAt }), 'c1', 'private-1'),
      expiresAt,
    );
    assert.equal(v.verify(token, 'c2', 'private-1'), 'bad_signature');
    assert.equal(v.verify(token, 'c1', 'private-2'), 'bad_signature');
    assert.equal(
      v.verify(signGrant('z'.repeat(32), { connectionId: 'c1', channel: 'private-1', expiresAt }), 'c1', 'private-1'),
      'bad_signature',
    );
    assert.equal(v.verify(token.replace(/\.(\d+)\./, `.${expiresAt + 1}.`), 'c1', 'private-1'), 'bad_signature');
    assert.equal(
      v.verify(signGrant(secret, { connectionId: 'c1', channel: 'private-1', expiresAt: clock.now() + 120_000 }), 'c1', 'private-1'),
      'too_long',
    );
    for (const bad of [
      undefined,
      42,
      '',
      'v2.1.x',
      `v1.0${expiresAt}.${'A'.repeat(43)}`,
      `v1.${expiresAt}.${'A'.repeat(42)}`,
      'x'.repeat(500),
    ]) {
      assert.equal(v.verify(bad, 'c1', 'private-1'), 'malformed', String(bad));
    }
    clock.advance(30_000);
    assert.equal(v.verify(token, 'c1', 'private-1'), 'expired');
  });

  it('refuses short secrets and bad input with a TypeError', () => {
    assert.throws(() => signGrant('short', { connectionId: 'c', channel: 'x', expiresAt: 1 }), TypeError);
    assert.throws(() => signGrant(secret, { connectionId: 'c\n', channel: 'x', expiresAt: 1 }), TypeError);
    assert.throws(() => signGrant(secret, { connectionId: 'c', channel: 'x', expiresAt: 1.5 }), TypeError);
  });
});

describe('decide and the token bucket', () => {
  it('fails closed on throws, rejections, non-booleans and timeouts', async () => {
    const clock = createManualClock();
    const errors: unknown[] = [];
    const run = (p: () => unknown) => decide(p as () => boolean, undefined, 100, clock, (e) => errors.push(e));
    assert.equal(
      run(() => true),
      Outcome.Allow,
    );
    assert.equal(
      run(() => 'yes'),
      Outcome.Deny,
    );
    assert.equal(
      run(() => {
        throw new Error('x');
      }),
      Outcome.Error,
    );
    assert.equal(await run(() => Promise.resolve(true)), Outcome.Allow);
    assert.equal(await run(() => Promise.resolve(1)), Outcome.Deny);
    assert.equal(await run(() => Promise.reject(new Error('y'))), Outcome.Error);
    const slow = run(() => new Promise(() => {}));
    clock.advance(100);
    assert.equal(await slow, Outcome.Timeout);
    assert.equal(errors.length, 2);
  });

  it('refills at the rate, holds at most the burst', () => {
    const state = { tokens: 2, refilledAt: 0 };
    assert.equal(takeToken(state, 0, 10, 2), true);
    assert.equal(takeToken(state, 0, 10, 2), true);
    assert.equal(takeToken(state, 0, 10, 2), false);
    assert.equal(takeToken(state, 100, 10, 2), true);
    assert.equal(takeToken(state, 100, 10, 2), false);
    assert.equal(takeToken(state, 10_000, 10, 2), true);
    assert.equal(takeToken(state, 10_000, 10, 2), true);
    assert.equal(takeToken(state, 10_000, 10, 2), false);
  });
});
