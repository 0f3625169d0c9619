/**
 * Attempts per transport connection. One Engine.IO connection carries a new
 * Socket.IO socket (and a new core connection) for every CONNECT packet a client
 * sends, so a bound per core connection bounds nothing: the bound is kept per
 * transport connection (its "carrier": the Engine.IO socket, the `ws` request).
 * An attempt takes a slot while it is in flight; a refusal keeps it, an accepted
 * attempt gives it back. Concurrent attempts are bounded exactly as sequential
 * ones: a slot is taken before any verification starts.
 */

/** The slots of every transport connection, held weakly (nothing outlives the transport). */
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

/** Creates the bookkeeping for at most `max` refused or in-flight attempts per transport connection. */
export function createTransportAttempts(max: number): TransportAttempts {
  const used = new WeakMap<object, number>();
  return {
    reserve(carrier) {
      const n = used.get(carrier) ?? 0;
      if (n >= max) return false;
      used.set(carrier, n + 1);
      return true;
    },
    release(carrier) {
      const n = used.get(carrier) ?? 0;
      if (n > 0) used.set(carrier, n - 1);
    },
    refused(carrier) {
      used.set(carrier, Math.min(max, (used.get(carrier) ?? 0) + 1));
    },
    spent(carrier) {
      return (used.get(carrier) ?? 0) >= max;
    },
  };
}
