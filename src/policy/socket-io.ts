/**
 * Authorization for a Socket.IO guard: the join/leave request protocol, a guarded
 * `join` for the app, and the event gate (rate, then event policy) in front of
 * every app handler. Attaches through one explicit integration point, the guard's
 * event gate; everything else goes through the core authorization.
 *
 *     const authz = createAuthorization({ rooms: { 'org:{orgId}:*': true } });
 *     const guard = createSocketIoGuard(io, { strategies, hooks: [authz.hooks] });
 *     const rooms = attachSocketIoAuthorization(guard, authz);
 */
import type { Socket } from 'socket.io';
import { connectionOf } from '../adapters/socket.io/driver.js';
import type { EventPacket } from '../adapters/socket.io/internals.js';
import type { EventGate } from '../adapters/socket.io/options.js';
import { kEventGate } from '../adapters/socket.io/options.js';
import type { SocketIoGuard } from '../adapters/socket.io.js';
import { describeError } from '../core/logger.js';
import type { Principal } from '../core/types.js';
import type { AuthError } from '../errors.js';
import { AuthError as AuthErrorClass } from '../errors.js';
import type { Authorization } from './authorization.js';
import type { Outcome as OutcomeType } from './decide.js';
import { Outcome } from './decide.js';
import type { AuthzConnection, TransportOps } from './state.js';
import type { Claims, JoinResult } from './types.js';

/** Event names of the join protocol (PROTOCOL.md, "Authorization"). */
export interface SocketIoAuthzEvents {
  /** Client → server, with an ack: `{ room, grant? }` → `JoinResult`. @default 'portcullis:join' */
  join: string;
  /** Client → server, with an ack: `{ room }` → `{ ok, room }`. @default 'portcullis:leave' */
  leave: string;
  /** Server → client: a membership ended, `{ room, message, code, retryable }`. @default 'portcullis:left' */
  left: string;
  /** Server → client: an event without an ack was refused, `{ event, message, code, retryable }`. @default 'portcullis:denied' */
  denied: string;
}

export const DEFAULT_AUTHZ_EVENTS: Readonly<SocketIoAuthzEvents> = Object.freeze({
  join: 'portcullis:join',
  leave: 'portcullis:leave',
  left: 'portcullis:left',
  denied: 'portcullis:denied',
});

export interface SocketIoAuthorizationOptions {
  /** @default {@link DEFAULT_AUTHZ_EVENTS} */
  events?: Partial<SocketIoAuthzEvents>;
  /** Most events held behind an asynchronous event policy per socket; more are refused with `rate_limited`. @default 64 */
  maxHeldEvents?: number;
}

/** A Socket.IO socket with any event maps and `SocketData` (a typed server's sockets included). */
// biome-ignore lint/suspicious/noExplicitAny: accepts sockets of servers typed with their own generics
export type AnySocket = Socket<any, any, any, any>;

/** The Socket.IO side of an authorization. */
export interface SocketIoAuthorization {
  /** Joins `socket` to `room` when the room policy allows it (the same checks as a client's join request). */
  join(socket: AnySocket, room: string, options?: { grant?: string }): Promise<JoinResult>;
  /** Leaves a room joined through the layer. False when it was not joined through it. */
  leave(socket: AnySocket, room: string): boolean;
  /** Removes the event gate: events are no longer policed. */
  detach(): void;
}

type Ack = (...args: unknown[]) => void;

/** Socket.IO private API: the ack function of a packet id (what `onevent` appends to the arguments). */
function ackOf(socket: Socket, id: number): Ack {
  return (socket as unknown as { ack(id: number): Ack }).ack(id);
}

const ops: TransportOps = {
  join(socket, room) {
    const joined = (socket as Socket).join(room) as unknown;
    if (joined instanceof Promise) joined.catch(() => {});
  },
  leave(socket, room, notice) {
    const s = socket as Socket;
    const left = s.leave(room) as unknown;
    if (left instanceof Promise) left.catch(() => {});
    if (notice !== undefined && s.connected) s.emit(leftEventOf(s), { room, ...notice.toJSON() });
  },
  close(socket, error) {
    const s = socket as Socket;
    const conn = connectionOf(s);
    if (conn !== undefined) conn.terminate(error);
    else s.disconnect(true);
  },
  principalChanged(socket, principal: Principal) {
    (socket as Socket).data.principal = principal;
  },
};

const LEFT = Symbol('portcullis.authz.left');
function leftEventOf(socket: Socket): string {
  return (socket.nsp as unknown as { [LEFT]?: string })[LEFT] ?? DEFAULT_AUTHZ_EVENTS.left;
}

