/**
 * A hand-built `AuthContext` for calling strategies directly: a manual clock and a
 * memory store on that clock, loopback defaults, everything overridable.
 */
import type { ManualClock } from '../../src/core/clock.js';
import { createManualClock } from '../../src/core/clock.js';
import { sanitizeCredentials } from '../../src/core/sanitize.js';
import type { AuthContext, Credentials, Strategy } from '../../src/core/types.js';
import { AuthError } from '../../src/errors.js';
import type { MemoryStore } from '../../src/stores/memory.js';
import { createMemoryStore } from '../../src/stores/memory.js';

export type TestContext = AuthContext & { readonly clock: ManualClock; readonly store: MemoryStore };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A context on a manual clock starting now (unless `clock` is given), with a memory store on that clock. */
export function makeContext(overrides: Partial<Mutable<AuthContext>> = {}): TestContext {
  const clock = (overrides.clock as ManualClock | undefined) ?? createManualClock(Date.now());
  const store = (overrides.store as MemoryStore | undefined) ?? createMemoryStore({ clock });
  return {
    transport: 'socket.io',
    phase: 'handshake',
    connectionId: 'conn-1',
    ip: '127.0.0.1',
    origin: undefined,
    secure: false,
    headers: {},
    url: '/socket.io/?EIO=4&transport=websocket',
    namespace: '/',
    peerCertificate: undefined,
    peerAuthorized: false,
    previous: undefined,
    socket: undefined,
    ...overrides,
    clock,
    store,
  };
}

/**
 * Runs `strategy` on `raw` credentials sanitised as the guard would; a refusal
 * thrown at once (a strategy need not be `async`) becomes a rejection, as in the guard.
 */
export function run(strategy: Strategy, raw: unknown, context: AuthContext) {
  const credentials: Credentials = sanitizeCredentials(raw);
  return new Promise<Awaited<ReturnType<Strategy['authenticate']>>>((resolve) => resolve(strategy.authenticate(credentials, context)));
}

/** Resolves the `AuthError` that `promise` rejects with (fails when it resolves or throws something else). */
export async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AuthError) return err;
    throw new Error(`expected an AuthError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a refusal, but the strategy admitted or passed');
}
