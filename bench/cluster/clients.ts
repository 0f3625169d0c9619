/**
 * A load process of the measured cluster: holds its share of the authenticated
 * sockets (raw Socket.IO and `ws` clients, `bench/lib`), learns from each
 * socket's first message which worker it landed on, reports revocations as they
 * arrive (`{ event: 'revoked' }`), and, when told to, reconnects a dropped
 * client with fresh credentials (a new JWT, or a new one-time ticket), as
 * `portcullis/client` does. Several of these share the load: one process could
 * not hold 20 000 sockets under this machine's open-file limit.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { createRedisStore } from '../../src/stores/redis.js';
import { createTicketIssuer } from '../../src/strategies/ticket.js';
import { SioClient } from '../lib/eio-client.js';
import { WsClient } from '../lib/ws-client.js';
import { WS_PATH_NAME } from './paths.js';
import { answer } from './rpc.js';

type State = 'connecting' | 'up' | 'down' | 'revoked' | 'forgotten';

interface Entry {
  readonly i: number;
  readonly transport: 'socket.io' | 'ws';
  readonly kind: 'jwt' | 'ticket';
  /** The first credential presented (kept to replay it later: it must stay refused once revoked or used). */
  first: Record<string, string> | undefined;
  client: SioClient | WsClient | undefined;
  node: number;
  state: State;
  retries: number;
}

const redisUrl = process.env.CLUSTER_REDIS ?? '';
const prefix = process.env.CLUSTER_PREFIX ?? '';
const secret = new Uint8Array(Buffer.from(process.env.CLUSTER_SECRET ?? '', 'base64url'));
const redis = new Redis(redisUrl, { enableOfflineQueue: false, lazyConnect: true });
redis.on('error', () => {});
await redis.connect();
const issuer = createTicketIssuer({ store: createRedisStore({ client: redis, prefix }), ttlSec: 120 });

const entries = new Map<number, Entry>();
const refusals = new Map<string, number>();
let base = '';
let reconnecting = false;
let reconnects = 0;
let maxRetries = 40;

/** Loopback source address of client `i`: 10 000 addresses (127.0.1.1–127.0.40.250), a few sockets each. */
export function addressOf(i: number): string {
  return `127.0.${1 + (Math.floor(i / 250) % 40)}.${1 + (i % 250)}`;
}

async function credential(e: Entry): Promise<Record<string, string>> {
  const id = `user-${e.i}`;
  if (e.kind === 'ticket') return { ticket: (await issuer.issue({ id })).ticket };
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sid: `session-${e.i}` })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(id)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .setJti(randomBytes(9).toString('base64url'))
    .sign(secret);
  return { token };
}

/** One attempt with `auth` to `target`; resolves the client and its outcome. Reports the node and revocations. */
async function attempt(
  e: Entry | undefined,
  transport: 'socket.io' | 'ws',
  target: string,
  auth: Record<string, string>,
  localAddress: string,
): Promise<{ client: SioClient | WsClient; ok: boolean; code: string; ms: number }> {
  const client =
    transport === 'socket.io'
      ? new SioClient({ base: target, flow: 'handshake', auth, localAddress, timeoutMs: 20_000 })
      : new WsClient({ base: `${target}${WS_PATH_NAME}`, flow: 'upgrade', auth, localAddress, timeoutMs: 20_000 });
  if (e !== undefined) {
    // Current from now on: the worker's first message can arrive in the same read as the verdict.
    e.client = client;
    client.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary || e.client !== client) return;
      const text = data.toString('utf8');
      const m = /^42\["node",(\d+)\]|^\{"type":"node","payload":(\d+)\}/.exec(text);
      if (m !== null) e.node = Number(m[1] ?? m[2]);
    });
    if (client instanceof SioClient) client.onUnauthorized = () => revoked(e, client);
    client.ws.on('close', (code: number) => {
      if (e.client !== client || e.state !== 'up') return;
      if (code === 4403) revoked(e, client);
      else dropped(e);
    });
  }
  const o = await client.outcome;
  return { client, ok: o.ok, code: o.ok ? 'ok' : o.code, ms: o.ms };
}

function revoked(e: Entry, client: SioClient | WsClient): void {
  if (e.client !== client || e.state === 'revoked') return;
  e.state = 'revoked';
  process.send?.({ event: 'revoked', i: e.i, at: performance.timeOrigin + performance.now() });
}

function dropped(e: Entry): void {
  if (e.state === 'forgotten' || !reconnecting) {
    e.state = e.state === 'forgotten' ? 'forgotten' : 'down';
    return;
  }
  e.state = 'connecting';
  void reconnect(e);
}

