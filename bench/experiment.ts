/**
 * Ad-hoc A/B of guard configurations: one vanilla server and one guarded server
 * per configuration, loaded at once; prints the CPU ratio and the user/system split.
 *
 *   node --import tsx bench/experiment.ts --transport=socket.io --strategy=ticket --mode=handshake --n=2000 --pairs=3 --guard='{"rateLimits":false}'
 *   node --import tsx bench/experiment.ts --strategy=none --variant-a=portcullis --guard-a='{}' --guard='{"timeoutMs":false}'
 *
 *   node --import tsx bench/experiment.ts --strategy=none --variant-a=stateful --guard='{"admitAll":true}'
 *   node --import tsx bench/experiment.ts --strategy=jwt-hs256 --variant-a=portcullis --guard-a='{"admitAll":true}'
 *   node --import tsx bench/experiment.ts --strategy=jwt-hs256 --variant=stateful --guard='{"features":true}'
 *   node --import tsx bench/experiment.ts --transport=ws --strategy=jwt-hs256 --variant-a=jsonwebtoken-keyobject
 *
 * A peer (`jsonwebtoken`, `jsonwebtoken-keyobject`, `jose-key-once`, `thream`; see `servers/peers.ts`) on side A
 * with portcullis on side B is a head-to-head pair (JWT HS256, handshake mode), as the `peers` suite runs it.
 *
 * `--variant-a=stateful` is the least state a guard must keep, by hand; `admitAll` swaps
 * the strategy for one that admits everyone at once (so the pair times the strategy in
 * place); `onNamespace` attaches the guard to the namespace (no engine-level preflight);
 * `features` makes the stateful variant also do, by hand, what a guarded HS256 handshake does beyond that floor.
 * Times are µs of server CPU per handshake (user, system) and the GC pauses within.
 *
 * Two source trees head to head (before/after a change): check the old commit out elsewhere and name it, e.g.
 *   git worktree add ../base <commit> && BENCH_REFERENCE_ROOT=../base node --import tsx bench/experiment.ts \
 *     --strategy=jwt-hs256 --variant-a=portcullis --guard-a='{}' --guard='{}'
 * (the `reference` side then runs the other tree's build); without it, the same command is the A/A floor.
 */
import { parseArgs } from 'node:util';
import { connect, userAddress } from './lib/attempt.js';
import { credentialsFor, presentedTo, startSpec } from './lib/cases.js';
import { stopAll } from './lib/children.js';
import { createKeyMaterial } from './lib/credentials.js';
import { cpuWindow, interleave } from './lib/load.js';
import type { AuthMode, CpuSample, StrategyName, Transport, Variant } from './servers/protocol.js';

const { values } = parseArgs({
  options: {
    transport: { type: 'string', default: 'socket.io' },
    strategy: { type: 'string', default: 'ticket' },
    mode: { type: 'string', default: 'handshake' },
    n: { type: 'string', default: '2000' },
    pairs: { type: 'string', default: '3' },
    guard: { type: 'string', default: '{}' },
    variant: { type: 'string', default: 'portcullis' },
    'variant-a': { type: 'string', default: 'vanilla' },
    'guard-a': { type: 'string', default: '{}' },
  },
});
const transport = values.transport as Transport;
const strategy = values.strategy as StrategyName;
const mode = values.mode as AuthMode;
const n = Number(values.n);
const keys = createKeyMaterial();
// Side A is vanilla unless told otherwise: two guard configurations can be compared head to head.
const a = await startSpec(
  { transport, variant: values['variant-a'] as 'vanilla', strategy, mode, guard: JSON.parse(values['guard-a'] as string) },
  keys,
  values['variant-a'] === 'vanilla' ? 'vanilla' : 'reference',
);
const b = await startSpec(
  { transport, variant: values.variant as 'portcullis', strategy, mode, guard: JSON.parse(values.guard as string) },
  keys,
  'subject',
);
try {
  const creds = await credentialsFor(strategy, keys);
  const idle = [(s: { tcp: number }) => s.tcp === 0, (s: { tcp: number }) => s.tcp === 0];
  const round = async (count: number): Promise<CpuSample[]> => {
    const auths = await Promise.all([
      creds.prepare(a, count).then((s) => presentedTo(values['variant-a'] as Variant, s)),
      creds.prepare(b, count).then((s) => presentedTo(values.variant as Variant, s)),
    ]);
    const servers = [a, b];
    return cpuWindow(
      servers,
      () =>
        interleave(2, count, 4, async (side, i) => {
          const c = await connect({
            transport,
            base: (servers[side] as typeof a).base,
            flow: mode === 'message' ? 'message' : 'handshake',
            auth: (auths[side] as (i: number) => Record<string, unknown>)(i),
            localAddress: userAddress(i),
          });
          c.terminate();
          if (!c.ok) throw new Error(c.code);
        }),
      idle,
    );
  };
  await round(500);
  for (let p = 0; p < Number(values.pairs); p++) {
    const [va, vb] = (await round(n)) as [CpuSample, CpuSample];
    const gc = (s: CpuSample) => (s.gc === undefined ? '' : ` gc ${((s.gc.ms * 1000) / n).toFixed(1)}, ${s.gc.minor}+${s.gc.major} runs`);
    const f = (s: CpuSample) => `${(s.cpuUs / n).toFixed(0)} (u ${(s.userUs / n).toFixed(0)} s ${(s.systemUs / n).toFixed(0)}${gc(s)})`;
    console.log(`ratio ${(va.cpuUs / vb.cpuUs).toFixed(3)}  ${a.name} ${f(va)}  subject ${f(vb)}`);
  }
} finally {
  await stopAll([a, b]);
}
