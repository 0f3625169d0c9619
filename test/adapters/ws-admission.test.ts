/**
 * Admission on `ws`: a refused socket whose peer ignores the close handshake is
 * destroyed after `closeTimeoutMs`, and authentication attempts on one
 * connection are bounded and end with the transport closed.
 */
import assert from 'node:assert/strict';
import { type Socket as TcpSocket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { createManualClock } from '../../src/core/clock.js';
import { AuthError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { waitUntil } from '../helpers/wait.js';
import { authenticate, closed, nextFrame, opened, startWs, upgradeRequest, type WsFixture } from '../helpers/ws.js';

let verifications = 0;
const tokens = createCustomStrategy((c) => {
  if (typeof c.token !== 'string') return null;
  verifications++;
  if (c.token === 'alice') return { id: 'alice' };
  throw new AuthError('token_expired'); // no failure code: no lockout stops it
});

let fx: WsFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
  verifications = 0;
});

/** A raw TCP peer that upgrades by hand, then reads frames and never answers a close frame. */
async function deafPeer(port: number): Promise<{ socket: TcpSocket; bytes: () => Buffer; ended: () => boolean }> {
  const socket = tcpConnect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let ended = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('close', () => {
    ended = true;
  });
  socket.on('error', () => {});
  socket.write(upgradeRequest('/'));
  await waitUntil(() => Buffer.concat(chunks).includes('\r\n\r\n'), 2000, 'the 101');
  return { socket, bytes: () => Buffer.concat(chunks), ended: () => ended };
}

/** True once a close frame (opcode 0x8, FIN) follows the response headers. */
function hasCloseFrame(bytes: Buffer): boolean {
  const body = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
  return body.includes(0x88);
}

describe('ws: no refused socket outlives the close bound', () => {
  it('destroys a 4408 socket whose peer never answers the close handshake after closeTimeoutMs', async () => {
    const clock = createManualClock();
    const store = createMemoryStore();
    const f = await startWs({ strategies: [tokens], origins: '*', mode: 'message', clock, store, timeoutMs: 1000, closeTimeoutMs: 500 });
    fx = f;
    const guard = f.guard;
    const peer = await deafPeer(fx.port);
    assert.equal(guard.stats.pending, 1);
    clock.advance(1000);
    await waitUntil(() => hasCloseFrame(peer.bytes()), 2000, 'the 4408 close frame');
    assert.equal(guard.stats.pending, 0, 'the pending slot is released at the refusal');
    assert.equal(peer.ended(), false, 'still open before closeTimeoutMs');
    assert.equal(guard.stats.sockets, 1);
    clock.advance(500);
    await waitUntil(() => peer.ended(), 2000, 'the server to destroy the socket');
    await waitUntil(() => guard.stats.sockets === 0, 2000, 'the session to be released');
    await store.close();
  });

  it('bounds the sockets a deaf peer holds to those the pending budget allows, plus closeTimeoutMs', async () => {
    const clock = createManualClock();
    const store = createMemoryStore();
    const f = await startWs({ strategies: [tokens], origins: '*', mode: 'message', clock, store, timeoutMs: 1000, maxPendingPerIp: 5 });
    fx = f;
    const guard = f.guard;
    const peers = await Promise.all(Array.from({ length: 5 }, () => deafPeer(f.port)));
    clock.advance(1000);
    await waitUntil(() => peers.every((p) => hasCloseFrame(p.bytes())), 2000, 'the close frames');
    // The default bound: 1000 ms of the guard's clock.
    clock.advance(1000);
    await waitUntil(() => peers.every((p) => p.ended()), 2000, 'every socket destroyed');
    await waitUntil(() => guard.stats.sockets === 0, 2000, 'every session released');
    await store.close();
  });
});

describe('ws: authentication attempts on one connection are bounded', () => {
  it('refuses a burst of failing refreshes past maxAttemptsPerConnection and closes with 4429', async () => {
    fx = await startWs({ strategies: [tokens], origins: '*', mode: 'message', maxAttemptsPerConnection: 3 });
    const ws = fx.client('/');
    await opened(ws);
    authenticate(ws, { token: 'alice' });
    assert.equal((await nextFrame(ws)).type, 'authenticated');
    const end = closed(ws);
    for (let i = 0; i < 50; i++) authenticate(ws, { token: 'old' });
    const { code, reason } = await end;
    assert.deepEqual([code, reason], [4429, 'rate_limited']);
    assert.equal(verifications, 1 + 3, 'verifications on one connection');
  });

  it('closes a pending socket at its first refused authenticate frame, however many follow', async () => {
    fx = await startWs({ strategies: [tokens], origins: '*', mode: 'message' });
    const ws = fx.client('/');
    await opened(ws);
    const end = closed(ws);
    for (let i = 0; i < 50; i++) authenticate(ws, { token: 'old' });
    assert.equal((await end).code, 4401);
    assert.equal(verifications, 1);
  });
});
