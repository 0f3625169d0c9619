/**
 * HTTP refusals before the upgrade name their code in a response header
 * (`X-Portcullis-Code`, PROTOCOL.md §1.3), so a client that drops response bodies
 * (common Python WebSocket clients) still learns it. Raw requests on loopback,
 * on both transports' refusal paths.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import { CODE_HEADER, ERROR_CODES, type ErrorCode } from '../../src/protocol.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import { type IoFixture, startIo } from '../helpers/socket-io.js';
import { rawRequest, startWs, upgradeRequest, type WsFixture } from '../helpers/ws.js';

const strategy = createCustomStrategy((c) => (c.token === 'good' ? 'alice' : false));
const FOREIGN = 'https://evil.example';

let io: IoFixture | undefined;
let ws: WsFixture | undefined;
afterEach(async () => {
  await io?.close();
  await ws?.close();
  io = undefined;
  ws = undefined;
});

interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Parses a raw HTTP/1.1 response (status line, headers, body). */
function parse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  assert.notEqual(end, -1, `no complete response head in ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(end + 4) };
}

/** The code header agrees with the status and the body, as PROTOCOL.md §1 says. */
function assertRefusal(response: RawResponse, code: ErrorCode): void {
  assert.equal(response.status, ERROR_CODES[code].status);
  assert.equal(response.headers.get(CODE_HEADER.toLowerCase()), code);
  const body = JSON.parse(response.body) as { code?: string; message?: string };
  assert.equal(body.code, code);
  assert.equal(body.message, ERROR_CODES[code].message);
}

function pollingRequest(origin: string | undefined): string {
  const lines = ['GET /socket.io/?EIO=4&transport=polling HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close'];
  if (origin !== undefined) lines.push(`Origin: ${origin}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

describe('HTTP refusals carry their code in X-Portcullis-Code', () => {
  it('ws: a foreign Origin at the upgrade', async () => {
    ws = await startWs({ strategies: [strategy] });
    assertRefusal(parse(await rawRequest(ws.port, upgradeRequest('/', { Origin: FOREIGN }))), 'origin_not_allowed');
  });

  it('ws: bad upgrade credentials, and the handshake rate with Retry-After', async () => {
    ws = await startWs({ strategies: [strategy], rateLimits: { handshakesPerIp: { max: 1, windowMs: 60_000 } } });
    const bearer = `chat, portcullis.bearer.wrong`;
    assertRefusal(parse(await rawRequest(ws.port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': bearer }))), 'invalid_credentials');
    const limited = parse(await rawRequest(ws.port, upgradeRequest('/')));
    assertRefusal(limited, 'rate_limited');
    assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
  });

  it('ws: a malformed upgrade', async () => {
    ws = await startWs({ strategies: [strategy] });
    assertRefusal(parse(await rawRequest(ws.port, upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }))), 'invalid_request');
  });

  it('ws: an unknown path is a bare 404 without a code', async () => {
    ws = await startWs({ strategies: [strategy], path: '/ws' });
    const response = parse(await rawRequest(ws.port, upgradeRequest('/elsewhere')));
    assert.equal(response.status, 404);
    assert.equal(response.headers.has(CODE_HEADER.toLowerCase()), false);
  });

  it('Socket.IO preflight: a foreign Origin on the polling handshake and on the direct WebSocket upgrade', async () => {
    io = await startIo();
    createSocketIoGuard(io.io, { strategies: [strategy] });
    const port = Number(new URL(io.url).port);
    assertRefusal(parse(await rawRequest(port, pollingRequest(FOREIGN))), 'origin_not_allowed');
    const upgrade = upgradeRequest('/socket.io/?EIO=4&transport=websocket', { Origin: FOREIGN });
    assertRefusal(parse(await rawRequest(port, upgrade)), 'origin_not_allowed');
  });

  it('Socket.IO preflight: the pending budget, with Retry-After', async () => {
    io = await startIo();
    createSocketIoGuard(io.io, { strategies: [strategy], rateLimits: { handshakesPerIp: { max: 1, windowMs: 60_000 } } });
    const port = Number(new URL(io.url).port);
    const first = parse(await rawRequest(port, pollingRequest(undefined)));
    assert.equal(first.status, 200);
    assert.equal(first.headers.has(CODE_HEADER.toLowerCase()), false);
    const limited = parse(await rawRequest(port, pollingRequest(undefined)));
    assertRefusal(limited, 'rate_limited');
    assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
  });
});
