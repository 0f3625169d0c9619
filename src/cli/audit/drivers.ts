/**
 * One dialling interface over both transports, so that each probe is written once:
 * `dial` opens a connection the way a client of that transport would (for Socket.IO:
 * the Engine.IO connection, then a CONNECT to the namespace), and a {@link Conn} sends
 * credentials by message, emits application events and makes round trips.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { IoSession } from './socket-io-session.js';
import type { Closed } from './wire.js';
import { WsSession } from './ws-session.js';

export interface DialOptions {
  /** The Origin header; `undefined` sends none. */
  readonly origin?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly query?: Readonly<Record<string, string>> | undefined;
  readonly protocols?: readonly string[] | undefined;
  /** Socket.IO: the CONNECT `auth` (none when `undefined`). Ignored by ws. */
  readonly auth?: unknown;
  /** Socket.IO: a CONNECT payload already serialised (takes precedence over `auth`). */
  readonly rawAuth?: string | undefined;
  /** Socket.IO: open the Engine.IO connection only, send no CONNECT. */
  readonly transportOnly?: boolean;
}

/** The answer of an authentication message. */
export type AuthAnswer =
  | { readonly kind: 'accepted'; readonly detail: string }
  | { readonly kind: 'refused'; readonly detail: string }
  | { readonly kind: 'closed'; readonly detail: string }
  | { readonly kind: 'silent'; readonly detail: string };

/** An open connection (Socket.IO: connected to the namespace, or only the transport with `transportOnly`). */
export interface Conn {
  /** The subprotocol the server selected in its 101. */
  readonly protocol: string;
  readonly upgradeHeaders: IncomingHttpHeaders;
  /** Sends credentials by message (`authentication` event / `authenticate` frame) and waits for the answer. */
  authenticate(auth: unknown, timeoutMs: number): Promise<AuthAnswer>;
  /** Sends an application event (with an ack on Socket.IO); resolves with whether an ack / reply came back. */
  emit(event: string, payload: unknown, timeoutMs: number): Promise<boolean>;
  /** Sends an application message of about `bytes` bytes. */
  emitLarge(event: string, bytes: number): void;
  /** Application messages received so far (Socket.IO events, ws frames), excluding verdicts and markers. */
  appMessages(): number;
  /** Everything received, as short text (for evidence). */
  describeReceived(): string;
  roundTrip(timeoutMs: number): Promise<boolean>;
  /** Socket.IO only: another CONNECT to the namespace on the same Engine.IO connection. */
  connectAgain?(auth: unknown, timeoutMs: number): Promise<AuthAnswer>;
  readonly closed: Closed | undefined;
  /** True when the audit cut the connection because the server sent too much. */
  readonly overflowed: boolean;
  untilClosed(timeoutMs: number): Promise<Closed | undefined>;
  close(): void;
}

export type Dialed =
  | { readonly stage: 'open'; readonly conn: Conn }
  /** Refused before the upgrade: an HTTP response (status 0: no answer). */
  | {
      readonly stage: 'http';
      readonly status: number;
      readonly headers: IncomingHttpHeaders;
      readonly body: string;
      readonly error?: string;
    }
  /** Socket.IO CONNECT_ERROR (the Engine.IO connection is closed by the driver). */
  | { readonly stage: 'refused'; readonly message: string; readonly data: unknown; readonly session: IoSession }
  /** Upgraded, then closed (or silent) before being usable. */
  | { readonly stage: 'closed'; readonly detail: string };

export interface Driver {
  readonly name: 'socket.io' | 'ws';
  dial(options: DialOptions, timeoutMs: number): Promise<Dialed>;
}

const VERDICT_EVENTS = new Set(['authenticated', 'unauthorized', 'auth_required', 'auth_expiring', 'auth_refresh_failed']);
const VERDICT_TYPES = new Set(['authenticated', 'expiring', 'refresh_failed']);

