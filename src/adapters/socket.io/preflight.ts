/**
 * The admission checks run before Socket.IO's engine accepts a new session:
 * Origin, TLS, the pending budget and the handshake rate (`admission.preflight`).
 * A refusal is a plain HTTP response (status of the code, JSON body,
 * `Retry-After` on 429) written before any Engine.IO handshake or WebSocket
 * upgrade, so an over-limit attempt costs a small fraction of a normal handshake.
 *
 * Which requests open a new session is decided exactly as Engine.IO decides it
 * (`isNewEngineSession`); requests of an existing session pass untouched. The
 * namespace middleware knows, per Engine.IO connection, whether its handshake
 * request passed here, and runs the checks itself when it did not.
 */
import type { IncomingMessage } from 'node:http';

import type { Admission } from '../../core/admission.js';
import { refuseRequest, writeRefusal } from '../../core/http-refusal.js';
import type { AuthError } from '../../errors.js';
import { toAuthError } from '../../errors.js';
import type { EnginePrivate } from './internals.js';
import { isNewEngineSession, wrapEngineHandlers } from './internals.js';

/** Runs the preflight of `req`, then `pass` or `refuse` (at once when everything answers at once). */
function run(admission: Admission, req: IncomingMessage, pass: () => void, refuse: (error: AuthError) => void): void {
  let pending: Promise<void> | undefined;
  try {
    pending = admission.preflight(req, 'socket.io');
  } catch (err) {
    refuse(toAuthError(err));
    return;
  }
  if (pending === undefined) pass();
  else pending.then(pass, (err: unknown) => refuse(toAuthError(err)));
}

/** Wraps the engine's request and upgrade handlers with the preflight. Returns a function that restores them. */
export function installPreflight(engine: EnginePrivate, admission: Admission): () => void {
  return wrapEngineHandlers(engine, (original) => ({
    handleRequest(req, res) {
      // Only the request opening a new session is checked (not CORS preflights or a session's later polls).
      if (req.method !== 'GET' || !isNewEngineSession(engine, req)) {
        original.handleRequest(req, res);
        return;
      }
      run(
        admission,
        req,
        () => original.handleRequest(req, res),
        (error) => refuseRequest(res, error),
      );
    },
    handleUpgrade(req, socket, head) {
      if (!isNewEngineSession(engine, req)) {
        original.handleUpgrade(req, socket, head);
        return;
      }
      run(
        admission,
        req,
        () => original.handleUpgrade(req, socket, head),
        (error) => {
          socket.on('error', () => socket.destroy());
          writeRefusal(socket, error);
        },
      );
    },
  }));
}
