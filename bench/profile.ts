/**
 * Where does the extra CPU go? Profiles one handshake configuration: a vanilla
 * and a guarded server, each under `--cpu-prof`, get the same handshakes; the
 * report lists the functions whose self time grew, in µs per handshake, and the
 * library's own functions by self time.
 *
 *   node --import tsx bench/profile.ts --transport=socket.io --strategy=ticket --mode=handshake --n=3000
 *
 * Profiling inflates JavaScript time; read the figures as a ranking, and take
 * the cost itself from `npm run bench`.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, userAddress } from './lib/attempt.js';
import { credentialsFor, startSpec } from './lib/cases.js';
import { stopAll } from './lib/children.js';
import { diffPerOp, selfTimes, topPerOp } from './lib/cpu-profile.js';
import { createKeyMaterial } from './lib/credentials.js';
import { interleave, settle } from './lib/load.js';
import type { AuthMode, StrategyName, Transport } from './servers/protocol.js';

const { values } = parseArgs({
  options: {
    transport: { type: 'string', default: 'socket.io' },
    strategy: { type: 'string', default: 'ticket' },
    mode: { type: 'string', default: 'handshake' },
    n: { type: 'string', default: '3000' },
    top: { type: 'string', default: '30' },
    keep: { type: 'string' },
    guard: { type: 'string', default: '{}' },
  },
});
const transport = values.transport as Transport;
const strategy = values.strategy as StrategyName;
const mode = values.mode as AuthMode;
const n = Number(values.n);
const top = Number(values.top);

const dir = mkdtempSync(join(tmpdir(), 'portcullis-prof-'));
const keys = createKeyMaterial();
const servers: Awaited<ReturnType<typeof startSpec>>[] = [];
try {
  for (const variant of ['vanilla', 'portcullis'] as const) {
    process.env.BENCH_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${join(dir, variant)}`;
    servers.push(await startSpec({ transport, variant, strategy, mode, guard: JSON.parse(values.guard as string) }, keys, variant));
  }
  delete process.env.BENCH_NODE_ARGS;
  const creds = await credentialsFor(strategy, keys);
  const auths = await Promise.all(servers.map((s) => creds.prepare(s, n)));
  const failures: string[] = [];
  await interleave(2, n, 4, async (side, i) => {
    const server = servers[side];
    const auth = auths[side];
    if (server === undefined || auth === undefined) return;
    const c = await connect({
      transport,
      base: server.base,
      flow: mode === 'message' ? 'message' : 'handshake',
      auth: auth(i),
      localAddress: userAddress(i),
    });
    c.terminate();
    if (!c.ok) failures.push(c.code);
  });
  await Promise.all(servers.map((s) => settle(s, (st) => st.tcp === 0)));
  if (failures.length > 0) throw new Error(`${failures.length} handshakes failed: ${failures.slice(0, 5).join(', ')}`);
  await stopAll(servers);
  const read = (variant: string) => {
    const files = readdirSync(join(dir, variant)).filter((f) => f.endsWith('.cpuprofile'));
    const main = files.sort()[0];
    if (main === undefined) throw new Error(`no profile for ${variant}`);
    return selfTimes(join(dir, variant, main));
  };
  const vanilla = read('vanilla');
  const lib = read('portcullis');
  console.log(`${transport} ${strategy} ${mode}: ${n} handshakes each (profiled; JavaScript time is inflated)`);
  console.log(`busy µs/handshake: vanilla ${(vanilla.busyUs / n).toFixed(1)}, portcullis ${(lib.busyUs / n).toFixed(1)}`);
  console.log('\nself time that grew, µs per handshake:');
  for (const d of diffPerOp(vanilla, lib, n, top)) console.log(`${d.usPerOp.toFixed(2).padStart(9)}  ${d.key}`);
  console.log('\nportcullis functions by self time, µs per handshake:');
  for (const d of topPerOp(lib, n, /\bsrc\//, top)) console.log(`${d.usPerOp.toFixed(2).padStart(9)}  ${d.key}`);
} finally {
  await stopAll(servers);
  if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log(`profiles kept in ${dir}`);
}
