/**
 * Attacks on the failure limits and on the logs, found by an adversarial pass, each
 * through real sockets:
 * - `anyOf` reported an uncounted refusal (an expired token of the attacker's own)
 *   over a wrong password: the password was then guessed without limit;
 * - a declared identity field holding an array was counted against no identity;
 * - a decoy in another strategy's identity field moved the counter off the target;
 * - a login with one's own token beside a decoy `username` made the address "known"
 *   for that user, exempting it from the user's slow-down;
 * - a strategy's error quoting a credential header or cookie reached the log.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { createSocketIoGuard, type SocketIoGuardOptions } from '../../src/adapters/socket.io.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import { createManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/types.js';
import { AuthError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { anyOf } from '../../src/strategies/compose.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { type IoFixture, startIo } from '../helpers/socket-io.js';
import { waitForEvent } from '../helpers/wait.js';
import { startHttp } from '../helpers/ws.js';

let fx: IoFixture | undefined;
const clients: ClientSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await fx?.close();
  fx = undefined;
});

let checks = 0;
const passwords = createCustomStrategy({
  name: 'password',
  authenticate: (c) => {
    if (c.username === undefined) return null;
    checks++;
    // As the docs' password strategy does: the app stringifies the field.
    return c.password === 'right' ? String(c.username) : false;
  },
  identity: 'username',
});
/** The attacker's own token: expired (refused `token_expired`, which does not count), or valid as `mallory`. */
const tokens = createCustomStrategy({
  name: 'token',
  authenticate: (c) => {
    if (c.token === 'expired') throw new AuthError('token_expired');
    return c.token === 'mallory' ? { id: 'mallory' } : null;
  },
});
const byEmail = createCustomStrategy({ name: 'email', authenticate: () => null, identity: 'email' });

async function setup(options: Partial<SocketIoGuardOptions>) {
  checks = 0;
  fx = await startIo();
  createSocketIoGuard(fx.io, { origins: '*', ...options });
  return fx;
}

/** One attempt from `localAddress`: `ok`, or the refusal's code. */
async function attempt(io: IoFixture, auth: Record<string, unknown>, localAddress = '127.0.0.1'): Promise<string> {
  const c = ioc(io.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth, localAddress } as never);
  clients.push(c);
  return new Promise((resolve) => {
    c.once('connect', () => resolve('ok'));
    c.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err.data?.code ?? err.message));
  });
}

describe('failure limits under attack (Socket.IO)', () => {
  it('anyOf: wrong passwords beside an uncounted refusal (an expired token) are still counted', async () => {
    const io = await setup({
      strategies: [anyOf(passwords, tokens)],
      rateLimits: { failuresPerPrincipal: { max: 3, windowMs: 60_000 }, lockout: 'identity' },
    });
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) codes.push(await attempt(io, { username: 'victim', password: `guess-${i}`, token: 'expired' }));
    assert.equal(checks, 3);
    assert.deepEqual(codes.slice(3), Array(5).fill('rate_limited'));
    // The reported code stays the most useful one.
    assert.deepEqual(codes.slice(0, 3), Array(3).fill('token_expired'));
  });

  it('anyOf: the same burst sent at once is bounded exactly as the sequence', async () => {
    const io = await setup({
      strategies: [anyOf(passwords, tokens)],
      rateLimits: { failuresPerPrincipal: { max: 3, windowMs: 60_000 }, lockout: 'identity' },
    });
    const codes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => attempt(io, { username: 'victim', password: `guess-${i}`, token: 'expired' })),
    );
    assert.equal(checks, 3);
    assert.equal(codes.filter((c) => c === 'rate_limited').length, 17);
  });

  it('an identity field that is not a string (or a number) is refused before any password check', async () => {
    const io = await setup({
      strategies: [passwords],
      rateLimits: { failuresPerPrincipal: { max: 3, windowMs: 60_000 }, lockout: 'identity' },
    });
    for (const username of [['victim'], { 0: 'victim' }, true]) {
      assert.equal(await attempt(io, { username, password: 'guess' }), 'invalid_request');
    }
    assert.equal(checks, 0);
    // A number names the same account as its digits, and is counted as such.
    for (let i = 0; i < 3; i++) await attempt(io, { username: 1234, password: 'guess' });
    assert.equal(await attempt(io, { username: '1234', password: 'right' }), 'rate_limited');
  });

  it('credentials naming two identities (a decoy in another strategy’s field) are refused', async () => {
    const io = await setup({ strategies: [byEmail, passwords] });
    assert.equal(await attempt(io, { email: 'decoy-1@example.com', username: 'victim', password: 'guess' }), 'invalid_request');
    assert.equal(checks, 0);
    assert.equal(await attempt(io, { username: 'victim', password: 'right' }), 'ok');
  });

  it('a login with one’s own token beside a decoy username does not exempt the address from that user’s slow-down', async () => {
    const io = await setup({
      strategies: [tokens, passwords],
      rateLimits: {
        failuresPerPrincipal: { max: 100, windowMs: 60_000 },
        lockout: 'identity+address',
        identityBackoff: { after: 2, baseMs: 60_000, maxMs: 60_000 },
      },
    });
    // The attacker logs in as herself from an address, naming the victim beside her token.
    assert.equal(await attempt(io, { token: 'mallory', username: 'victim' }, '127.0.0.4'), 'ok');
    // The victim's identity comes under attack: two failures, then one attempt let through per minute.
    for (let i = 0; i < 3; i++)
      assert.equal(await attempt(io, { username: 'victim', password: `g${i}` }, '127.0.0.3'), 'invalid_credentials');
    assert.equal(await attempt(io, { username: 'victim', password: 'g4' }, '127.0.0.3'), 'rate_limited');
    // The attacker's address is not known for the victim: it is slowed down like any other.
    const before = checks;
    assert.equal(await attempt(io, { username: 'victim', password: 'g5' }, '127.0.0.4'), 'rate_limited');
    assert.equal(checks, before);
  });
});

