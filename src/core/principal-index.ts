/**
 * The principal index: which live connections belong to a user, a session or a
 * token, so that a revocation finds them without scanning every socket.
 */
import type { Connection } from './connection.js';
import type { RevokeTarget } from './revocation.js';

/**
 * A key maps to its one connection, or to a set once a second connection shares
 * it (most users have one socket: no `Set` per socket).
 */
type Index = Map<string, Connection | Set<Connection>>;

function addTo(index: Index, key: string | undefined, conn: Connection): void {
  if (key === undefined) return;
  const entry = index.get(key);
  if (entry === undefined) index.set(key, conn);
  else if (entry instanceof Set) entry.add(conn);
  else if (entry !== conn) index.set(key, new Set([entry, conn]));
}

function removeFrom(index: Index, key: string | undefined, conn: Connection): void {
  if (key === undefined) return;
  const entry = index.get(key);
  if (entry === conn) index.delete(key);
  else if (entry instanceof Set) {
    entry.delete(conn);
    if (entry.size === 1) index.set(key, entry.values().next().value as Connection);
  }
}

function lookup(index: Index, key: string | undefined): Connection[] {
  if (key === undefined) return [];
  const entry = index.get(key);
  return entry === undefined ? [] : entry instanceof Set ? [...entry] : [entry];
}

/** Authenticated connections by user, session and token id. */
export interface PrincipalIndex {
  /** Indexes `conn` under its current principal (no-op without one). */
  add(conn: Connection): void;
  /** Removes `conn` from the entries of its current principal. */
  remove(conn: Connection): void;
  /** The connections matching every field `target` sets. */
  matching(target: RevokeTarget): Connection[];
}

/** Creates an empty index. */
export function createPrincipalIndex(): PrincipalIndex {
  const byUser: Index = new Map();
  const bySession: Index = new Map();
  const byToken: Index = new Map();
  const apply = (conn: Connection, op: typeof addTo): void => {
    const p = conn.principal;
    if (p === undefined) return;
    op(byUser, p.id, conn);
    op(bySession, p.sessionId, conn);
    op(byToken, p.tokenId, conn);
  };
  return {
    add: (conn) => apply(conn, addTo),
    remove: (conn) => apply(conn, removeFrom),
    matching(target) {
      const candidates =
        target.userId !== undefined
          ? lookup(byUser, target.userId)
          : target.sessionId !== undefined
            ? lookup(bySession, target.sessionId)
            : lookup(byToken, target.tokenId);
      return candidates.filter(
        (c) =>
          (target.userId === undefined || c.principal?.id === target.userId) &&
          (target.sessionId === undefined || c.principal?.sessionId === target.sessionId) &&
          (target.tokenId === undefined || c.principal?.tokenId === target.tokenId),
      );
    },
  };
}