/** Attaches `authz` to a Socket.IO guard. The guard must have been created with `hooks: [authz.hooks, ...]`. */
export function attachSocketIoAuthorization<C extends Claims>(
  guard: SocketIoGuard,
  authz: Authorization<C>,
  options: SocketIoAuthorizationOptions = {},
): SocketIoAuthorization {
  const events: SocketIoAuthzEvents = { ...DEFAULT_AUTHZ_EVENTS, ...options.events };
  for (const [key, name] of Object.entries(events)) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`portcullis: events.${key} must be a non-empty string`);
  }
  const maxHeld = options.maxHeldEvents ?? 64;
  if (!Number.isInteger(maxHeld) || maxHeld < 1) throw new TypeError('portcullis: maxHeldEvents must be a positive integer');
  const az = authz.internals;
  const { logger } = authz.options;
  let warned = false;

  const stateOf = (socket: Socket): AuthzConnection | undefined => {
    const state = az.stateOf(socket.id);
    if (state === undefined) {
      if (!warned) {
        warned = true;
        logger.error(
          { connectionId: socket.id },
          'portcullis: an authenticated socket unknown to the authorization (add authz.hooks to the guard)',
        );
      }
      return undefined;
    }
    if (state.ops === undefined) {
      (socket.nsp as unknown as { [LEFT]?: string })[LEFT] = events.left;
      az.bind(state, socket, ops);
    }
    return state;
  };

  const refusal = (error: AuthError): Record<string, unknown> => error.toJSON() as unknown as Record<string, unknown>;

  const refuse = (state: AuthzConnection, socket: Socket, packet: EventPacket, name: string, outcome: OutcomeType): void => {
    const error = az.eventRefused(state, name, outcome);
    if (outcome === Outcome.Rate && az.rateOnExceed === 'close') {
      az.terminate(state, error);
      return;
    }
    if (packet.id !== undefined) ackOf(socket, packet.id)(refusal(error));
    // No ack: a policy refusal is told once per event; a rate refusal is silent (no amplification).
    else if (outcome !== Outcome.Rate) socket.emit(events.denied, { event: name, ...refusal(error) });
  };

  const answer = (socket: Socket, packet: EventPacket, result: JoinResult): void => {
    if (packet.id !== undefined) ackOf(socket, packet.id)(result);
    else if (!result.ok) socket.emit(events.denied, { event: events.join, ...result });
  };

  /** A join or leave request: rate-limited like any event, answered on the ack. */
  const request = (socket: Socket, packet: EventPacket, data: unknown[], join: boolean): void => {
    const state = stateOf(socket);
    const body = data[1] as { room?: unknown; grant?: unknown } | undefined;
    const room = typeof body === 'object' && body !== null && typeof body.room === 'string' ? body.room : '';
    if (state === undefined) {
      const e = new AuthErrorClass('forbidden');
      answer(socket, packet, { ok: false, room, code: e.code, message: e.message, retryable: e.retryable });
      return;
    }
    if (!az.take(state)) {
      refuse(state, socket, packet, join ? events.join : events.leave, Outcome.Rate);
      return;
    }
    if (!join) {
      az.leave(state, room);
      if (packet.id !== undefined) ackOf(socket, packet.id)({ ok: true, room });
      return;
    }
    const result = az.join(state, room, typeof body === 'object' && body !== null ? body.grant : undefined);
    if (result instanceof Promise) result.then((r) => answer(socket, packet, r)).catch(() => {});
    else answer(socket, packet, result);
  };

  /** Runs held events in order until one has to wait again. */
  const drain = (state: AuthzConnection, socket: Socket, dispatch: (socket: Socket, packet: EventPacket) => void): void => {
    const queue = state.held as EventPacket[] | undefined;
    while (queue !== undefined && queue.length > 0 && !state.deciding && socket.connected) {
      const packet = queue.shift() as EventPacket;
      if (decide(state, socket, packet, dispatch)) dispatch(socket, packet);
    }
  };

  /** True: dispatch now. */
  const decide = (
    state: AuthzConnection,
    socket: Socket,
    packet: EventPacket,
    dispatch: (socket: Socket, packet: EventPacket) => void,
  ): boolean => {
    const data = packet.data as unknown[];
    // socket.io-parser also accepts numeric event names, which Socket.IO dispatches under their string form
    // (`42` reaches `socket.on('42')`): the policy matches that same form.
    const name = typeof data[0] === 'string' ? data[0] : String(data[0]);
    const outcome = az.event(state, name, data, 1);
    if (outcome === Outcome.Allow) return true;
    if (typeof outcome === 'string') {
      refuse(state, socket, packet, name, outcome);
      return false;
    }
    state.deciding = true;
    outcome
      .then((o) => {
        state.deciding = false;
        if (state.closed || !socket.connected) return;
        if (o === Outcome.Allow) dispatch(socket, packet);
        else refuse(state, socket, packet, name, o);
        drain(state, socket, dispatch);
      })
      .catch((err: unknown) => logger.error({ connectionId: state.id, ...describeError(err) }, 'portcullis: held event failed'));
    return false;
  };

  const gate: EventGate = {
    admit(socket, packet, dispatch) {
      try {
        return admitEvent(socket, packet, dispatch);
      } catch (err) {
        // A bug here must not reach Socket.IO: the event is dropped (fail closed).
        logger.error({ connectionId: socket.id, ...describeError(err) }, 'portcullis: authorization gate threw');
        return false;
      }
    },
  };

  function admitEvent(socket: Socket, packet: EventPacket, dispatch: (socket: Socket, packet: EventPacket) => void): boolean {
    const data = packet.data;
    if (!Array.isArray(data)) return false;
    const name = data[0];
    if (name === events.join || name === events.leave) {
      request(socket, packet, data, name === events.join);
      return false;
    }
    const state = stateOf(socket);
    if (state === undefined) {
      // Fail closed: a socket this layer never admitted sends nothing to the app.
      if (packet.id !== undefined) ackOf(socket, packet.id)(refusal(new AuthErrorClass('forbidden')));
      return false;
    }
    if (state.deciding) {
      state.held ??= [];
      const held = state.held;
      if (held.length >= maxHeld) refuse(state, socket, packet, String(name), Outcome.Rate);
      else held.push(packet);
      return false;
    }
    return decide(state, socket, packet, dispatch);
  }
  guard[kEventGate](gate);

  return {
    async join(socket, room, joinOptions = {}) {
      const state = stateOf(socket);
      if (state === undefined) {
        const e = new AuthErrorClass('forbidden');
        return { ok: false, room, code: e.code, message: e.message, retryable: e.retryable };
      }
      return az.join(state, room, joinOptions.grant);
    },
    leave(socket, room) {
      const state = az.stateOf(socket.id);
      return state === undefined ? false : az.leave(state, room);
    },
    detach() {
      guard[kEventGate](undefined);
    },
  };
}
