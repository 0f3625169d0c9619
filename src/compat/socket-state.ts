/**
 * What the compat entry keeps per socket, and the events it holds while an
 * `authentication` is being verified.
 *
 * The old module never filtered a client's events, so a client could emit
 * `authentication` and, without waiting, its first events, and the app got them.
 * Portcullis keeps a pending socket's events from the app; the compat entry holds
 * the ones that arrive while the socket's `authentication` is being verified
 * (bounded), and hands them to the app in order once it is admitted (after
 * `postAuthenticate`, so handlers registered there get them), or drops them when
 * it is refused. A second `authentication` sent meanwhile is held the same way and
 * verified after the first, as the old module verified every one.
 */
import type { Socket } from 'socket.io';
import { connectionOf } from '../adapters/socket.io/driver.js';
import type { Connection } from '../core/connection.js';
import type { AuthError } from '../errors.js';

/** A Socket.IO EVENT packet, as `socket.onevent` receives it. */
export interface EventPacket {
  data?: unknown[];
  id?: number;
  [key: string]: unknown;
}

type Onevent = (this: Socket, packet: EventPacket) => void;

/** The compat entry's per-socket state. */
export interface CompatState {
  /** The adapter's `onevent` (it keeps a pending socket's events from the app). */
  readonly inner: Onevent;
  /** Events held while an `authentication` is verified, in arrival order. */
  readonly held: EventPacket[];
  /** True once an overflow of `held` was logged for this socket. */
  overflowLogged: boolean;
  /** The next attempt's payload (a plain copy), or why it was refused, for the strategy. */
  attempt: { readonly data: unknown } | { readonly error: AuthError } | undefined;
  /** The data of the attempt just admitted, for `postAuthenticate`. */
  admittedData: unknown;
  /** The `success` value the callback passed, sent as the `authenticated` payload. */
  verdict: unknown;
  /** What `callback(err)` said, sent as the `unauthorized` message (`undefined` when it was no string). */
  refusal: { readonly message: string | undefined } | undefined;
  /** True once `authenticate` ran for this socket (it then gets the `disconnect` callback). */
  spoke: boolean;
  /** True when it was admitted because its client authenticated on `/`. */
  withRoot: boolean;
}

/** The old module's flag, and the compat state. */
export type CompatSocket = Socket & { auth?: boolean; [STATE]?: CompatState };

export const STATE: unique symbol = Symbol('portcullis.socketio-auth');

/** The state of `socket`, when the compat entry saw it connect. */
export function stateOf(socket: Socket): CompatState | undefined {
  return (socket as CompatSocket)[STATE];
}

/** What the compat entry does with one event of one socket. */
export interface Dispatcher {
  /** Name of the credentials event. */
  readonly authentication: string;
  /** Most events held per socket. */
  readonly maxHeld: number;
  /** Prepares an `authentication` packet for the adapter (stores the payload, returns the stand-in packet). */
  prepare(socket: Socket, state: CompatState, packet: EventPacket): EventPacket;
  /** Called once per socket whose held events overflowed. */
  overflow(socket: Socket): void;
}

/** Installs the compat `onevent` on `socket` (after the adapter installed its own) and returns the state. */
export function watchSocket(socket: Socket, dispatcher: Dispatcher): CompatState {
  const target = socket as unknown as { onevent: Onevent };
  const state: CompatState = {
    inner: target.onevent,
    held: [],
    overflowLogged: false,
    attempt: undefined,
    admittedData: undefined,
    verdict: undefined,
    refusal: undefined,
    spoke: false,
    withRoot: false,
  };
  (socket as CompatSocket)[STATE] = state;
  target.onevent = function compatOnevent(this: Socket, packet: EventPacket): void {
    const conn = connectionOf(this);
    if (conn === undefined) {
      state.inner.call(this, packet);
      return;
    }
    const isAuth = isAuthentication(packet, dispatcher.authentication);
    // Keep the order: once something is held, everything after it waits too.
    if (state.held.length > 0 || (conn.inFlight && (conn.pending || isAuth))) {
      hold(this, state, packet, dispatcher);
      return;
    }
    dispatch(this, state, packet, isAuth, dispatcher);
  };
  return state;
}

function isAuthentication(packet: EventPacket, name: string): boolean {
  return Array.isArray(packet.data) && packet.data[0] === name;
}

function hold(socket: Socket, state: CompatState, packet: EventPacket, dispatcher: Dispatcher): void {
  if (state.held.length >= dispatcher.maxHeld) {
    if (!state.overflowLogged) {
      state.overflowLogged = true;
      dispatcher.overflow(socket);
    }
    return;
  }
  state.held.push(packet);
}

function dispatch(socket: Socket, state: CompatState, packet: EventPacket, isAuth: boolean, dispatcher: Dispatcher): void {
  state.inner.call(socket, isAuth ? dispatcher.prepare(socket, state, packet) : packet);
}

/**
 * Hands the held events to the app, in order, while the socket is authenticated
 * and no `authentication` is being verified; drops them once it is not.
 */
export function releaseHeld(socket: Socket, dispatcher: Dispatcher): void {
  const state = stateOf(socket);
  if (state === undefined) return;
  const conn: Connection | undefined = connectionOf(socket);
  while (state.held.length > 0) {
    if (conn === undefined || !conn.authenticated) {
      state.held.length = 0;
      return;
    }
    if (conn.inFlight) return; // the next verdict releases the rest
    const packet = state.held.shift() as EventPacket;
    dispatch(socket, state, packet, isAuthentication(packet, dispatcher.authentication), dispatcher);
  }
}

/** Forgets everything held for `socket` (it closed). */
export function dropState(state: CompatState): void {
  state.held.length = 0;
  state.attempt = undefined;
  state.admittedData = undefined;
  state.verdict = undefined;
}
