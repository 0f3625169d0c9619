/**
 * One client connection over either transport, behind one shape: the load
 * process does not care whether it speaks Engine.IO or plain WebSocket.
 */
import type { Transport } from '../servers/protocol.js';
import { SioClient } from './eio-client.js';
import { WsClient } from './ws-client.js';

/**
 * What the client does: credentials in the CONNECT packet / with the upgrade
 * (`handshake`), in a message after connecting (`message`), or nothing at all
 * (`pending`: connect and never authenticate).
 */
export type Flow = 'handshake' | 'message' | 'pending';

export interface Attempt {
  readonly transport: Transport;
  readonly base: string;
  readonly flow: Flow;
  readonly auth?: Readonly<Record<string, unknown>>;
  readonly localAddress?: string;
  readonly timeoutMs?: number;
  /** Message prefix counted as a hit (broadcasts). */
  readonly watch?: string;
}

/** A live (or refused) client. */
export interface Client {
  readonly ok: boolean;
  /** `ok`, or the refusal code (`rate_limited`, `http_429`, `timeout`…). */
  readonly code: string;
  /** Client-side latency of the attempt, in ms. */
  readonly ms: number;
  /** Application messages received since the attempt completed. */
  events(): number;
  /** Of those, messages starting with `watch`. */
  hits(): number;
  /** Messages a pending socket should never have seen. */
  leaked(): number;
  /** Drops the connection (TCP close, no close handshake). */
  terminate(): void;
  /** Resolves once the transport closed. */
  readonly closed: Promise<void>;
  /** Called when the server sends `unauthorized` (Socket.IO) after the attempt. */
  onUnauthorized(listener: () => void): void;
}

/**
 * Loopback source addresses for legitimate load: `127.0.1.1`…`127.0.1.250`,
 * round-robin. Load from one address would trip the library's per-IP handshake
 * rate limit (a default) and exhaust one address's ephemeral ports; many
 * addresses model many users. Both servers of a pair see the same addresses.
 */
export function userAddress(i: number): string {
  return `127.0.1.${1 + (i % 250)}`;
}

/** Addresses of a distributed flood: `127.1.<i/250>.<i%250+1>`, one per `perIp` sockets. */
export function floodAddress(i: number, perIp: number): string {
  const k = Math.floor(i / perIp);
  return `127.1.${Math.floor(k / 250)}.${1 + (k % 250)}`;
}

/** The broadcast event prefix on each wire. */
export const NEWS_PREFIX: Readonly<Record<Transport, string>> = { 'socket.io': '42["news"', ws: '{"type":"news"' };

export async function connect(a: Attempt): Promise<Client> {
  const common = {
    base: a.base,
    ...(a.auth === undefined ? {} : { auth: a.auth }),
    ...(a.localAddress === undefined ? {} : { localAddress: a.localAddress }),
    ...(a.timeoutMs === undefined ? {} : { timeoutMs: a.timeoutMs }),
    ...(a.watch === undefined ? {} : { watch: a.watch }),
  };
  if (a.transport === 'socket.io') {
    const flow = a.flow === 'pending' ? 'connect-only' : a.flow;
    const c = new SioClient({ ...common, flow });
    const o = await c.outcome;
    return {
      ok: o.ok,
      code: o.ok ? 'ok' : o.code,
      ms: o.ms,
      events: () => c.events,
      hits: () => c.hits,
      leaked: () => c.leaked,
      terminate: () => c.terminate(),
      closed: c.closed,
      onUnauthorized(listener) {
        c.onUnauthorized = listener;
      },
    };
  }
  const flow = a.flow === 'pending' ? 'open-only' : a.flow === 'handshake' ? 'upgrade' : 'message';
  const c = new WsClient({ ...common, flow });
  const o = await c.outcome;
  return {
    ok: o.ok,
    code: o.ok ? 'ok' : o.code,
    ms: o.ms,
    events: () => c.events,
    hits: () => c.hits,
    leaked: () => c.leaked,
    terminate: () => c.terminate(),
    closed: c.closed,
    onUnauthorized() {},
  };
}

/** Opens `count` clients, `concurrency` at a time; throws (after dropping them) unless every one succeeds. */
export async function openMany(count: number, concurrency: number, make: (i: number) => Attempt): Promise<Client[]> {
  const clients: Client[] = new Array(count);
  const failures = new Map<string, number>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const client = await connect(make(i));
      clients[i] = client;
      if (!client.ok) failures.set(client.code, (failures.get(client.code) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (failures.size > 0) {
    dropAll(clients);
    throw new Error(`${failures.size} kinds of failure opening ${count} clients: ${JSON.stringify(Object.fromEntries(failures))}`);
  }
  return clients;
}

/** Drops every client (TCP close). */
export function dropAll(clients: readonly (Client | undefined)[]): void {
  for (const c of clients) c?.terminate();
}
