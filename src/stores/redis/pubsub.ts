/**
 * Publish/subscribe of the Redis store: `PUBLISH` on the command connection, and
 * one subscriber connection (a subscribed connection runs nothing else) whose
 * channels fan out to several in-process handlers. Subscribe and unsubscribe
 * steps of one channel run one at a time.
 *
 * When the subscriber connection closes, every subscription is reported
 * interrupted. When it is ready again, each channel is subscribed again by the
 * store itself (ioredis' `autoResubscribe` sends its own SUBSCRIBE without telling
 * anyone when Redis confirmed it), and reported resumed once Redis answered.
 */
import type { Store, SubscriptionListener } from '../../core/types.js';
import type { Caller, Connection } from './connection.js';
import { noop, unavailable } from './connection.js';
import { expect, isInteger } from './replies.js';
import { evalScript, PUBLISH } from './scripts.js';

export interface PubSubOptions {
  /** The command connection (publishes; duplicated for the subscriber unless `given`). */
  readonly client: Connection;
  /** A subscriber connection the caller owns, if any. */
  readonly given: Connection | undefined;
  readonly prefix: string;
  readonly caller: Caller;
  /** Bound of the unsubscribes in {@link PubSub.close}, in ms. */
  readonly timeoutMs: number;
  /** Quits a connection the store owns. */
  readonly shutdown: (conn: Connection) => Promise<void>;
}

export interface PubSub extends Pick<Store, 'publish' | 'subscribe'> {
  /** Drops every channel and the subscriber (quit when owned, else only unsubscribed); never rejects. */
  close(): Promise<void>;
}

interface ChannelState {
  /** Each subscriber's handler, with its listener. */
  readonly handlers: Map<(message: string) => void, SubscriptionListener | undefined>;
  /** Whether Redis has (as far as we know) this channel subscribed. */
  subscribed: boolean;
  /** Whether the connection was lost since Redis last confirmed the subscription. */
  interrupted: boolean;
  /** Subscribe/unsubscribe steps of this channel, run one at a time. */
  queue: Promise<unknown>;
}

/** Creates the pub/sub part of a Redis store. */
export function createPubSub(options: PubSubOptions): PubSub {
  const { client, given, prefix, caller, timeoutMs } = options;
  const { run } = caller;
  let subscriber: Connection | undefined;
  const channels = new Map<string, ChannelState>();

  const onMessage = (channel: string, message: string): void => {
    const state = channels.get(channel);
    if (state === undefined) return;
    for (const handler of [...state.handlers.keys()]) queueMicrotask(() => handler(message));
  };
  const notify = (state: ChannelState, event: keyof SubscriptionListener): void => {
    for (const listener of [...state.handlers.values()]) {
      const fn = listener?.[event];
      if (fn !== undefined) queueMicrotask(() => fn.call(listener));
    }
  };
  const onClose = (): void => {
    for (const state of channels.values()) {
      if (!state.subscribed || state.interrupted) continue;
      state.interrupted = true;
      notify(state, 'onInterrupted');
    }
  };
  const onReady = (): void => {
    const conn = subscriber;
    if (conn === undefined) return;
    for (const [name, state] of channels) {
      if (!state.interrupted) continue;
      enqueue(state, async () => {
        if (!state.subscribed || !state.interrupted || caller.closed) return;
        await run('resubscribe', conn, () => conn.subscribe(name));
        if (!state.interrupted || caller.closed) return;
        state.interrupted = false;
        notify(state, 'onResumed');
      }).catch(noop); // still interrupted: the next 'ready' tries again
    }
  };
  const connection = (): Connection => {
    if (subscriber === undefined) {
      // Redis.duplicate takes option overrides; Cluster.duplicate takes startup nodes first.
      subscriber = given ?? (client.isCluster === true ? client.duplicate() : client.duplicate({ autoResubscribe: true }));
      if (given === undefined) subscriber.on('error', noop);
      subscriber.on('message', onMessage);
      subscriber.on('close', onClose);
      subscriber.on('end', onClose);
      subscriber.on('ready', onReady);
    }
    return subscriber;
  };
  const enqueue = <T>(state: ChannelState, step: () => Promise<T>): Promise<T> => {
    const result = state.queue.then(step);
    state.queue = result.catch(noop);
    return result;
  };
  const dropIfIdle = (channel: string, state: ChannelState): void => {
    if (state.handlers.size === 0 && !state.subscribed && channels.get(channel) === state) channels.delete(channel);
  };

  return {
    async publish(channel, message) {
      const full = prefix + channel;
      await run('publish', client, () =>
        client.isCluster === true ? evalScript(client, PUBLISH, full, message) : client.call('PUBLISH', full, message),
      ).then(expect('publish', isInteger));
    },
    async subscribe(channel, handler, listener) {
      if (caller.closed) throw unavailable('store closed');
      if (typeof handler !== 'function') throw new TypeError('portcullis: handler must be a function');
      const full = prefix + channel;
      let state = channels.get(full);
      if (state === undefined) {
        state = { handlers: new Map(), subscribed: false, interrupted: false, queue: Promise.resolve() };
        channels.set(full, state);
      }
      const own = (message: string): void => handler(message);
      const current = state;
      await enqueue(current, async () => {
        if (caller.closed) throw unavailable('store closed');
        current.handlers.set(own, listener);
        if (current.subscribed) {
          // Told now, as it would have been had it subscribed before the interruption.
          if (current.interrupted && listener?.onInterrupted !== undefined) queueMicrotask(() => listener.onInterrupted?.());
          return;
        }
        try {
          const conn = connection();
          await run('subscribe', conn, () => conn.subscribe(full));
          if (caller.closed) {
            // close() ran meanwhile and did not know of this channel.
            conn.unsubscribe(full).catch(noop);
            throw unavailable('store closed');
          }
          current.subscribed = true;
        } catch (err) {
          current.handlers.delete(own);
          dropIfIdle(full, current);
          throw err;
        }
      });
      let done = false;
      // Never rejects: the handler is detached at once, and UNSUBSCRIBE is best effort
      // (bounded by timeoutMs). Teardown must not fail because Redis is down.
      return async () => {
        if (done || caller.closed) return;
        done = true;
        current.handlers.delete(own);
        await enqueue(current, async () => {
          if (current.handlers.size > 0 || !current.subscribed || caller.closed) return;
          // Assume unsubscribed even on failure: a later subscribe then re-subscribes
          // (idempotent), and a stale subscription only delivers messages nobody handles.
          current.subscribed = false;
          current.interrupted = false;
          const conn = connection();
          await run('unsubscribe', conn, () => conn.unsubscribe(full)).catch(noop);
          dropIfIdle(full, current);
        });
      };
    },
    async close() {
      const conn = subscriber;
      const names = [...channels.entries()].filter(([, state]) => state.subscribed).map(([name]) => name);
      channels.clear();
      if (conn === undefined) return;
      conn.off('message', onMessage);
      conn.off('close', onClose);
      conn.off('end', onClose);
      conn.off('ready', onReady);
      if (given === undefined) await options.shutdown(conn);
      else if (conn.status === 'ready') {
        // Not ours to quit: only drop this store's channels, bounded like any call.
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        });
        const drop = Promise.all(names.map((name) => conn.unsubscribe(name).catch(noop)));
        await Promise.race([drop, expired]);
        clearTimeout(timer);
      }
    },
  };
}
