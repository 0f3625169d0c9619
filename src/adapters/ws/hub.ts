/**
 * The hub: the authenticated sockets of one `ws` guard, indexed by principal and
 * room, with a broadcast that serialises once. A socket enters the hub only when
 * it authenticates and leaves it when it stops being authenticated (expiry,
 * revocation, close), so a pending socket can never receive a broadcast.
 */
import type { WebSocket } from 'ws';

/** Options of {@link Hub.broadcast}. */
export interface BroadcastOptions {
  /** Only members of this room. @default every authenticated socket */
  room?: string;
  /** A socket (usually the sender) or sockets to skip. @default none */
  except?: WebSocket | Iterable<WebSocket>;
  /**
   * Send as a binary message. Strings and JSON values are text unless set; buffers
   * and typed arrays are binary unless set to false.
   * @default false for strings and JSON values, true for binary data
   */
  binary?: boolean;
}

/** What a broadcast may carry: a string, binary data, or a JSON value (stringified once). */
export type BroadcastData = string | Buffer | ArrayBuffer | ArrayBufferView | object | number | boolean | null;

/** The authenticated sockets of a guard. */
export interface Hub {
  /** Every authenticated socket (read-only view). */
  readonly sockets: ReadonlySet<WebSocket>;
  /** Number of authenticated sockets. */
  readonly size: number;
  /** The sockets of principal `id` (a copy). */
  byPrincipal(id: string): WebSocket[];
  /** The principal id of an authenticated socket. */
  principalIdOf(ws: WebSocket): string | undefined;
  /** Adds an authenticated socket to `room`. False (and nothing done) for a socket not in the hub. */
  join(ws: WebSocket, room: string): boolean;
  /** Removes `ws` from `room`. False when it was not there. */
  leave(ws: WebSocket, room: string): boolean;
  /** The rooms `ws` is in (a copy). */
  roomsOf(ws: WebSocket): string[];
  /** Members of `room` (a copy). */
  members(room: string): WebSocket[];
  /**
   * Sends `data` to every open authenticated socket (of `room`), serialising it
   * once: the same string or buffer goes to every member. Returns how many
   * sockets it was sent to.
   */
  broadcast(data: BroadcastData, options?: BroadcastOptions): number;
}

/** @internal The hub plus the adapter's bookkeeping. */
export interface HubInternals extends Hub {
  add(ws: WebSocket, principalId: string): void;
  /** Moves `ws` to another principal id (refresh with `allowPrincipalChange`). */
  reindex(ws: WebSocket, principalId: string): void;
  remove(ws: WebSocket): void;
  clear(): void;
}

interface Member {
  principalId: string;
  rooms: Set<string> | undefined;
}

/**
 * Sockets by principal: the socket itself while it is the principal's only one (nearly
 * every key), a `Set` from the second on; no `Set` allocated per authenticated socket.
 */
type PrincipalSockets = Map<string, WebSocket | Set<WebSocket>>;

function addSocket(index: PrincipalSockets, key: string, ws: WebSocket): void {
  const entry = index.get(key);
  if (entry === undefined) index.set(key, ws);
  else if (entry instanceof Set) entry.add(ws);
  else if (entry !== ws) index.set(key, new Set([entry, ws]));
}

function removeSocket(index: PrincipalSockets, key: string, ws: WebSocket): void {
  const entry = index.get(key);
  if (entry === ws) index.delete(key);
  else if (entry instanceof Set) {
    entry.delete(ws);
    if (entry.size === 1) index.set(key, entry.values().next().value as WebSocket);
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([value]));
  else set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): boolean {
  const set = map.get(key);
  if (set === undefined || !set.delete(value)) return false;
  if (set.size === 0) map.delete(key);
  return true;
}

function encode(data: BroadcastData, binary: boolean | undefined): { payload: Buffer | ArrayBuffer | ArrayBufferView; binary: boolean } {
  if (typeof data === 'string') return { payload: Buffer.from(data, 'utf8'), binary: binary ?? false };
  if (Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return { payload: data, binary: binary ?? true };
  const json = JSON.stringify(data);
  if (json === undefined) throw new TypeError('portcullis: broadcast data is not JSON-serialisable');
  return { payload: Buffer.from(json, 'utf8'), binary: binary ?? false };
}

/** @internal Creates an empty hub. */
export function createHub(): HubInternals {
  const members = new Map<WebSocket, Member>();
  const sockets = new Set<WebSocket>();
  const byPrincipal: PrincipalSockets = new Map();
  const rooms = new Map<string, Set<WebSocket>>();

  const send = (ws: WebSocket, payload: Buffer | ArrayBuffer | ArrayBufferView, binary: boolean): boolean => {
    if (ws.readyState !== 1) return false;
    ws.send(payload, { binary });
    return true;
  };

  return {
    sockets,
    get size() {
      return sockets.size;
    },
    byPrincipal(id) {
      const entry = byPrincipal.get(id);
      return entry === undefined ? [] : entry instanceof Set ? [...entry] : [entry];
    },
    principalIdOf(ws) {
      return members.get(ws)?.principalId;
    },
    join(ws, room) {
      if (typeof room !== 'string') throw new TypeError('portcullis: room must be a string');
      const member = members.get(ws);
      if (member === undefined) return false;
      member.rooms ??= new Set();
      member.rooms.add(room);
      addTo(rooms, room, ws);
      return true;
    },
    leave(ws, room) {
      const member = members.get(ws);
      if (member?.rooms === undefined || !member.rooms.delete(room)) return false;
      removeFrom(rooms, room, ws);
      return true;
    },
    roomsOf(ws) {
      return [...(members.get(ws)?.rooms ?? [])];
    },
    members(room) {
      return [...(rooms.get(room) ?? [])];
    },
    broadcast(data, options = {}) {
      const targets = options.room === undefined ? sockets : rooms.get(options.room);
      if (targets === undefined || targets.size === 0) return 0;
      const { except } = options;
      const skip: ReadonlySet<WebSocket> | undefined =
        except === undefined ? undefined : isSocket(except) ? new Set([except]) : new Set(except);
      const { payload, binary } = encode(data, options.binary);
      let sent = 0;
      for (const ws of targets) {
        if (skip?.has(ws)) continue;
        if (send(ws, payload, binary)) sent++;
      }
      return sent;
    },
    add(ws, principalId) {
      if (members.has(ws)) return;
      members.set(ws, { principalId, rooms: undefined });
      sockets.add(ws);
      addSocket(byPrincipal, principalId, ws);
    },
    reindex(ws, principalId) {
      const member = members.get(ws);
      if (member === undefined || member.principalId === principalId) return;
      removeSocket(byPrincipal, member.principalId, ws);
      member.principalId = principalId;
      addSocket(byPrincipal, principalId, ws);
    },
    remove(ws) {
      const member = members.get(ws);
      if (member === undefined) return;
      members.delete(ws);
      sockets.delete(ws);
      removeSocket(byPrincipal, member.principalId, ws);
      if (member.rooms !== undefined) for (const room of member.rooms) removeFrom(rooms, room, ws);
    },
    clear() {
      members.clear();
      sockets.clear();
      byPrincipal.clear();
      rooms.clear();
    },
  };
}

function isSocket(value: WebSocket | Iterable<WebSocket>): value is WebSocket {
  return typeof (value as { send?: unknown }).send === 'function';
}
