/**
 * The credential provider: where a client gets the credentials it sends. It is
 * single-flight (callers arriving while a fetch is in flight share it, and two
 * fetches never run at once), caches reusable credentials until shortly before
 * they expire and refreshes them in the background, and hands out one-time
 * tickets exactly once each. No Node or DOM globals: timers come from an
 * injectable {@link Scheduler}.
 */
import type { PortcullisClientError } from './errors.js';
import { PortcullisClientError as ClientError, toClientError } from './errors.js';
import type { Listeners, Scheduler, SchedulerHandle } from './runtime.js';
import { createListeners, systemScheduler, unrefTimer } from './runtime.js';

/** What `getCredentials` resolves with. */
export interface IssuedCredentials<C extends object = Record<string, unknown>> {
  /** The credentials object sent to the server (`{ token }`, `{ ticket }`, signed HMAC fields…). */
  credentials: C;
  /** When the credentials stop being valid, in epoch milliseconds. @default never (cached until invalidated) */
  expiresAt?: number;
}

/** Options of {@link createCredentialProvider}. */
export interface CredentialProviderOptions<C extends object = Record<string, unknown>> {
  /**
   * Fetches credentials (from your login endpoint, a ticket endpoint, a signer).
   * Throw a `PortcullisClientError` with a do-not-retry code (e.g. `revoked`) to make
   * the transports give up; any other error becomes `credentials_unavailable` (retried).
   */
  getCredentials: () => IssuedCredentials<C> | PromiseLike<IssuedCredentials<C>>;
  /**
   * How long before `expiresAt` cached credentials count as stale and are
   * refreshed, in milliseconds. Capped at half the credential's lifetime, so a
   * short-lived credential is still used for the first half of its life.
   * @default 30000
   */
  refreshLeadMs?: number;
  /**
   * One-time credentials (tickets): each is handed out by {@link CredentialProvider.take}
   * once and never again, so every connection attempt spends a fresh one. Never
   * refreshed in the background.
   * @default false
   */
  oneTime?: boolean;
  /**
   * Refresh reusable credentials in the background when they become stale (at
   * `expiresAt - refreshLeadMs`), so `get()` never waits. Background refreshes are
   * at least 1 s apart; call {@link CredentialProvider.close} to stop them.
   * @default true (ignored when `oneTime`)
   */
  autoRefresh?: boolean;
  /** Clock and timers. A server `Clock` such as `createManualClock()` fits. @default the host's `Date.now` / `setTimeout` */
  scheduler?: Scheduler;
}

/** Events of a {@link CredentialProvider}. */
export interface CredentialProviderEvents<C extends object> {
  [event: string]: (...args: never[]) => void;
  /** New credentials were fetched (the first fetch included). */
  refresh: (credentials: C, expiresAt: number | undefined) => void;
  /** A background refresh failed (the cached credentials stay until they expire). */
  error: (error: PortcullisClientError) => void;
}

/** Hands out credentials. See {@link createCredentialProvider}. */
export interface CredentialProvider<C extends object = Record<string, unknown>> {
  /** True for one-time credentials (tickets). */
  readonly oneTime: boolean;
  /**
   * The current credentials: cached ones while fresh, otherwise one fetch shared by
   * every concurrent caller. With `oneTime`, this only looks at the next ticket
   * (fetching it if needed) without spending it: send what {@link take} returns.
   */
  get(): Promise<C>;
  /**
   * Credentials to send now. Same as {@link get} for reusable credentials; with
   * `oneTime`, the ticket is spent: no other caller ever receives it, and the next
   * call fetches a new one (concurrent callers get one ticket each, fetched one at a time).
   */
  take(): Promise<C>;
  /**
   * New credentials, fetched now (or joining a fetch already in flight), unless the
   * cached ones stay valid after `ifExpiringBy` (epoch ms, e.g. the expiry the server
   * announced in `auth_expiring`). With `oneTime`, same as {@link take}.
   */
  refresh(ifExpiringBy?: number): Promise<C>;
  /** Forgets the cached credentials (after the server refused them); the next call fetches. */
  invalidate(): void;
  /** Subscribes to `refresh` / `error`; returns the unsubscribe function. */
  on<E extends keyof CredentialProviderEvents<C>>(event: E, listener: CredentialProviderEvents<C>[E]): () => void;
  /** Stops background refreshes and drops listeners. The provider still answers calls. */
  close(): void;
}

interface Entry<C> {
  readonly credentials: C;
  readonly expiresAt: number | undefined;
  /** When the entry stops being handed out, in epoch ms. */
  readonly staleAt: number;
}

interface InFlight<C> {
  readonly promise: Promise<Entry<C>>;
  /** Fetched for one `take()` caller (one-time): nobody else may receive it. */
  readonly reserved: boolean;
}

const MIN_BACKGROUND_INTERVAL_MS = 1000;

const settle = (promise: Promise<unknown>): Promise<void> =>
  promise.then(
    () => undefined,
    () => undefined,
  );

/**
 * Creates a credential provider. Throws `TypeError` on invalid options.
 *
 * @example
 * const provider = createCredentialProvider({
 *   oneTime: true,
 *   getCredentials: async () => {
 *     const res = await fetch('/api/socket-ticket', { method: 'POST', credentials: 'include' });
 *     const { ticket, expiresAt } = await res.json();
 *     return { credentials: { ticket }, expiresAt };
 *   },
 * });
 */
