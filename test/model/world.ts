/**
 * The system under test of the model-based suite: two nodes sharing one store,
 * each a real HTTP server carrying a guarded Socket.IO server and a guarded `ws`
 * endpoint, an application on both that records what reaches it, one injected
 * manual clock, and a strategy whose verdicts the credentials spell out (so a
 * command can ask for a valid, invalid, expired, throwing or slow credential).
 *
 * Everything the invariants need to see is recorded here: strategy calls, events
 * that reached app handlers, broadcasts sent, uncaught errors.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import type { SocketIoGuard } from '../../src/adapters/socket.io.js';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import type { WsGuard } from '../../src/adapters/ws.js';
import { createWsGuard } from '../../src/adapters/ws.js';
import type { ManualClock } from '../../src/core/clock.js';
import { createManualClock } from '../../src/core/clock.js';
import type { Principal, Store } from '../../src/core/types.js';
import { AuthError } from '../../src/errors.js';
import type { Authorization } from '../../src/policy/authorization.js';
import { createAuthorization } from '../../src/policy/authorization.js';
import { attachSocketIoAuthorization } from '../../src/policy/socket-io.js';
import { attachWsAuthorization } from '../../src/policy/ws.js';
import { createMemoryStore } from '../../src/stores/memory.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';
import type { TicketIssuer } from '../../src/strategies/ticket.js';
import { createTicketIssuer, createTicketStrategy } from '../../src/strategies/ticket.js';

/** Limits the world runs with; the invariants check them. */
export const LIMITS = {
  /** Pending deadline (manual clock). */
  timeoutMs: 5_000,
  /** Failed attempts per address per window. */
  failuresPerIp: { max: 4, windowMs: 60_000 },
  maxAttemptsPerConnection: 3,
  /** How long a revocation is remembered (manual clock). */
  revocationTtlMs: 3_600_000,
} as const;

/** The orgs a credential may name (its `orgId` claim); rooms `org:<org>:<name>` are theirs. */
export const ORGS = ['org-a', 'org-b'] as const;

/**
 * The authorization's room rule: a room is allowed when it is `org:<the principal's orgId>:<one segment>`
 * (and a valid room name: no control characters, `limits.roomNameLength` at most).
 */
export function roomAllowed(room: string, claims: Readonly<Record<string, unknown>> | undefined): boolean {
  if (room.length > 200 || [...room].some((ch) => (ch.codePointAt(0) ?? 0) < 0x20 || ch.codePointAt(0) === 0x7f)) return false;
  const m = /^org:([^:*]+):([^:]+)$/.exec(room);
  return m !== null && typeof claims?.orgId === 'string' && claims.orgId === m[1];
}

/** The authorization's event rule for `admin:*`: the principal's `roles` claim holds `admin`. */
export function isAdmin(claims: Readonly<Record<string, unknown>> | undefined): boolean {
  return Array.isArray(claims?.roles) && (claims.roles as unknown[]).includes('admin');
}

/** What a credential spells: `m1|<kind>|<user>|<session>|<token>|<ttlMs>|<gate or ->|<role or ->|<org or ->|<admin 1/0>`. */
export type CredKind = 'ok' | 'bad' | 'throw';

export interface Cred {
  readonly kind: CredKind;
  readonly user: string;
  readonly session: string;
  readonly token: string;
  /** Lifetime from the moment of verification (manual clock); ≤ 0 means already expired. */
  readonly ttlMs: number;
  /** Verification waits until this gate opens. */
  readonly gate?: string | undefined;
  /** Claims the principal carries: `role` (`hook-throws`: the app's onAuthenticated hook throws). */
  readonly role?: string | undefined;
  /** The `orgId` claim (none when undefined). */
  readonly org?: string | undefined;
  /** The `roles: ['admin']` claim. */
  readonly admin?: boolean | undefined;
}

export function encodeCred(c: Cred): string {
  return [
    'm1',
    c.kind,
    c.user,
    c.session,
    c.token,
    String(c.ttlMs),
    c.gate ?? '-',
    c.role ?? '-',
    c.org ?? '-',
    c.admin === true ? '1' : '0',
  ].join('|');
}

function decodeCred(raw: unknown): Cred | undefined {
  if (typeof raw !== 'string') return undefined;
  const [tag, kind, user, session, token, ttl, gate, role, org, admin] = raw.split('|');
  if (tag !== 'm1' || user === undefined || session === undefined || token === undefined) return undefined;
  return {
    kind: kind as CredKind,
    user,
    session,
    token,
    ttlMs: Number(ttl),
    gate: gate === '-' ? undefined : gate,
    role: role === '-' ? undefined : role,
    org: org === undefined || org === '-' ? undefined : org,
    admin: admin === '1',
  };
}

