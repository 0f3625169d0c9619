/**
 * Authorization for a `ws` guard: `subscribe` / `unsubscribe` frames answered
 * through the hub, a guarded `subscribe` for the app, and the event gate (rate,
 * then the policy of the frame type) in front of the app's `message` listeners.
 * Attaches through the guard's public `connection` event only.
 *
 *     const authz = createAuthorization({ rooms: { 'org:{orgId}:*': true } });
 *     const wsGuard = createWsGuard({ strategies, hooks: [authz.hooks] });
 *     const channels = attachWsAuthorization(wsGuard, authz);
 *
 * Frames (PROTOCOL.md, "Authorization"): client → `subscribe { channel, grant?, id? }`,
 * `unsubscribe { channel, id? }`; server → `connection { id }`, `subscribed { channel, id?, expiresAt? }`,
 * `unsubscribed { channel, id?, message?, code?, retryable? }`, `refused { type, channel?, id?, message, code, retryable }`.
 */
import type { WebSocket } from 'ws';
import type { WsGuard } from '../adapters/ws/guard.js';
import { Connection } from '../core/connection.js';
import { describeError } from '../core/logger.js';
import type { Principal } from '../core/types.js';
import type { AuthError } from '../errors.js';
import { AuthError as AuthErrorClass } from '../errors.js';
import type { Authorization } from './authorization.js';
import type { Outcome as OutcomeType } from './decide.js';
import { Outcome } from './decide.js';
import type { AuthzConnection, TransportOps } from './state.js';
import type { Claims, JoinResult } from './types.js';

/** The frame types of the authorization protocol, as they appear on the wire. */
export const AuthzFrameType = {
  /** client → server: `{ channel, grant?, id? }`; sent again with a fresh grant to extend it. */
  Subscribe: 'subscribe',
  /** client → server: `{ channel, id? }`. */
  Unsubscribe: 'unsubscribe',
  /** server → client: `{ id }`, the connection id grants are signed for (only when grants are configured). */
  Connection: 'connection',
  /** server → client: `{ channel, id?, expiresAt? }`. */
  Subscribed: 'subscribed',
  /** server → client: `{ channel, id? }` (answer), or `{ channel, message, code, retryable }` (ended by the server). */
  Unsubscribed: 'unsubscribed',
  /** server → client: a refused frame, `{ type, channel?, id?, message, code, retryable }`. */
  Refused: 'refused',
} as const;
export type AuthzFrameType = (typeof AuthzFrameType)[keyof typeof AuthzFrameType];

export interface WsAuthorizationOptions {
  /** Most frames held behind an asynchronous event policy per socket; more are refused with `rate_limited`. @default 64 */
  maxHeldFrames?: number;
}

/** The `ws` side of an authorization. */
export interface WsAuthorization {
  /** Subscribes `ws` to `channel` when the room policy allows it (the same checks as a `subscribe` frame). */
  subscribe(ws: WebSocket, channel: string, options?: { grant?: string }): Promise<JoinResult>;
  /** Unsubscribes a channel subscribed through the layer. */
  unsubscribe(ws: WebSocket, channel: string): boolean;
  /** Stops handling new sockets (sockets already connected stay policed). */
  detach(): void;
}

type Emit = (this: WebSocket, event: string | symbol, ...args: unknown[]) => boolean;
type RawData = Buffer | ArrayBuffer | Buffer[];

// `\u`: a JSON string can spell a reserved type with escapes (`"\u0073ubscribe"`), which JSON.parse reads as the
// type itself: a frame with an escape is parsed too.
const MARKERS = ['"subscribe"', '"unsubscribe"', '"authenticate"', '\\u'].map((m) => Buffer.from(m));

function hasMarker(bytes: Buffer): boolean {
  for (const m of MARKERS) if (bytes.includes(m)) return true;
  return false;
}

/** One argument list reused for every frame: a policy function gets its own copy (`args` is sliced). */
const SCRATCH: unknown[] = [undefined];