/** Reconnects with fresh credentials, capped exponential backoff with jitter, at most `maxRetries` attempts. */
async function reconnect(e: Entry): Promise<void> {
  for (let k = 0; k < maxRetries && e.state === 'connecting'; k++) {
    const delay = Math.min(2_000, 100 * 2 ** k) * (0.5 + Math.random() / 2);
    await new Promise((resolve) => setTimeout(resolve, delay));
    const auth = await credential(e).catch(() => undefined);
    if (auth === undefined) continue;
    const r = await attempt(e, e.transport, base, auth, addressOf(e.i));
    if (r.ok && e.state === 'connecting') {
      e.state = 'up';
      reconnects++;
      return;
    }
    r.client.terminate();
    refusals.set(r.code, (refusals.get(r.code) ?? 0) + 1);
  }
  if (e.state === 'connecting') e.state = 'down';
}

async function open(from: number, to: number, concurrency: number): Promise<unknown> {
  const ms: number[] = [];
  const failures: Record<string, number> = {};
  let next = from;
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      const e: Entry = {
        i,
        transport: i % 2 === 0 ? 'socket.io' : 'ws',
        // One client in four presents a one-time ticket (as many on each transport), the others a JWT.
        kind: Math.floor(i / 2) % 4 === 3 ? 'ticket' : 'jwt',
        first: undefined,
        client: undefined,
        node: -1,
        state: 'connecting',
        retries: 0,
      };
      entries.set(i, e);
      e.first = await credential(e);
      const r = await attempt(e, e.transport, base, e.first, addressOf(i));
      if (r.ok) {
        e.state = 'up';
        ms.push(r.ms);
      } else {
        r.client.terminate();
        e.state = 'down';
        failures[r.code] = (failures[r.code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, lane));
  return { wallMs: performance.now() - t0, ms, failures };
}

function status(): unknown {
  const states: Record<string, number> = {};
  const byNode: Record<string, number> = {};
  const unknownNode = [...entries.values()].filter((e) => e.state === 'up' && e.node < 0).length;
  for (const e of entries.values()) {
    states[e.state] = (states[e.state] ?? 0) + 1;
    if (e.state === 'up') byNode[e.node] = (byNode[e.node] ?? 0) + 1;
  }
  return { states, byNode, unknownNode, refusals: Object.fromEntries(refusals), reconnects };
}

/** Presents each listed client's first credential again, on both transports, to every target: counts outcomes. */
async function stale(users: readonly number[], targets: readonly string[], addressBase: number): Promise<unknown> {
  const outcomes: Record<string, number> = {};
  let k = 0;
  const jobs: Promise<void>[] = [];
  for (const i of users) {
    const e = entries.get(i);
    if (e?.first === undefined) continue;
    for (const target of targets)
      for (const transport of ['socket.io', 'ws'] as const) {
        const address = `127.0.${addressBase + Math.floor(k / 250)}.${1 + (k % 250)}`;
        k++;
        jobs.push(
          attempt(undefined, transport, target, e.first, address).then((r) => {
            r.client.terminate();
            outcomes[r.code] = (outcomes[r.code] ?? 0) + 1;
          }),
        );
      }
  }
  await Promise.all(jobs);
  return outcomes;
}

answer(async (m) => {
  switch (m.cmd) {
    case 'init':
      base = String(m.base);
      return null;
    case 'open':
      return open(Number(m.from), Number(m.to), Number(m.concurrency));
    case 'status':
      return status();
    case 'pick': {
      // Up clients on `node`, `n` of them, spread over this process's range.
      const up = [...entries.values()].filter(
        (e) => e.state === 'up' && (m.node === undefined || e.node === m.node) && (m.kind === undefined || e.kind === m.kind),
      );
      const n = Math.min(Number(m.n), up.length);
      const step = up.length / Math.max(1, n);
      return Array.from({ length: n }, (_, k) => {
        // Every other pick one further on: consecutive clients alternate transports, an even step would pick one kind.
        const e = up[Math.min(up.length - 1, Math.floor(k * step) + (k % 2))] as Entry;
        return { i: e.i, node: e.node, transport: e.transport, kind: e.kind };
      });
    }
    case 'forget':
      for (const i of m.users as number[]) {
        const e = entries.get(i);
        if (e !== undefined && e.state !== 'revoked') e.state = 'forgotten';
      }
      return null;
    case 'reconnect':
      reconnecting = m.on === true;
      if (typeof m.maxRetries === 'number') maxRetries = m.maxRetries;
      return null;
    case 'stale':
      return stale(m.users as number[], m.targets as string[], Number(m.addressBase));
    case 'drop':
      reconnecting = false;
      for (const e of entries.values()) {
        if (e.state === 'connecting') e.state = 'down';
        e.client?.terminate();
      }
      return null;
    default:
      throw new Error(`unknown command ${String(m.cmd)}`);
  }
});
process.send?.({ ready: true });