/** The claims a credential gives its principal. */
export function claimsOf(cred: Cred): Record<string, unknown> {
  return {
    ...(cred.role === undefined ? {} : { role: cred.role }),
    ...(cred.org === undefined ? {} : { orgId: cred.org }),
    ...(cred.admin === true ? { roles: ['admin'] } : {}),
  };
}

/** One call of the strategy. */
export interface StrategyCall {
  readonly cred: Cred;
  readonly ip: string;
  readonly connectionId: string;
  readonly at: number;
  /** How it ended, once it did. */
  outcome?: 'accepted' | 'refused';
}

/** An application event that reached a handler. */
export interface Delivery {
  readonly node: number;
  readonly transport: 'socket.io' | 'ws';
  readonly principal: string | undefined;
  /** Whether the guard called the socket authenticated when the handler ran (the server's truth). */
  readonly authenticated: boolean;
  /** What the client believed when it sent the event (it may be accepted while the event travels). */
  readonly payload: { client: number; state: string };
}

/** An `admin:op` event that reached its handler, with the server's principal at handler time. */
export interface AdminDelivery {
  readonly node: number;
  readonly transport: 'socket.io' | 'ws';
  readonly client: number;
  readonly principal: Principal | undefined;
}

export interface Node {
  readonly index: number;
  readonly http: HttpServer;
  readonly io: Server;
  readonly sio: SocketIoGuard;
  readonly wsg: WsGuard;
  /** The node's authorization, shared by both guards. */
  readonly authz: Authorization;
  readonly url: string;
}

export interface World {
  readonly clock: ManualClock;
  readonly nodes: readonly Node[];
  readonly issuer: TicketIssuer;
  readonly calls: StrategyCall[];
  readonly deliveries: Delivery[];
  /** `admin:op` events that reached a handler. */
  readonly adminDeliveries: AdminDelivery[];
  /** Uncaught exceptions and unhandled rejections seen while the world ran. */
  readonly crashes: unknown[];
  /** Gates that verifications wait on, by name. */
  readonly gates: Map<string, { opened: Promise<void>; open(): void; waiting: number; isOpen: boolean }>;
  /** Opens a gate (creating it if needed). */
  open(gate: string): void;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Builds the store each node uses (one shared store, or one client per node on a shared Redis). */
  store?: (clock: ManualClock) => Store | Promise<Store>;
  /** Per node: one shared store instance (memory) or one per node (Redis). @default true */
  sharedStore?: boolean;
}

