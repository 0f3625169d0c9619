/**
 * The Lua scripts of the Redis store, sent with `EVALSHA` and re-sent with
 * `EVAL` when the server has not cached them yet. Each touches one key, so each
 * runs on a Redis Cluster too.
 */
import { createHash } from 'node:crypto';
import type { Connection } from './connection.js';
import { messageOf } from './connection.js';

/** A script and its SHA1 (the `EVALSHA` name). */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });

/** GETDEL for servers older than 6.2. */
export const GET_DEL = script("local v = redis.call('GET', KEYS[1])\nif v then redis.call('DEL', KEYS[1]) end\nreturn v");

/** INCR, with the TTL set when the counter is created (or repaired if it somehow has none). */
export const INCREMENT = script(
  "local n = redis.call('INCR', KEYS[1])\nif n == 1 or redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\nreturn n",
);

/**
 * Reserve: INCR unless the counter already holds ARGV[1]; the TTL (ARGV[2]) is set
 * when the counter is created. Replies the new count, or 0 when it was full.
 */
export const RESERVE = script(
  "local n = tonumber(redis.call('GET', KEYS[1]) or '0')\nif n >= tonumber(ARGV[1]) then return 0 end\nn = redis.call('INCR', KEYS[1])\nif n == 1 or redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\nreturn n",
);

/**
 * Release: DECR (which keeps the TTL) when the counter is above 1; DEL when that
 * would leave 0 (nothing a new window would lose); never creates it.
 */
export const RELEASE = script(
  "local n = tonumber(redis.call('GET', KEYS[1]) or '0')\nif n > 1 then return redis.call('DECR', KEYS[1]) end\nredis.call('DEL', KEYS[1])\nreturn 0",
);

/**
 * PUBLISH on the node that owns the channel's slot (the channel is the script's
 * key, for routing only). On a Cluster, a plain PUBLISH goes to any node, and two
 * messages sent through two nodes may arrive in either order; sent from one node
 * per channel, they keep the order they were published in.
 */
export const PUBLISH = script("return redis.call('PUBLISH', KEYS[1], ARGV[1])");

/** Runs `s` on `key` with `EVALSHA`, falling back to `EVAL` when the script is not cached yet. */
export async function evalScript(client: Connection, s: Script, key: string, ...args: (string | number)[]): Promise<unknown> {
  try {
    return await client.call('EVALSHA', s.sha, 1, key, ...args);
  } catch (err) {
    if (!messageOf(err).startsWith('NOSCRIPT')) throw err;
    return client.call('EVAL', s.source, 1, key, ...args);
  }
}