function ioConn(session: IoSession, nsp: string, protocol: string, headers: IncomingHttpHeaders): Conn {
  let ackSeq = 100;
  const isApp = (p: { type: number; nsp: string; data: unknown }): boolean =>
    p.nsp === nsp && p.type === 2 && !(Array.isArray(p.data) && VERDICT_EVENTS.has(String(p.data[0])));
  return {
    protocol,
    upgradeHeaders: headers,
    async authenticate(auth, timeoutMs) {
      const from = session.packets.length;
      session.emit(nsp, 'authentication', [auth]);
      const answer = await session.waitFor(
        () =>
          session.packets
            .slice(from)
            .find(
              (p) =>
                p.nsp === nsp &&
                ((p.type === 2 &&
                  Array.isArray(p.data) &&
                  ['authenticated', 'unauthorized', 'auth_refresh_failed'].includes(String(p.data[0]))) ||
                  p.type === 1),
            ),
        timeoutMs,
      );
      if (answer === undefined)
        return session.closed === undefined
          ? { kind: 'silent', detail: 'no answer' }
          : { kind: 'closed', detail: `closed (${session.closed.code})` };
      const [event, payload] = Array.isArray(answer.data) ? answer.data : [];
      const detail = `${answer.type === 1 ? 'DISCONNECT' : String(event)} ${JSON.stringify(payload ?? null)}`;
      return event === 'authenticated' ? { kind: 'accepted', detail } : { kind: 'refused', detail };
    },
    async emit(event, payload, timeoutMs) {
      const id = ++ackSeq;
      session.emit(nsp, event, [payload], id);
      const ack = await session.waitFor(() => session.packets.find((p) => p.type === 3 && p.nsp === nsp && p.id === id), timeoutMs);
      return ack !== undefined;
    },
    emitLarge(event, bytes) {
      session.emitRaw(nsp, JSON.stringify([event, 'x'.repeat(bytes)]));
    },
    appMessages: () => session.packets.filter(isApp).length,
    describeReceived: () =>
      session.packets
        .filter((p) => p.nsp === nsp)
        .map((p) => `${p.type}${JSON.stringify(p.data ?? null)}`)
        .join(' ')
        .slice(0, 300),
    roundTrip: (timeoutMs) => session.roundTrip(timeoutMs),
    async connectAgain(auth, timeoutMs) {
      const outcome = await session.connect(nsp, auth, timeoutMs);
      if (outcome.kind === 'connected') return { kind: 'accepted', detail: 'CONNECT accepted' };
      if (outcome.kind === 'refused')
        return { kind: 'refused', detail: `CONNECT_ERROR ${JSON.stringify({ message: outcome.message, data: outcome.data ?? null })}` };
      if (outcome.kind === 'closed') return { kind: 'closed', detail: `closed ${outcome.code} ${outcome.reason}`.trim() };
      return { kind: 'silent', detail: 'no answer to CONNECT' };
    },
    get closed() {
      return session.closed;
    },
    get overflowed() {
      return session.overflowed;
    },
    untilClosed: (timeoutMs) => session.untilClosed(timeoutMs),
    close: () => session.close(),
  };
}

/** The Socket.IO driver for `base` (http(s) URL), `path` (`/socket.io/`) and namespace `nsp`. */
export function socketIoDriver(base: URL, path: string, nsp: string): Driver {
  return {
    name: 'socket.io',
    async dial(options, timeoutMs) {
      const opened = await IoSession.open(base, path, { ...options, timeoutMs }, options.query);
      if (!opened.ok) {
        if (opened.status === 101) return { stage: 'closed', detail: opened.error ?? 'no open packet' };
        return {
          stage: 'http',
          status: opened.status,
          headers: opened.headers,
          body: opened.body,
          ...(opened.error === undefined ? {} : { error: opened.error }),
        };
      }
      const session = opened.session;
      if (!options.transportOnly) {
        const outcome =
          options.rawAuth === undefined
            ? await session.connect(nsp, options.auth, timeoutMs)
            : await session.connectRaw(nsp, options.rawAuth, timeoutMs);
        if (outcome.kind === 'refused') return { stage: 'refused', message: outcome.message, data: outcome.data, session };
        if (outcome.kind === 'closed') {
          session.close(); // ends the closing handshake at once (no 30 s close timer left behind)
          return { stage: 'closed', detail: `closed ${outcome.code} ${outcome.reason}`.trim() };
        }
        if (outcome.kind === 'silent') {
          session.close();
          return { stage: 'closed', detail: `no answer to CONNECT within ${timeoutMs} ms` };
        }
      }
      return { stage: 'open', conn: ioConn(session, nsp, opened.protocol, opened.headers) };
    },
  };
}