describe('Retry-After of a lockout', () => {
  it('is the time left in the window, not the whole window', async () => {
    checks = 0;
    fx = await startIo();
    const clock = createManualClock();
    createSocketIoGuard(fx.io, {
      strategies: [passwords],
      clock,
      store: createMemoryStore({ clock }),
      rateLimits: { failuresPerPrincipal: { max: 2, windowMs: 600_000 }, lockout: 'identity' },
    });
    const io = fx;
    const refusal = async (): Promise<{ code: string | undefined; retryAfter: number | undefined }> => {
      const c = ioc(io.url, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth: { username: 'victim', password: 'x' },
      });
      clients.push(c);
      const err = await waitForEvent<Error & { data?: { code?: string; retryAfter?: number } }>(c, 'connect_error', 5000);
      return { code: err.data?.code, retryAfter: err.data?.retryAfter };
    };
    await refusal();
    await refusal();
    assert.deepEqual(await refusal(), { code: 'rate_limited', retryAfter: 600 });
    clock.advance(595_000);
    assert.deepEqual(await refusal(), { code: 'rate_limited', retryAfter: 5 });
  });
});

describe('credentials quoted by a strategy never reach the log', () => {
  it('a header, a cookie or a query value quoted in an error message or a detail is redacted (ws)', async () => {
    const lines: string[] = [];
    const record = (obj: object, msg?: string): void => {
      lines.push(`${msg ?? ''} ${JSON.stringify(obj)}`);
    };
    const logger: Logger = { debug: record, info: record, warn: record, error: record };
    const quoting = createCustomStrategy({
      authenticate: (c, ctx) => {
        if (c.kind === 'detail') throw new AuthError('invalid_credentials', { detail: `bad ${String(ctx.headers.authorization)}` });
        throw new Error(`no row for ${String(ctx.headers.cookie)} at ${ctx.url}`);
      },
    });
    const http = await startHttp();
    try {
      const guard = http.track(createWsGuard({ strategies: [quoting], origins: '*', logger, mode: 'message' }));
      guard.attach(http.http);
      const headers = { authorization: 'Bearer AuthHdrValue1234', cookie: 'sid=C00kieSidValue; theme=dark' };
      for (const kind of ['detail', 'throw']) {
        const ws = http.client('/?ticket=T1ck3tQueryValue', undefined, { headers });
        await waitForEvent(ws, 'open', 5000);
        ws.send(JSON.stringify({ type: 'authenticate', payload: { kind } }));
        await waitForEvent(ws, 'close', 5000);
      }
      const logged = lines.join('\n');
      assert.ok(lines.length > 0, 'something was logged');
      for (const secret of ['AuthHdrValue1234', 'C00kieSidValue', 'T1ck3tQueryValue']) assert.ok(!logged.includes(secret), secret);
    } finally {
      await http.close();
    }
  });
});