function bytesOf(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function send(ws: WebSocket, type: string, payload: unknown): void {
  if (ws.readyState === 1) ws.send(JSON.stringify({ type, payload }));
}

/** `id` is echoed when it is a short string or a number. */
function echoId(value: unknown): string | number | undefined {
  return (typeof value === 'string' && value.length <= 64) || (typeof value === 'number' && Number.isFinite(value)) ? value : undefined;
}

/** Attaches `authz` to a `ws` guard created with `hooks: [authz.hooks, ...]`. */
export function attachWsAuthorization<C extends Claims>(
  wsGuard: WsGuard,
  authz: Authorization<C>,
  options: WsAuthorizationOptions = {},
): WsAuthorization {
  const maxHeld = options.maxHeldFrames ?? 64;
  if (!Number.isInteger(maxHeld) || maxHeld < 1) throw new TypeError('portcullis: maxHeldFrames must be a positive integer');
  const az = authz.internals;
  const { logger } = authz.options;
  const hub = wsGuard.hub as unknown as { join(ws: WebSocket, room: string): boolean; leave(ws: WebSocket, room: string): boolean };
  const states = new WeakMap<WebSocket, AuthzConnection>();
  const inners = new WeakMap<WebSocket, Emit>();

  /** The guard's connection of a socket (an error path: a linear search is fine). */
  const connectionById = (id: string): Connection | undefined => {
    for (const c of wsGuard.guard.connections()) if (c.id === id && c instanceof Connection) return c;
    return undefined;
  };

  const ops: TransportOps = {
    join(socket, room) {
      hub.join(socket as WebSocket, room);
    },
    leave(socket, room, notice) {
      hub.leave(socket as WebSocket, room);
      if (notice !== undefined) send(socket as WebSocket, AuthzFrameType.Unsubscribed, { channel: room, ...notice.toJSON() });
    },
    close(socket, error) {
      const ws = socket as WebSocket;
      if (ws.readyState < 2) ws.close(error.closeCode, error.code);
    },
    principalChanged(_socket, _principal: Principal) {
      // `ws` hands the principal to the app once; policies read the layer's own copy.
    },
  };

  const refuse = (state: AuthzConnection, ws: WebSocket, type: string, outcome: OutcomeType, extra?: Record<string, unknown>): void => {
    const error: AuthError = az.eventRefused(state, type, outcome);
    if (outcome === Outcome.Rate && az.rateOnExceed === 'close') {
      az.terminate(state, error);
      return;
    }
    if (outcome !== Outcome.Rate || extra !== undefined) send(ws, AuthzFrameType.Refused, { type, ...extra, ...error.toJSON() });
  };

  const answer = (ws: WebSocket, result: JoinResult, id: string | number | undefined): void => {
    const idPart = id === undefined ? {} : { id };
    if (result.ok) {
      send(ws, AuthzFrameType.Subscribed, {
        channel: result.room,
        ...idPart,
        ...(result.expiresAt === undefined ? {} : { expiresAt: result.expiresAt }),
      });
    } else {
      send(ws, AuthzFrameType.Refused, {
        type: AuthzFrameType.Subscribe,
        channel: result.room,
        ...idPart,
        message: result.message,
        code: result.code,
        retryable: result.retryable,
      });
    }
  };

  const request = (state: AuthzConnection, ws: WebSocket, type: string, payload: unknown): void => {
    const body = (typeof payload === 'object' && payload !== null ? payload : {}) as { channel?: unknown; grant?: unknown; id?: unknown };
    const channel = typeof body.channel === 'string' ? body.channel : '';
    const id = echoId(body.id);
    if (!az.take(state)) {
      refuse(state, ws, type, Outcome.Rate, id === undefined ? { channel } : { channel, id });
      return;
    }
    if (type === AuthzFrameType.Unsubscribe) {
      az.leave(state, channel);
      send(ws, AuthzFrameType.Unsubscribed, id === undefined ? { channel } : { channel, id });
      return;
    }
    const result = az.join(state, channel, body.grant);
    if (result instanceof Promise) result.then((r) => answer(ws, r, id)).catch(() => {});
    else answer(ws, result, id);
  };

  /** True: hand the frame to the app now. */
  const decide = (state: AuthzConnection, ws: WebSocket, type: string, payload: unknown, data: RawData, isBinary: boolean): boolean => {
    SCRATCH[0] = payload;
    const outcome = az.event(state, type, SCRATCH, 0);
    SCRATCH[0] = undefined;
    if (outcome === Outcome.Allow) return true;
    if (typeof outcome === 'string') {
      refuse(state, ws, type, outcome);
      return false;
    }
    state.deciding = true;
    outcome
      .then((o) => {
        state.deciding = false;
        if (state.closed || ws.readyState !== 1) return;
        if (o === Outcome.Allow) inners.get(ws)?.call(ws, 'message', data, isBinary);
        else refuse(state, ws, type, o);
        drain(state, ws);
      })
      .catch((err: unknown) => logger.error({ connectionId: state.id, ...describeError(err) }, 'portcullis: held frame failed'));
    return false;
  };

  function drain(state: AuthzConnection, ws: WebSocket): void {
    const queue = state.held as [RawData, boolean][] | undefined;
    while (queue !== undefined && queue.length > 0 && !state.deciding && ws.readyState === 1) {
      const [data, isBinary] = queue.shift() as [RawData, boolean];
      if (gate(ws, data, isBinary)) inners.get(ws)?.call(ws, 'message', data, isBinary);
    }
  }

  /** One incoming message of an authenticated socket: true hands it on (to the session's gate, then the app). */
  function gate(ws: WebSocket, data: RawData, isBinary: boolean): boolean {
    try {
      return decideFrame(ws, data, isBinary);
    } catch (err) {
      // A bug here must not reach `ws` (nor crash the process): the frame is dropped.
      logger.error({ ...describeError(err) }, 'portcullis: ws authorization gate threw');
      return false;
    }
  }

  function decideFrame(ws: WebSocket, data: RawData, isBinary: boolean): boolean {
    const state = states.get(ws);
    if (state === undefined || state.closed) return false;
    let type = '';
    let payload: unknown;
    if (!isBinary) {
      const bytes = bytesOf(data);
      if (az.hasEventRules || hasMarker(bytes)) {
        try {
          const frame = JSON.parse(bytes.toString('utf8')) as { type?: unknown; payload?: unknown };
          if (typeof frame === 'object' && frame !== null && typeof frame.type === 'string') {
            type = frame.type;
            payload = frame.payload;
          }
        } catch {
          // not JSON: policed as the frame type ''
        }
      }
    }
    // A refresh: the session handles it (and never hands it to the app).
    if (type === 'authenticate') return true;
    if (type === AuthzFrameType.Subscribe || type === AuthzFrameType.Unsubscribe) {
      request(state, ws, type, payload);
      return false;
    }
    if (state.deciding) {
      state.held ??= [];
      if (state.held.length >= maxHeld) refuse(state, ws, type, Outcome.Rate);
      else state.held.push([data, isBinary]);
      return false;
    }
    return decide(state, ws, type, payload, data, isBinary);
  }

  const onConnection = (ws: WebSocket, _principal: Principal, info: { id: string }): void => {
    const state = az.stateOf(info.id);
    if (state === undefined) {
      logger.error(
        { connectionId: info.id },
        'portcullis: an authenticated socket unknown to the authorization (add authz.hooks to the guard)',
      );
      // Through the guard: its close deadline cuts a peer that ignores the close, and its counts and hub let go.
      const error = new AuthErrorClass('forbidden', { detail: 'authorization: socket unknown (authz.hooks missing)' });
      const conn = connectionById(info.id);
      if (conn !== undefined) conn.terminate(error);
      else if (ws.readyState < 2) ws.close(error.closeCode, error.code);
      return;
    }
    az.bind(state, ws, ops);
    states.set(ws, state);
    const inner = ws.emit as Emit;
    inners.set(ws, inner);
    ws.emit = function gated(this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
      if (event !== 'message') return inner.call(this, event, ...args);
      return gate(this, args[0] as RawData, args[1] === true) ? inner.call(this, event, ...args) : false;
    } as WebSocket['emit'];
    if (authz.options.grants !== undefined) send(ws, AuthzFrameType.Connection, { id: info.id });
  };
  wsGuard.on('connection', onConnection);

  return {
    async subscribe(ws, channel, subscribeOptions = {}) {
      const state = states.get(ws);
      if (state === undefined) return { ok: false, room: channel, code: 'forbidden', message: 'Forbidden', retryable: false };
      return az.join(state, channel, subscribeOptions.grant);
    },
    unsubscribe(ws, channel) {
      const state = states.get(ws);
      return state === undefined ? false : az.leave(state, channel);
    },
    detach() {
      wsGuard.off('connection', onConnection);
    },
  };
}
