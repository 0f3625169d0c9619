import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { createManualClock } from '../../src/core/clock.js';
import { createAuthorization } from '../../src/policy/authorization.js';
import { attachSocketIoAuthorization } from '../../src/policy/socket-io.js';
import type { AuthorizationOptions, RevalidateAnswer } from '../../src/policy/types.js';
import { type Claims, claimsStrategy } from '../helpers/policy.js';
import { connected, type IoFixture, startIo } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

let fx: IoFixture | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  for (const c of closers.splice(0)) await c();
});

const strategy = claimsStrategy(() => 'acme');

async function setup(options: AuthorizationOptions<Claims>) {
  fx = await startIo();
  const clock = createManualClock();
  const authz = createAuthorization<Claims>({ clock, ...options });
  const guard = createSocketIoGuard(fx.io, { strategies: [strategy], clock, hooks: [authz.hooks] });
  attachSocketIoAuthorization(guard, authz);
  closers.push(() => authz.close());
  await authz.ready;
  return { fx, clock, authz };
}

const join = async (c: ReturnType<IoFixture['client']>, room: string) =>
  ((await c.timeout(2000).emitWithAck('portcullis:join', { room })) as { ok: boolean }).ok;

describe('live re-validation', () => {
  it('keeps, ends or downgrades on the interval; one check per principal per batch; bounded concurrency', async () => {
    const answers = new Map<string, RevalidateAnswer<Claims>>();
    const asked: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const release: (() => void)[] = [];
    const { fx, clock } = await setup({
      rooms: { 'ops:*': ({ principal }) => principal.claims.roles.includes('ops') },
      revalidate: {
        intervalMs: 60_000,
        jitter: 0,
        concurrency: 2,
        check(principal) {
          asked.push(principal.id);
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          return new Promise((resolve) =>
            release.push(() => {
              inFlight--;
              resolve(answers.get(principal.id) ?? true);
            }),
          );
        },
      },
    });
    const alice = [fx.client('/', { auth: { user: 'alice' } }), fx.client('/', { auth: { user: 'alice' } })];
    const bob = fx.client('/', { auth: { user: 'bob' } });
    const carol = fx.client('/', { auth: { user: 'carol', roles: ['ops'] } });
    await Promise.all([...alice, bob, carol].map((c) => connected(c)));
    assert.equal(await join(carol, 'ops:pager'), true);
    answers.set('bob', false);
    answers.set('carol', { id: 'carol', claims: { orgId: 'acme', roles: [] } });
    const bobGone = waitForEvent<{ code: string }>(bob, 'unauthorized');
    const carolLeft = waitForEvent<{ room: string; code: string }>(carol, 'portcullis:left');
    clock.advance(60_000);
    // Three principals, at most two checks at a time.
    await waitUntil(() => asked.length === 2, 2000, 'the first two checks');
    assert.equal(inFlight, 2);
    while (asked.length < 3 || inFlight > 0) {
      release.shift()?.();
      await waitUntil(() => release.length > 0 || inFlight === 0, 2000, 'the next check');
    }
    assert.deepEqual([...asked].sort(), ['alice', 'bob', 'carol']);
    assert.equal(maxInFlight, 2);
    assert.equal((await bobGone).code, 'revoked');
    assert.deepEqual(await carolLeft, { room: 'ops:pager', message: 'Forbidden', code: 'forbidden', retryable: false });
    assert.ok(alice.every((c) => c.connected) && carol.connected);
    assert.equal(await join(carol, 'ops:pager'), false);
  });

  it('a throwing check closes with unavailable (fail closed)', async () => {
    const { fx, clock } = await setup({
      revalidate: {
        intervalMs: 1000,
        jitter: 0,
        check() {
          throw new Error('auth service down');
        },
      },
    });
    const c = fx.client('/', { auth: { user: 'alice' } });
    await connected(c);
    const gone = waitForEvent<{ code: string }>(c, 'unauthorized');
    clock.advance(1000);
    assert.equal((await gone).code, 'unavailable');
  });
});

describe('invalidate', () => {
  it('re-checks the members of a room when the app says a policy input changed', async () => {
    const banned = new Set<string>();
    const { fx, authz } = await setup({ rooms: { 'doc:*': async ({ principal, room }) => !banned.has(`${room}/${principal.id}`) } });
    const a = fx.client('/', { auth: { user: 'alice' } });
    const b = fx.client('/', { auth: { user: 'bob' } });
    await Promise.all([connected(a), connected(b)]);
    assert.equal(await join(a, 'doc:1'), true);
    assert.equal(await join(b, 'doc:1'), true);
    banned.add('doc:1/bob');
    const left = waitForEvent<{ room: string }>(b, 'portcullis:left');
    await authz.invalidate({ room: 'doc:1' });
    assert.equal((await left).room, 'doc:1');
    assert.equal((await fx.io.in('doc:1').fetchSockets()).length, 1);
    await assert.rejects(authz.invalidate({ nope: 'x' } as never), TypeError);
  });
});
