/**
 * Attempts per transport connection. One Engine.IO connection carries a new
 * Socket.IO socket (and a new core connection) for every CONNECT packet a client
 * sends, so a bound per core connection bounds nothing: the bound is kept per
 * transport connection (its "carrier": the Engine.IO socket, the `ws` request).
 * An attempt takes a slot while it is in flight; a refusal keeps it, an accepted
 * attempt gives it back. Concurrent attempts are bounded exactly as sequential
 * ones: a slot is taken before any verification starts.
 */

/** The slots of every transport connection (nothing outlives the transport). */
export interface TransportAttempts {
  /** Takes a slot for an attempt on `carrier`; false when none is left (refuse it, close the transport). */
  reserve(carrier: object): boolean;
  /** Gives back the slot of an attempt that was accepted (or carried no credentials). */
  release(carrier: object): void;
  /** Counts a refusal made before any slot was taken (Origin, TLS, budgets, handshake rate). */
  refused(carrier: object): void;
  /** True once `carrier` has no slot left: the transport connection must close. */
  spent(carrier: object): boolean;
}

/**
 * The count lives on the carrier itself (a symbol property: cheaper on the
 * handshake path than a `WeakMap`, and gone with the carrier), shared by every
 * guard that sees the same transport connection.
 */
const kUsed = Symbol('portcullis.transportAttempts');
type Carrier = { [kUsed]?: number };

/** Creates the bookkeeping for at most `max` refused or in-flight attempts per transport connection. */
export function createTransportAttempts(max: number): TransportAttempts {
  return {
    reserve(carrier) {
      const c = carrier as Carrier;
      const n = c[kUsed] ?? 0;
      if (n >= max) return false;
      c[kUsed] = n + 1;
      return true;
    },
    release(carrier) {
      const c = carrier as Carrier;
      const n = c[kUsed] ?? 0;
      if (n > 0) c[kUsed] = n - 1;
    },
    refused(carrier) {
      const c = carrier as Carrier;
      c[kUsed] = Math.min(max, (c[kUsed] ?? 0) + 1);
    },
    spent(carrier) {
      return ((carrier as Carrier)[kUsed] ?? 0) >= max;
    },
  };
}
