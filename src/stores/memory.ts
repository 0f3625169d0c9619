/**
 * The in-process store: the default. Every key carries a TTL; expired keys are
 * dropped on access and by a periodic sweep, and the number of keys is capped,
 * so memory cannot grow without bound. When the cap is reached, writes fail
 * closed with `unavailable` rather than evicting a live nonce or ticket.
 */

import type { Clock, TimerHandle } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Store, SyncStore } from '../core/types.js';
import { AuthError } from '../errors.js';

export interface MemoryStoreOptions {
  /** Clock used for TTLs. @default the system clock */
  clock?: Clock;
  /** Maximum number of live keys. @default 1000000 */
  maxKeys?: number;
  /** How often expired keys are swept, in ms. @default 10000 */
  sweepIntervalMs?: number;
}

interface Entry {
  value: string;
  expiresAt: number;
}

/** A {@link Store} with a few extras for tests and diagnostics. */
export interface MemoryStore extends Store {
  readonly sync: SyncStore;
  /** Live keys (expired ones may linger until the next sweep or access). */
  readonly size: number;
  /** Drops expired keys now. */
  sweep(): void;
}

/** Creates a memory store. */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const clock = options.clock ?? systemClock;
  const maxKeys = options.maxKeys ?? 1_000_000;
  const sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError('portcullis: maxKeys must be a positive integer');
  if (!Number.isInteger(sweepIntervalMs) || sweepIntervalMs < 1)
    throw new TypeError('portcullis: sweepIntervalMs must be a positive integer');
  const data = new Map<string, Entry>();
  const channels = new Map<string, Set<(message: string) => void>>();
  let timer: TimerHandle | undefined;
  let closed = false;

  const sweep = (): void => {
    const now = clock.now();
    for (const [key, entry] of data) if (entry.expiresAt <= now) data.delete(key);
  };
  const schedule = (): void => {
    if (closed || timer !== undefined || data.size === 0) return;
    timer = clock.setTimer(() => {
      timer = undefined;
      sweep();
      schedule();
    }, sweepIntervalMs);
  };
  const live = (key: string): Entry | undefined => {
    const entry = data.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= clock.now()) {
      data.delete(key);
      return undefined;
    }
    return entry;
  };
  const checkTtl = (ttlMs: number): void => {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('portcullis: ttlMs must be a positive number');
  };
  const checkMax = (max: number): void => {
    if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('portcullis: max must be a positive integer');
  };
  const write = (key: string, value: string, ttlMs: number): void => {
    if (closed) throw new AuthError('unavailable', { detail: 'memory store closed' });
    if (!data.has(key) && data.size >= maxKeys) {
      sweep();
      if (data.size >= maxKeys) throw new AuthError('unavailable', { detail: 'memory store full' });
    }
    data.set(key, { value, expiresAt: clock.now() + ttlMs });
    schedule();
  };

  const sync: SyncStore = {
    setIfAbsent(key, value, ttlMs) {
      checkTtl(ttlMs);
      if (live(key) !== undefined) return false;
      write(key, value, ttlMs);
      return true;
    },
    get(key) {
      return live(key)?.value;
    },
    getAndDelete(key) {
      const entry = live(key);
      if (entry === undefined) return undefined;
      data.delete(key);
      return entry.value;
    },
    increment(key, ttlMs) {
      checkTtl(ttlMs);
      const entry = live(key);
      if (entry === undefined) {
        write(key, '1', ttlMs);
        return 1;
      }
      const n = Number(entry.value) + 1;
      entry.value = String(n);
      return n;
    },
    reserve(key, max, ttlMs) {
      checkTtl(ttlMs);
      checkMax(max);
      const entry = live(key);
      if (entry === undefined) {
        write(key, '1', ttlMs);
        return 1;
      }
      const n = Number(entry.value);
      if (!(n < max)) return 0;
      entry.value = String(n + 1);
      return n + 1;
    },
    ttl(key) {
      const entry = live(key);
      return entry === undefined ? undefined : entry.expiresAt - clock.now();
    },
    release(key) {
      const entry = live(key);
      if (entry === undefined) return;
      const n = Number(entry.value);
      // Back at 0 the counter holds nothing a new window would lose: drop it (one key less per address).
      if (n > 1) entry.value = String(n - 1);
      else data.delete(key);
    },
  };

  const store: Omit<MemoryStore, 'sync'> = {
    async setIfAbsent(key, value, ttlMs) {
      return sync.setIfAbsent(key, value, ttlMs);
    },
    async set(key, value, ttlMs) {
      checkTtl(ttlMs);
      write(key, value, ttlMs);
    },
    async get(key) {
      return sync.get(key);
    },
    async getAndDelete(key) {
      return sync.getAndDelete(key);
    },
    async increment(key, ttlMs) {
      return sync.increment(key, ttlMs);
    },
    async reserve(key, max, ttlMs) {
      return sync.reserve(key, max, ttlMs);
    },
    async release(key) {
      sync.release(key);
    },
    async existsAny(keys) {
      for (const key of keys) if (live(key) !== undefined) return true;
      return false;
    },
    async ttl(key) {
      return sync.ttl?.(key);
    },
    async publish(channel, message) {
      const handlers = channels.get(channel);
      if (handlers === undefined) return;
      for (const handler of [...handlers]) {
        queueMicrotask(() => handler(message));
      }
    },
    async subscribe(channel, handler) {
      let set = channels.get(channel);
      if (set === undefined) {
        set = new Set();
        channels.set(channel, set);
      }
      const own = (message: string): void => handler(message);
      set.add(own);
      return async () => {
        set.delete(own);
        if (set.size === 0) channels.delete(channel);
      };
    },
    async close() {
      closed = true;
      if (timer !== undefined) clock.clearTimer(timer);
      timer = undefined;
      data.clear();
      channels.clear();
    },
    get size() {
      return data.size;
    },
    sweep,
  };
  // Not enumerable: a wrapper built by spreading this store (`{ ...store, get }`) must not
  // carry a synchronous view that bypasses its own methods; it falls back to the async API.
  return Object.defineProperty(store, 'sync', { value: sync, enumerable: false }) as MemoryStore;
}