function wsConn(session: WsSession, protocol: string, headers: IncomingHttpHeaders): Conn {
  const isApp = (f: { json: unknown }): boolean => {
    const type = typeof f.json === 'object' && f.json !== null ? (f.json as { type?: unknown }).type : undefined;
    return !VERDICT_TYPES.has(String(type));
  };
  return {
    protocol,
    upgradeHeaders: headers,
    async authenticate(auth, timeoutMs) {
      const from = session.frames.length;
      session.send({ type: 'authenticate', payload: auth });
      const answer = await session.waitFor(
        () =>
          session.frames
            .slice(from)
            .find((f) => ['authenticated', 'refresh_failed'].includes(String((f.json as { type?: unknown } | undefined)?.type))),
        timeoutMs,
      );
      if (answer !== undefined) {
        const accepted = (answer.json as { type: string }).type === 'authenticated';
        return { kind: accepted ? 'accepted' : 'refused', detail: answer.text.slice(0, 200) };
      }
      const closed = session.closed;
      if (closed !== undefined) return { kind: 'closed', detail: `close ${closed.code} ${closed.reason}`.trim() };
      return { kind: 'silent', detail: 'no answer' };
    },
    async emit(event, payload, timeoutMs) {
      const from = session.frames.length;
      session.send({ type: event, payload });
      const reply = await session.waitFor(() => (session.frames.length > from ? true : undefined), timeoutMs);
      return reply === true;
    },
    emitLarge(event, bytes) {
      session.sendRaw(JSON.stringify({ type: event, payload: 'x'.repeat(bytes) }));
    },
    appMessages: () => session.frames.filter(isApp).length,
    describeReceived: () =>
      session.frames
        .map((f) => f.text)
        .join(' ')
        .slice(0, 300),
    roundTrip: (timeoutMs) => session.roundTrip(timeoutMs),
    get closed() {
      return session.closed;
    },
    get overflowed() {
      return session.overflowed;
    },
    untilClosed: (timeoutMs) => session.untilClosed(timeoutMs),
    close: () => session.close(),
  };
}

/** The `ws` driver for `url` (ws(s) URL). */
export function wsDriver(url: URL): Driver {
  return {
    name: 'ws',
    async dial(options, timeoutMs) {
      const target = new URL(url);
      for (const [k, v] of Object.entries(options.query ?? {})) target.searchParams.set(k, v);
      const opened = await WsSession.open(target.href, { ...options, timeoutMs });
      if (!opened.ok) {
        return {
          stage: 'http',
          status: opened.status,
          headers: opened.headers,
          body: opened.body,
          ...(opened.error === undefined ? {} : { error: opened.error }),
        };
      }
      return { stage: 'open', conn: wsConn(opened.session, opened.protocol, opened.headers) };
    },
  };
}

/** One line describing how a dial ended (for evidence). */
export function describeDial(dialed: Dialed): string {
  switch (dialed.stage) {
    case 'open':
      return 'connected';
    case 'http':
      return dialed.status === 0
        ? `no HTTP answer (${dialed.error ?? 'connection failed'})`
        : `HTTP ${dialed.status}${dialed.headers['retry-after'] === undefined ? '' : ` Retry-After: ${String(dialed.headers['retry-after'])}`} ${dialed.body.slice(0, 160)}`.trim();
    case 'refused':
      return `CONNECT_ERROR ${JSON.stringify({ message: dialed.message, data: dialed.data ?? null }).slice(0, 200)}`;
    case 'closed':
      return dialed.detail;
  }
}

/** Closes whatever a dial left open. */
export function hangUp(dialed: Dialed): void {
  if (dialed.stage === 'open') dialed.conn.close();
  else if (dialed.stage === 'refused') dialed.session.close();
}
