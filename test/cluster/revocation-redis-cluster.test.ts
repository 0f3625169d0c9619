/**
 * Cross-node revocation on a real Redis Cluster: two node processes whose stores
 * and Socket.IO adapters talk to a three-primary cluster through ioredis
 * `Cluster`. A revoke on one node closes the user's sockets on the other (both
 * transports), and the record refuses the user again on either.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { type ClusterNode, startNode } from '../helpers/cluster-node.js';
import { eventually } from '../helpers/redis.js';
import { describeRedisCluster, type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import { connected } from '../helpers/socket-io.js';
import { waitForEvent } from '../helpers/wait.js';

describeRedisCluster('revocation across nodes sharing a Redis Cluster', () => {
  let cluster: RedisCluster | undefined;
  const nodes: ClusterNode[] = [];
  const clients: { close(): void }[] = [];
  const ioClient = (n: ClusterNode, user: string): ClientSocket => {
    const c = ioc(n.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { user } });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await startRedisCluster();
    const env = {
      REDIS_URL: '',
      REDIS_CLUSTER: cluster.seeds.map((s) => `${s.host}:${s.port}`).join(','),
      // A deadline per store call that a loaded CI machine can meet (the default is 500 ms).
      STORE_TIMEOUT_MS: '5000',
    };
    // Each node seeds from a different primary.
    const [first, ...rest] = env.REDIS_CLUSTER.split(',');
    nodes.push(...(await Promise.all([startNode(env), startNode({ ...env, REDIS_CLUSTER: [...rest, first].join(',') })])));
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await cluster?.stop();
  });

  it('a revoke on one node closes the user on the other, and is refused again on both', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    await Promise.all([a.waitForStatus('listening', 10_000), b.waitForStatus('listening', 10_000)]);
    const alice = ioClient(b, 'alice');
    const bob = ioClient(b, 'bob');
    await Promise.all([connected(alice), connected(bob)]);
    const ws = new WebSocket(`${b.url.replace('http', 'ws')}/ws`);
    clients.push(ws);
    await waitForEvent(ws, 'open', 5000);
    ws.send(JSON.stringify({ type: 'authenticate', payload: { user: 'alice' } }));
    await waitForEvent(ws, 'message', 5000);
    // Deadlines, not measurements: three redis-servers and two node processes share a loaded CI machine.
    const refusedIo = waitForEvent<{ code: string }>(alice, 'unauthorized', 15_000);
    const closedWs = waitForEvent<[number, Buffer]>(ws, 'close', 15_000);

    // A Cluster just formed may answer the first writes of a node with an error: the revoke then rejects with
    // `unavailable`, which PROTOCOL.md says to retry. Any other answer ends the retries.
    let reply: Record<string, unknown> = {};
    await eventually(
      async () => {
        reply = await a.call({ cmd: 'revoke', target: { userId: 'alice' } }, 15_000);
        return reply.error !== 'unavailable';
      },
      15_000,
      'a revoke the Cluster accepts',
    );
    assert.deepEqual({ closed: reply.closed, error: reply.error }, { closed: 0, error: undefined });
    assert.equal((await refusedIo).code, 'revoked');
    const [code, reason] = await closedWs;
    assert.equal(code, 4403);
    assert.equal(reason.toString(), 'revoked');
    assert.ok(bob.connected);
    for (const n of nodes) {
      const err = await waitForEvent<Error & { data: { code: string } }>(ioClient(n, 'alice'), 'connect_error', 5000);
      assert.equal(err.data.code, 'revoked');
    }
  });
});