export async function createWorld(options: WorldOptions = {}): Promise<World> {
  const clock = createManualClock(Date.now());
  const calls: StrategyCall[] = [];
  const deliveries: Delivery[] = [];
  const adminDeliveries: AdminDelivery[] = [];
  const crashes: unknown[] = [];
  const gates: World['gates'] = new Map();
  const gateOf = (name: string) => {
    let g = gates.get(name);
    if (g === undefined) {
      let open: () => void = () => {};
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      const gate = { opened, open: () => {}, waiting: 0, isOpen: false };
      gate.open = () => {
        gate.isOpen = true;
        open();
      };
      g = gate;
      gates.set(name, g);
    }
    return g;
  };
  const onCrash = (err: unknown): void => {
    crashes.push(err);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const makeStore = options.store ?? ((c: ManualClock) => createMemoryStore({ clock: c }));
  const shared = options.sharedStore ?? true;
  const first = await makeStore(clock);
  const stores: Store[] = [first];

  const passwordLike = createCustomStrategy({
    name: 'model',
    authenticate: (credentials, context) => {
      const cred = decodeCred((credentials as { token?: unknown }).token);
      if (cred === undefined) return null;
      const call: StrategyCall = { cred, ip: context.ip, connectionId: context.connectionId, at: clock.now() };
      calls.push(call);
      const decide = (): Principal | false => {
        if (cred.kind === 'throw') {
          call.outcome = 'refused';
          throw new Error(`model strategy threw for ${cred.user}`);
        }
        if (cred.kind === 'bad') {
          call.outcome = 'refused';
          return false;
        }
        call.outcome = 'accepted';
        return {
          id: cred.user,
          sessionId: cred.session,
          tokenId: cred.token,
          expiresAt: clock.now() + cred.ttlMs,
          claims: claimsOf(cred),
        };
      };
      if (cred.gate === undefined) return decide();
      const g = gateOf(cred.gate);
      g.waiting++;
      return g.opened.then(() => {
        g.waiting--;
        return decide();
      });
    },
  });

  const nodes: Node[] = [];
  for (let index = 0; index < 2; index++) {
    const store = shared ? first : index === 0 ? first : await makeStore(clock);
    if (store !== first) stores.push(store);
    const strategies = [createTicketStrategy({ store }), passwordLike];
    // One authorization per node, shared by both guards: org rooms by claim, `admin:*` for admins, every other
    // event open, and no event rate (the model sends few events; the rate has its own tests).
    const authz = createAuthorization({
      clock,
      rooms: { 'org:{orgId}:*': true },
      events: { 'admin:*': ({ principal }) => isAdmin(principal.claims), '*': true },
      limits: { events: false },
    });
    const common = {
      strategies,
      store,
      clock,
      timeoutMs: LIMITS.timeoutMs,
      maxAttemptsPerConnection: LIMITS.maxAttemptsPerConnection,
      expiringLeadMs: 0,
      rateLimits: { handshakesPerIp: false as const, failuresPerIp: LIMITS.failuresPerIp, failuresPerPrincipal: false as const },
      revocation: { ttlMs: LIMITS.revocationTtlMs },
      hooks: [
        authz.hooks,
        {
          onAuthenticated: (_info: unknown, principal: Principal) => {
            if (principal.claims?.role === 'hook-throws') throw new Error('the app hook threw');
          },
        },
      ],
    };
    const http = createServer();
    const io = new Server(http);
    const sio = createSocketIoGuard(io, { ...common, mode: 'auto' });
    const wsg = createWsGuard({ ...common, mode: 'auto', path: '/ws' });
    wsg.attach(http);
    attachSocketIoAuthorization(sio, authz);
    attachWsAuthorization(wsg, authz);
    /** The ws guard's current principal of a socket (the guard's truth, updated by refreshes). */
    const wsPrincipal = (ws: unknown): Principal | undefined => {
      for (const c of wsg.guard.connections()) if (c.socket === ws) return c.principal;
      return undefined;
    };
    io.on('connection', (socket: Socket) => {
      socket.on('admin:op', (payload: { client: number }) => {
        adminDeliveries.push({ node: index, transport: 'socket.io', client: payload.client, principal: sio.principalOf(socket) });
      });
      socket.on('msg', (payload: Delivery['payload']) => {
        deliveries.push({
          node: index,
          transport: 'socket.io',
          principal: (socket.data.principal as Principal | undefined)?.id,
          authenticated: sio.isAuthenticated(socket),
          payload,
        });
      });
    });
    wsg.on('connection', (ws, principal) => {
      ws.on('message', (data) => {
        let frame: { type?: string; payload?: Delivery['payload'] };
        try {
          frame = JSON.parse(String(data)) as typeof frame;
        } catch {
          return;
        }
        if (frame.type === 'admin:op' && frame.payload !== undefined) {
          adminDeliveries.push({ node: index, transport: 'ws', client: frame.payload.client, principal: wsPrincipal(ws) });
        }
        if (frame.type === 'msg' && frame.payload !== undefined) {
          deliveries.push({
            node: index,
            transport: 'ws',
            principal: principal.id,
            authenticated: wsg.hub.principalIdOf(ws) !== undefined,
            payload: frame.payload,
          });
        }
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    nodes.push({ index, http, io, sio, wsg, authz, url: `http://127.0.0.1:${port}` });
  }
  await Promise.all(nodes.map((n) => Promise.all([n.sio.guard.ready, n.wsg.guard.ready, n.authz.ready])));

  return {
    clock,
    nodes,
    issuer: createTicketIssuer({ store: first, clock, ttlSec: 30 }),
    calls,
    deliveries,
    adminDeliveries,
    crashes,
    gates,
    open(name) {
      gateOf(name).open();
    },
    async close() {
      for (const g of gates.values()) g.open();
      for (const n of nodes) {
        await n.wsg.close();
        await new Promise<void>((resolve) => n.io.close(() => resolve()));
        await n.sio.close();
        await n.authz.close();
      }
      for (const s of stores) await s.close();
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    },
  };
}

/** The `AuthError` codes a refusal of a credential of this kind may carry. */
export function refusalIsAllowed(kind: CredKind, code: string): boolean {
  if (code === 'rate_limited' || code === 'auth_timeout' || code === 'revoked' || code === 'unavailable') return true;
  if (kind === 'bad') return code === 'invalid_credentials';
  if (kind === 'throw') return code === 'internal_error';
  return code === 'token_expired' || code === 'invalid_credentials';
}

export { AuthError };
