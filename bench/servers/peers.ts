/**
 * The peers: what an application would write or pick instead of portcullis to check
 * a JWT HS256, on each transport (see `PEERS` in `protocol.ts`). Each reads the token
 * where the load client puts it, and the same secret string portcullis is given:
 *
 * - Socket.IO: an `io.use` middleware (or `@thream/socketio-jwt`'s) reading the
 *   CONNECT `auth.token`; a refusal is `next(err)`, a `connect_error` on the client.
 * - `ws`: the HTTP `upgrade` handler of `ws`'s README ("client authentication"):
 *   the token is the `portcullis.bearer.<jwt>` entry of `Sec-WebSocket-Protocol`; a
 *   refusal is a bare `401` and no upgrade.
 *
 * After a success each does what the vanilla server of its transport does (nothing
 * more on Socket.IO; the `authenticated` frame after the `101` on `ws`), so a peer's
 * ratio against vanilla measures its verification alone, as portcullis's does.
 */
import { createSecretKey, webcrypto } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { authorize } from '@thream/socketio-jwt';
import { jwtVerify } from 'jose';
import jwt from 'jsonwebtoken';
import type { Server } from 'socket.io';
import { hs256Key, type KeyMaterial } from '../lib/credentials.js';
import { BEARER_PREFIX } from '../lib/ws-client.js';
import type { Peer } from './protocol.js';

/** Calls `done` with the token's claims, or with `undefined` to refuse; synchronously when the peer's check is. */
type Check = (token: unknown, done: (claims: unknown) => void) => void;

/** The token check of `peer`, its key prepared the way that peer prepares it. */
async function checkOf(peer: Exclude<Peer, 'thream'>, keys: KeyMaterial): Promise<Check> {
  switch (peer) {
    case 'jsonwebtoken': {
      // As tutorials write it: the secret string, no options (jsonwebtoken then tries the string as a public key,
      // fails, and makes a secret KeyObject of it, on every call).
      const secret = keys.hs256Secret;
      return (token, done) => {
        let claims: unknown;
        try {
          claims = jwt.verify(token as string, secret);
        } catch {
          claims = undefined;
        }
        done(claims);
      };
    }
    case 'jsonwebtoken-keyobject': {
      // The tuned hand-written check: the KeyObject made once, the algorithm pinned.
      const key = createSecretKey(keys.hs256Secret, 'utf8');
      return (token, done) => {
        let claims: unknown;
        try {
          claims = jwt.verify(token as string, key, { algorithms: ['HS256'] });
        } catch {
          claims = undefined;
        }
        done(claims);
      };
    }
    case 'jose-key-once': {
      // jose at its best: a CryptoKey imported once (given bytes or a KeyObject, jose 6 imports the key per call).
      const key = await webcrypto.subtle.importKey('raw', hs256Key(keys), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      return (token, done) => {
        jwtVerify(token as string, key, { algorithms: ['HS256'] }).then(
          ({ payload }) => done(payload),
          () => done(undefined),
        );
      };
    }
  }
}

/** Guards `io` with `peer`, in handshake mode (the token in the CONNECT `auth`). */
export async function installSocketIoPeer(io: Server, peer: Peer, keys: KeyMaterial): Promise<void> {
  if (peer === 'thream') {
    // As its README shows it; the client sends `auth: { token: 'Bearer <jwt>' }`.
    io.use(authorize({ secret: keys.hs256Secret }));
    return;
  }
  const check = await checkOf(peer, keys);
  io.use((socket, next) => {
    check((socket.handshake.auth as { token?: unknown }).token, (claims) => {
      if (claims === undefined) {
        next(new Error('unauthorized'));
        return;
      }
      socket.data.user = claims;
      next();
    });
  });
}

/**
 * The `ws` peer's check of an upgrade request: the bearer entry of `Sec-WebSocket-Protocol`, verified;
 * `done(claims)`, or `done(undefined)` to refuse.
 */
export async function wsPeerCheck(peer: Peer, keys: KeyMaterial): Promise<(req: IncomingMessage, done: (claims: unknown) => void) => void> {
  if (peer === 'thream') throw new TypeError('@thream/socketio-jwt is a Socket.IO middleware; it has no ws form');
  const check = await checkOf(peer, keys);
  return (req, done) => {
    const entry = req.headers['sec-websocket-protocol']
      ?.split(',')
      .map((p) => p.trim())
      .find((p) => p.startsWith(BEARER_PREFIX));
    check(entry?.slice(BEARER_PREFIX.length), done);
  };
}
