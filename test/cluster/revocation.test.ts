import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { type ClusterNode as Node, startNode } from '../helpers/cluster-node.js';
import { describeRedis } from '../helpers/redis.js';
import { connected } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

describeRedis('a cluster of three processes sharing one redis-server', (redis) => {
  const nodes: Node[] = [];
  const clients: ClientSocket[] = [];
  const client = (node: Node, auth?: Record<string, unknown>): ClientSocket => {
    const c = ioc(node.url, { transports: ['websocket'], forceNew: true, reconnection: false, ...(auth === undefined ? {} : { auth }) });
    clients.push(c);
    return c;
  };

  before(async () => {
    nodes.push(
      ...(await Promise.all([
        startNode({ REDIS_URL: redis().url }),
        startNode({ REDIS_URL: redis().url }),
        startNode({ REDIS_URL: redis().url }),
      ])),
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('isolates pending sockets from broadcasts sent on another node', async () => {
    const [a, b] = nodes as [Node, Node, Node];
    const authed = client(b, { user: 'carol' });
    const pending = client(b);
    let authedNews = 0;
    let pendingNews = 0;
    authed.on('news', () => authedNews++);
    pending.on('news', () => pendingNews++);
    await Promise.all([connected(authed), waitForEvent(pending, 'auth_required')]);
    const N = 20;
    await a.call({ cmd: 'broadcast', n: N });
    await waitUntil(() => authedNews === N, 5000, 'cross-node broadcasts');
    pending.emit('authentication', { user: 'dan' });
    await waitForEvent(pending, 'authenticated');
    await a.call({ cmd: 'broadcast', n: 1 });
    await waitUntil(() => pendingNews === 1 && authedNews === N + 1, 5000, 'the marker');
    // The marker was sent after the N broadcasts: had any reached the pending socket, it would count more than 1.
    assert.equal(pendingNews, 1);
  });

  it('revokes a user on every node within the bound, and nobody else', async () => {
    const alice = nodes.flatMap((n) => [client(n, { user: 'alice' }), client(n, { user: 'alice' })]);
    const bob = nodes.map((n) => client(n, { user: 'bob' }));
    await Promise.all([...alice, ...bob].map((c) => connected(c)));
    const wsAlice = new WebSocket(`${(nodes[2] as Node).url.replace('http', 'ws')}/ws`);
    await waitForEvent(wsAlice, 'open');
    wsAlice.send(JSON.stringify({ type: 'authenticate', payload: { user: 'alice' } }));
    await waitForEvent(wsAlice, 'message');
    const wsClosed = waitForEvent<[number, Buffer]>(wsAlice, 'close', 3000);
    const t0 = performance.now();
    const refusals = alice.map((c) =>
      waitForEvent<{ code: string }>(c, 'unauthorized', 3000).then((r) => ({ code: r.code, ms: performance.now() - t0 })),
    );
    const reply = await (nodes[0] as Node).call({ cmd: 'revoke', target: { userId: 'alice' } });
    const results = await Promise.all(refusals);
    const [closeCode, reason] = await wsClosed;
    const worst = Math.max(...results.map((r) => r.ms));
    process.stderr.write(
      `# revocation: local ${String(reply.closed)} sockets; all ${alice.length} Socket.IO + 1 ws closed in ${worst.toFixed(1)} ms\n`,
    );
    assert.equal(reply.closed, 2);
    assert.ok(results.every((r) => r.code === 'revoked'));
    assert.equal(closeCode, 4403);
    assert.equal(reason.toString(), 'revoked');
    // The bound is the 3 s deadline of each wait above; how fast is the benchmark's business (bench/suites/revocation.ts).
    assert.ok(bob.every((c) => c.connected));
    // The same credentials are refused afterwards, on any node.
    const again = client(nodes[1] as Node, { user: 'alice' });
    const err = await waitForEvent<Error & { data: { code: string } }>(again, 'connect_error');
    assert.equal(err.data.code, 'revoked');
  });
});
