/**
 * Model-based tests of the connection lifecycle (fast-check): random sequences of
 * connects (valid, invalid, expired, throwing and slow credentials; handshake and
 * message modes; both transports; two nodes), refreshes, slow verifications
 * released in random order, revocations from either node, the manual clock moving,
 * disconnects, one-time tickets raced across nodes, bursts of wrong passwords,
 * and (on Redis) the store stopping and coming back. After every step the
 * invariants of `commands.ts` are checked; after every run, everything must drain.
 *
 * `npm test` runs a short, fixed-seed budget. `npm run test:model` runs a long
 * randomized one. A failure prints the shrunk sequence and the seed and path that
 * replay it: `MODEL_SEED=<seed> MODEL_PATH=<path> npm run test:model`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { createRedisStore } from '../../src/stores/redis.js';
import { redisAvailable, startRedis } from '../helpers/redis.js';
import type { Model, Real } from './commands.js';
import { checkDrained, commands, emptyModel } from './commands.js';
import { createWorld } from './world.js';

const LONG = process.env.MODEL_LONG === '1';
const SEED = process.env.MODEL_SEED === undefined ? (LONG ? Date.now() % 2 ** 31 : 20_261_206) : Number(process.env.MODEL_SEED);
const PATH = process.env.MODEL_PATH;
const RUNS = Number(process.env.MODEL_RUNS ?? (LONG ? 150 : 30));
/** Redis runs restart a server: a quarter of the runs, and only 2 in the short default budget. */
const REDIS_RUNS = process.env.MODEL_RUNS === undefined && !LONG ? 2 : Math.max(2, Math.floor(RUNS / 4));
const MAX_COMMANDS = Number(process.env.MODEL_MAX_COMMANDS ?? (LONG ? 40 : 18));
const REPLAY = process.env.MODEL_REPLAY;
/** `memory` or `redis`: run one property only (a replay path belongs to one). */
const ONLY = process.env.MODEL_ONLY;

/** Runs the property; on failure, says how to replay it. */
async function check(
  name: string,
  property: fc.IAsyncPropertyWithHooks<[Iterable<fc.AsyncCommand<Model, Real>>]>,
  runs: number,
): Promise<void> {
  // Shrinking drives real servers too: bounded in time, the best sequence so far is printed.
  const details = await fc.check(property, {
    seed: SEED,
    numRuns: runs,
    ...(PATH === undefined ? {} : { path: PATH }),
    interruptAfterTimeLimit: LONG ? 1_800_000 : 90_000,
    markInterruptAsFailure: false,
  });
  if (!details.failed) return;
  const sequence = details.counterexample?.[0];
  const script = sequence === undefined ? '(none)' : [...sequence].map((c, i) => `  ${i + 1}. ${String(c)}`).join('\n');
  const replayPath = /replayPath="([^"]*)"/.exec(String(sequence))?.[1];
  assert.fail(
    `${name}: an invariant broke after ${details.numRuns} runs.\n` +
      `Shrunk sequence:\n${script}\n` +
      `Error: ${details.errorInstance instanceof Error ? (details.errorInstance.stack ?? details.errorInstance.message) : String(details.errorInstance)}\n` +
      `Replay: MODEL_ONLY=${name} MODEL_SEED=${details.seed} MODEL_PATH=${details.counterexamplePath ?? ''} MODEL_MAX_COMMANDS=${MAX_COMMANDS}` +
      `${replayPath === undefined ? '' : ` MODEL_REPLAY='${replayPath}'`} MODEL_RUNS=1 npm run test:model`,
  );
}

describe('model-based: connection lifecycle under random interleavings', { timeout: LONG ? 3_600_000 : 180_000 }, () => {
  it(`memory store shared by two nodes (${RUNS} runs × ≤ ${MAX_COMMANDS} steps, seed ${SEED})`, { skip: ONLY === 'redis' }, async () => {
    await check(
      'memory',
      fc.asyncProperty(commands({ redis: false, maxCommands: MAX_COMMANDS, replayPath: REPLAY }), async (cmds) => {
        const world = await createWorld();
        const real: Real = { world };
        const model = emptyModel();
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await checkDrained(model, real);
        } finally {
          await world.close();
        }
        assert.equal(world.clock.pendingTimers, 0, 'timers left once every guard and store closed');
      }),
      RUNS,
    );
  });

  it(`Redis shared by two nodes, stopped and restarted (${REDIS_RUNS} runs, seed ${SEED})`, {
    skip: ONLY === 'memory',
  }, async (t) => {
    if (!redisAvailable()) {
      if (process.env.CI === 'true') assert.fail('redis-server is required in CI');
      t.skip('redis-server not found');
      return;
    }
    const server = await startRedis();
    let run = 0;
    try {
      await check(
        'redis',
        fc.asyncProperty(commands({ redis: true, maxCommands: MAX_COMMANDS, replayPath: REPLAY }), async (cmds) => {
          if (!server.running) await server.restart();
          const prefix = `model${++run}:`;
          const clients: Redis[] = [];
          const world = await createWorld({
            sharedStore: false,
            store: () => {
              const client = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false });
              // Refused connections while the server is stopped are expected; the store reports them.
              client.on('error', () => {});
              clients.push(client);
              return createRedisStore({ client, prefix, timeoutMs: 500 });
            },
          });
          const real: Real = { world, redis: { stop: () => server.stop(), restart: () => server.restart() } };
          const model = emptyModel();
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            if (!server.running) await server.restart();
            await checkDrained(model, real);
          } finally {
            await world.close();
            for (const c of clients) c.disconnect();
          }
        }),
        REDIS_RUNS,
      );
    } finally {
      await server.stop();
    }
  });
});
