import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { hmacCanonicalString, signHandshake } from '../../src/client/hmac-signer.js';
import type { AuthError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createHmacStrategy } from '../../src/strategies/hmac.js';
import { makeContext, refusal, run } from '../helpers/auth-context.js';
import { connected, refused, startIo } from '../helpers/socket-io.js';

const K1 = 'k1-secret-k1-secret-k1-secret-k1-secret';
const K2 = 'k2-secret-k2-secret-k2-secret-k2-secret';

describe('hmac canonical string and signer', () => {
  it('matches the PROTOCOL.md §5 test vector', async () => {
    const parts = {
      keyId: 'k1',
      timestamp: 1700000000000,
      nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
      namespace: '/chat',
      fields: { sub: 'alice', role: 'admin' },
    };
    const canonical = hmacCanonicalString(parts);
    assert.equal(canonical, 'portcullis-hmac-v1\nk1\n1700000000000\nAAAAAAAAAAAAAAAAAAAAAA\n/chat\nrole=admin\nsub=alice');
    const signed = await signHandshake({ ...parts, secret: 'k1-secret-k1-secret-k1-secret-k1-secret', now: parts.timestamp });
    const expected = createHmac('sha256', 'k1-secret-k1-secret-k1-secret-k1-secret').update(canonical).digest('base64url');
    assert.equal(signed.signature, expected);
    assert.equal(signed.signature, 'QmAb9LfMjslI0qvPjF_QMggETBlMuZeQTIL1sztc7CQ');
  });

  it('refuses fields that could make two inputs sign the same string', () => {
    const base = { keyId: 'k1', timestamp: 1, nonce: 'AAAAAAAAAAAAAAAAAAAAAA', namespace: '/' };
    assert.throws(() => hmacCanonicalString({ ...base, fields: { 'a=b': 'c' } }), TypeError);
    assert.throws(() => hmacCanonicalString({ ...base, fields: { a: 'b\nsub=admin' } }), TypeError);
    assert.throws(() => hmacCanonicalString({ ...base, keyId: 'k\n1' }), TypeError);
    assert.throws(() => hmacCanonicalString({ ...base, nonce: 'short' }), TypeError);
  });

  it('uses WebCrypto only (no imports at all)', async () => {
    const source = await readFile(new URL('../../src/client/hmac-signer.ts', import.meta.url), 'utf8');
    assert.doesNotMatch(source, /^\s*import\s/m);
  });
});