export function createCredentialProvider<C extends object = Record<string, unknown>>(
  options: CredentialProviderOptions<C>,
): CredentialProvider<C> {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: provider options must be an object');
  const { getCredentials } = options;
  if (typeof getCredentials !== 'function') throw new TypeError('portcullis: getCredentials must be a function');
  const refreshLeadMs = options.refreshLeadMs ?? 30000;
  if (typeof refreshLeadMs !== 'number' || !Number.isFinite(refreshLeadMs) || refreshLeadMs < 0) {
    throw new TypeError('portcullis: refreshLeadMs must be a finite number >= 0');
  }
  const oneTime = options.oneTime ?? false;
  if (typeof oneTime !== 'boolean') throw new TypeError('portcullis: oneTime must be a boolean');
  const autoRefresh = !oneTime && (options.autoRefresh ?? true);
  const scheduler = options.scheduler ?? systemScheduler;
  const events: Listeners<CredentialProviderEvents<C>> = createListeners();

  let entry: Entry<C> | undefined;
  let inflight: InFlight<C> | undefined;
  let timer: SchedulerHandle | undefined;
  let closed = false;

  const fresh = (e: Entry<C> | undefined): e is Entry<C> => e !== undefined && scheduler.now() < e.staleAt;

  const toEntry = (result: unknown, fetchedAt: number): Entry<C> => {
    const r = result as Partial<IssuedCredentials<C>> | null | undefined;
    const credentials = r?.credentials;
    if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials)) {
      throw new ClientError('invalid_request', { message: 'getCredentials must resolve with { credentials: object, expiresAt? }' });
    }
    const expiresAt = r?.expiresAt;
    if (expiresAt === undefined) return { credentials, expiresAt: undefined, staleAt: Number.POSITIVE_INFINITY };
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw new ClientError('invalid_request', { message: 'getCredentials returned a non-numeric expiresAt (epoch ms)' });
    }
    const lifetime = expiresAt - fetchedAt;
    // Stale at expiresAt − lead, but never before the middle of the credential's life.
    const staleAt = lifetime <= 0 ? fetchedAt : Math.max(expiresAt - refreshLeadMs, fetchedAt + lifetime / 2);
    return { credentials, expiresAt, staleAt };
  };

  const clearTimer = (): void => {
    if (timer === undefined) return;
    scheduler.clearTimer(timer);
    timer = undefined;
  };

  const scheduleBackground = (delayMs: number): void => {
    clearTimer();
    if (closed || !autoRefresh) return;
    timer = scheduler.setTimer(
      () => {
        timer = undefined;
        // A fetch already in flight reschedules when it lands: never two at once.
        if (closed || inflight !== undefined) return;
        const expiresAt = entry?.expiresAt;
        fetchEntry(false).catch((err: unknown) => {
          events.emit('error', toClientError(err));
          // Try again halfway to the expiry of what is still cached.
          const now = scheduler.now();
          if (expiresAt !== undefined && now < expiresAt) scheduleBackground((expiresAt - now) / 2);
        });
      },
      Math.max(MIN_BACKGROUND_INTERVAL_MS, delayMs),
    );
    unrefTimer(timer);
  };

  /** Starts the one fetch; `reserved` hands its result to the caller only (one-time `take`). */
  const fetchEntry = (reserved: boolean): Promise<Entry<C>> => {
    const fetchedAt = scheduler.now();
    const run = async (): Promise<Entry<C>> => {
      let result: unknown;
      try {
        result = await getCredentials();
      } catch (err) {
        throw toClientError(err);
      }
      return toEntry(result, fetchedAt);
    };
    const promise = run().then(
      (e) => {
        inflight = undefined;
        entry = oneTime && reserved ? undefined : e;
        if (e.expiresAt !== undefined && e.staleAt > fetchedAt) scheduleBackground(e.staleAt - scheduler.now());
        events.emit('refresh', e.credentials, e.expiresAt);
        return e;
      },
      (err: unknown) => {
        inflight = undefined;
        throw err;
      },
    );
    inflight = { promise, reserved };
    return promise;
  };

  const get = async (): Promise<C> => {
    for (;;) {
      if (fresh(entry)) return entry.credentials;
      const current = inflight;
      if (current === undefined) return (await fetchEntry(false)).credentials;
      // A ticket fetched for a `take()` caller is theirs alone: wait, then look again.
      if (!(oneTime && current.reserved)) return (await current.promise).credentials;
      await settle(current.promise);
    }
  };

  const take = async (): Promise<C> => {
    if (!oneTime) return get();
    for (;;) {
      if (fresh(entry)) {
        const { credentials } = entry;
        entry = undefined;
        return credentials;
      }
      const current = inflight;
      if (current === undefined) return (await fetchEntry(true)).credentials;
      await settle(current.promise);
    }
  };

  return {
    oneTime,
    get,
    take,
    async refresh(ifExpiringBy) {
      if (oneTime) return take();
      if (ifExpiringBy !== undefined && fresh(entry) && entry.expiresAt !== undefined && entry.expiresAt > ifExpiringBy) {
        return entry.credentials;
      }
      const current = inflight;
      if (current !== undefined) return (await current.promise).credentials;
      return (await fetchEntry(false)).credentials;
    },
    invalidate() {
      entry = undefined;
      clearTimer();
    },
    on(event, listener) {
      return events.on(event, listener);
    },
    close() {
      closed = true;
      clearTimer();
      events.clear();
    },
  };
}
