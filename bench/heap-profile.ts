/**
 * What does the guard keep per socket? Connects the same sockets to a vanilla
 * and a guarded server, takes heap snapshots before and after, and lists the
 * object classes whose per-socket growth differs most (bytes and objects per
 * socket, portcullis minus vanilla).
 *
 *   node --import tsx bench/heap-profile.ts --transport=socket.io --flow=handshake --sockets=2000
 *
 * `--flow=pending` holds never-authenticating sockets instead; `--keep` keeps the snapshots.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Client, dropAll, floodAddress, openMany, userAddress } from './lib/attempt.js';
import { credentialsFor, startSpec } from './lib/cases.js';
import { type ServerHandle, stopAll } from './lib/children.js';
import { createKeyMaterial } from './lib/credentials.js';
import { classSizes, growth } from './lib/heap-snapshot.js';
import { settle } from './lib/load.js';
import type { Transport } from './servers/protocol.js';

const { values } = parseArgs({
  options: {
    transport: { type: 'string', default: 'socket.io' },
    flow: { type: 'string', default: 'handshake' },
    sockets: { type: 'string', default: '2000' },
    top: { type: 'string', default: '30' },
    keep: { type: 'boolean', default: false },
  },
});
const transport = values.transport as Transport;
const flow = values.flow === 'pending' ? 'pending' : 'handshake';
const sockets = Number(values.sockets);
const dir = mkdtempSync(join(tmpdir(), 'portcullis-heap-'));
const keys = createKeyMaterial();
let servers: ServerHandle[] = [];
const held: Client[][] = [];
try {
  servers = await Promise.all([
    startSpec({ transport, variant: 'vanilla', strategy: 'jwt-hs256', mode: 'handshake' }, keys, 'vanilla'),
    startSpec({ transport, variant: 'portcullis', strategy: 'jwt-hs256', mode: 'auto', guard: { timeoutMs: 600_000 } }, keys, 'portcullis'),
  ]);
  const creds = await credentialsFor('jwt-hs256', keys, 1024);
  const auths = await Promise.all(servers.map((s) => creds.prepare(s, sockets)));
  // Warm both up (a few sockets opened and closed) so lazily created state is in the "before" snapshot.
  for (const [side, server] of servers.entries()) {
    const auth = auths[side] as (i: number) => Record<string, unknown>;
    const warm = await openMany(50, 8, (i) =>
      flow === 'handshake'
        ? { transport, base: server.base, flow, auth: auth(i), localAddress: userAddress(i) }
        : { transport, base: server.base, flow, localAddress: floodAddress(i, 40) },
    );
    dropAll(warm);
    await settle(server, (s) => s.tcp === 0);
  }
  const snap = async (server: ServerHandle, tag: string) =>
    classSizes(await server.call<string>({ cmd: 'snapshot', path: join(dir, `${server.name}-${tag}.heapsnapshot`) }, 120_000));
  const before = await Promise.all(servers.map((s) => snap(s, 'before')));
  for (const [side, server] of servers.entries()) {
    const auth = auths[side] as (i: number) => Record<string, unknown>;
    held.push(
      await openMany(sockets, 16, (i) =>
        flow === 'handshake'
          ? { transport, base: server.base, flow, auth: auth(i + 50), localAddress: userAddress(i) }
          : { transport, base: server.base, flow, localAddress: floodAddress(i, 40) },
      ),
    );
  }
  await Promise.all(servers.map((s) => settle(s, (st) => st.tcp === sockets)));
  const after = await Promise.all(servers.map((s) => snap(s, 'after')));
  const [gv, gl] = [0, 1].map((k) =>
    growth(before[k] as ReturnType<typeof classSizes>, after[k] as ReturnType<typeof classSizes>, sockets),
  ) as [ReturnType<typeof growth>, ReturnType<typeof growth>];
  const totalV = ((after[0]?.total ?? 0) - (before[0]?.total ?? 0)) / sockets;
  const totalL = ((after[1]?.total ?? 0) - (before[1]?.total ?? 0)) / sockets;
  console.log(
    `${transport} ${flow}: ${sockets} sockets; snapshot bytes/socket vanilla ${totalV.toFixed(0)}, portcullis ${totalL.toFixed(0)}, extra ${(totalL - totalV).toFixed(0)}`,
  );
  const rows = [...new Set([...gv.keys(), ...gl.keys()])]
    .map((key) => {
      const v = gv.get(key) ?? { bytes: 0, count: 0 };
      const l = gl.get(key) ?? { bytes: 0, count: 0 };
      return { key, bytes: l.bytes - v.bytes, count: l.count - v.count };
    })
    .sort((a, b) => Math.abs(b.bytes) - Math.abs(a.bytes))
    .slice(0, Number(values.top));
  console.log('   B/socket  objects/socket  class (portcullis − vanilla)');
  for (const r of rows) console.log(`${r.bytes.toFixed(1).padStart(11)}  ${r.count.toFixed(2).padStart(14)}  ${r.key}`);
} finally {
  for (const group of held) dropAll(group);
  await stopAll(servers);
  if (values.keep === true) console.log(`snapshots kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