describe('hmac strategy', () => {
  const strategy = createHmacStrategy({ keys: { k1: K1, k2: K2 } });
  const sign = (ctx: ReturnType<typeof makeContext>, extra: Partial<Parameters<typeof signHandshake>[0]> = {}) =>
    signHandshake({ keyId: 'k1', secret: K1, namespace: ctx.namespace, fields: { sub: 'alice' }, now: ctx.clock.now(), ...extra });

  it('checks its options', () => {
    assert.throws(() => createHmacStrategy({ keys: { k1: 'too-short' } }), /32 bytes/);
    assert.throws(() => createHmacStrategy({ keys: {} }), /empty/);
    assert.throws(() => createHmacStrategy({} as never), /keys/);
    assert.throws(() => createHmacStrategy({ keys: { k1: K1 }, windowMs: -1 }), /windowMs/);
  });

  it('answers at once with keys given as an object and an in-process store, through a promise otherwise', async () => {
    const ctx = makeContext();
    const now = strategy.authenticate({ ...(await sign(ctx)) }, ctx);
    assert.ok(!(now instanceof Promise), 'a verdict that needs no promise');
    assert.equal((now as { id: string }).id, 'alice');
    const replay = await sign(ctx);
    strategy.authenticate({ ...replay }, ctx);
    assert.throws(
      () => strategy.authenticate({ ...replay }, ctx),
      (err: AuthError) => err.code === 'invalid_credentials',
    );
    const lookedUp = createHmacStrategy({ keys: async (id) => (id === 'k1' ? K1 : undefined) });
    const later = lookedUp.authenticate({ ...(await sign(ctx)) }, ctx);
    assert.ok(later instanceof Promise);
    assert.equal((await later)?.id, 'alice');
    const mapped = createHmacStrategy({ keys: { k1: K1 }, principal: async (fields) => ({ id: `m:${fields.sub}` }) });
    const mappedLater = mapped.authenticate({ ...(await sign(ctx)) }, ctx);
    assert.ok(mappedLater instanceof Promise);
    assert.equal((await mappedLater)?.id, 'm:alice');
    assert.equal((await mappedLater)?.issuedAt, ctx.clock.now());
  });

  it('admits a signed handshake and maps fields.sub', async () => {
    const ctx = makeContext();
    const p = await run(strategy, await sign(ctx, { fields: { sub: 'alice', plan: 'pro' } }), ctx);
    assert.equal(p?.id, 'alice');
    assert.deepEqual(p?.claims, { sub: 'alice', plan: 'pro', keyId: 'k1' });
    assert.equal(p?.issuedAt, ctx.clock.now());
  });

  it('returns null for other credentials', async () => {
    assert.equal(await run(strategy, { token: 'x' }, makeContext()), null);
  });

  it('refuses a replayed nonce, also on another node sharing the store', async () => {
    const ctx = makeContext();
    const creds = await sign(ctx);
    assert.equal((await run(strategy, creds, ctx))?.id, 'alice');
    const e = await refusal(run(strategy, creds, ctx));
    assert.deepEqual([e.code, e.detail], ['invalid_credentials', 'hmac: replayed nonce']);
    const otherNode = createHmacStrategy({ keys: { k1: K1 } });
    assert.equal((await refusal(run(otherNode, creds, ctx))).detail, 'hmac: replayed nonce');
  });

  it('refuses stale and future timestamps outside the window', async () => {
    const ctx = makeContext();
    const now = ctx.clock.now();
    const stale = await sign(ctx, { now: now - 30_001 });
    const future = await sign(ctx, { now: now + 30_001 });
    for (const creds of [stale, future]) {
      assert.equal((await refusal(run(strategy, creds, ctx))).detail, 'hmac: timestamp outside the window');
    }
    assert.equal((await run(strategy, await sign(ctx, { now: now - 29_000 }), ctx))?.id, 'alice');
  });

  it('refuses a wrong key, an unknown keyId, a tampered field and another namespace', async () => {
    const ctx = makeContext();
    const wrongKey = await sign(ctx, { secret: K2 });
    assert.equal((await refusal(run(strategy, wrongKey, ctx))).detail, 'hmac: bad signature');
    const unknown = await sign(ctx, { keyId: 'k9' });
    assert.equal((await refusal(run(strategy, unknown, ctx))).detail, 'hmac: unknown key id');
    const tampered = { ...(await sign(ctx)), fields: { sub: 'admin' } };
    const err = await refusal(run(strategy, tampered, ctx));
    assert.equal(err.detail, 'hmac: bad signature');
    assert.ok(!err.detail?.includes(tampered.signature));
    const added = await sign(ctx);
    assert.equal((await refusal(run(strategy, { ...added, fields: { sub: 'alice', role: 'admin' } }, ctx))).detail, 'hmac: bad signature');
    const forAdmin = await sign(ctx, { namespace: '/admin' });
    assert.equal((await refusal(run(strategy, forAdmin, ctx))).detail, 'hmac: bad signature');
  });

  it('refuses malformed handshakes with invalid_request', async () => {
    const ctx = makeContext();
    const good = await sign(ctx);
    const cases: Record<string, unknown>[] = [
      { ...good, nonce: 'short' },
      { ...good, timestamp: String(good.timestamp) },
      { ...good, signature: 'not base64url!' },
      { ...good, fields: { sub: 5 } },
      { ...good, fields: { 'a=b': 'c' } },
      { ...good, fields: { sub: 'a\nb' } },
      { ...good, keyId: '' },
    ];
    for (const creds of cases) assert.equal((await refusal(run(strategy, creds, ctx))).code, 'invalid_request', JSON.stringify(creds));
  });

  it('rotates keys through a lookup function', async () => {
    const ctx = makeContext();
    const live = new Map([['k1', K1]]);
    const rotating = createHmacStrategy({ keys: (id) => live.get(id) });
    assert.equal((await run(rotating, await sign(ctx), ctx))?.id, 'alice');
    live.set('k2', K2);
    assert.equal((await run(rotating, await sign(ctx, { keyId: 'k2', secret: K2 }), ctx))?.id, 'alice');
    live.delete('k1');
    assert.equal((await refusal(run(rotating, await sign(ctx), ctx))).detail, 'hmac: unknown key id');
  });

  it('uses a custom principal mapper and refuses a handshake without sub by default', async () => {
    const ctx = makeContext();
    const custom = createHmacStrategy({ keys: { svc: K1 }, principal: (fields, keyId) => ({ id: `${keyId}:${fields.device}` }) });
    assert.equal((await run(custom, await sign(ctx, { keyId: 'svc', fields: { device: 'd1' } }), ctx))?.id, 'svc:d1');
    assert.equal((await refusal(run(strategy, await sign(ctx, { fields: {} }), ctx))).detail, 'hmac: no sub field');
  });

  it('remembers nonces for twice the window', async () => {
    const ctx = makeContext();
    const creds = await sign(ctx);
    await run(strategy, creds, ctx);
    ctx.clock.advance(59_000);
    assert.equal(await ctx.store.get(`hmac-nonce:k1:${creds.nonce}`), '1');
    ctx.clock.advance(1_001);
    assert.equal(await ctx.store.get(`hmac-nonce:k1:${creds.nonce}`), undefined);
  });
});

describe('hmac strategy over Socket.IO', () => {
  let fixture: Awaited<ReturnType<typeof startIo>>;
  const store = createMemoryStore();
  before(async () => {
    fixture = await startIo();
    createSocketIoGuard(fixture.io, { store, strategies: createHmacStrategy({ keys: { k1: K1 } }) });
    fixture.io.of('/chat');
  });
  after(async () => {
    await fixture.close();
    await store.close();
  });

  it('connects with a signed handshake and refuses its replay and a wrong namespace', async () => {
    const auth = await signHandshake({ keyId: 'k1', secret: K1, namespace: '/chat', fields: { sub: 'alice' } });
    await connected(fixture.client('/chat', { auth }));
    assert.equal((await refused(fixture.client('/chat', { auth }))).data?.code, 'invalid_credentials');
    const elsewhere = await signHandshake({ keyId: 'k1', secret: K1, namespace: '/chat', fields: { sub: 'alice' } });
    assert.equal((await refused(fixture.client('/', { auth: elsewhere }))).data?.code, 'invalid_credentials');
  });
});
