import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { type ClusterNode, startNode } from '../helpers/cluster-node.js';
import { describeRedis } from '../helpers/redis.js';
import { connected } from '../helpers/socket-io.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

const NODE_SCRIPT = fileURLToPath(new URL('../fixtures/authz-node.ts', import.meta.url));

/** An authz node: the cluster-node IPC, its own fixture. */
const startAuthzNode = (redisUrl: string): Promise<ClusterNode> => startNode({ REDIS_URL: redisUrl }, NODE_SCRIPT);

describeRedis('authorization on two processes sharing one redis-server', (redis) => {
  const nodes: ClusterNode[] = [];
  const clients: ClientSocket[] = [];
  const client = (node: ClusterNode, auth: Record<string, unknown>): ClientSocket => {
    const c = ioc(node.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
    clients.push(c);
    return c;
  };
  const join = async (c: ClientSocket, room: string): Promise<boolean> =>
    ((await c.timeout(3000).emitWithAck('portcullis:join', { room })) as { ok: boolean }).ok;

  before(async () => {
    nodes.push(...(await Promise.all([startAuthzNode(redis().url), startAuthzNode(redis().url)])));
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(
      nodes.map(async (n) => {
        const exited = waitForEvent(n.child, 'exit', 5000).catch(() => n.child.kill('SIGKILL'));
        n.child.send({ cmd: 'stop', id: 0 });
        await exited;
      }),
    );
  });

  it('a refresh that drops a claim ends the memberships that needed it: broadcasts from the other node stop', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const carol = client(b, { user: 'carol', roles: ['ops'] });
    const news: string[] = [];
    carol.on('news', (room: string) => news.push(room));
    await connected(carol);
    assert.equal(await join(carol, 'ops:pager'), true);
    assert.equal(await join(carol, 'doc:7'), true);
    await a.call({ cmd: 'broadcast', room: 'ops:pager' });
    await waitUntil(() => news.length === 1, 5000, 'the first cross-node broadcast');
    const left = waitForEvent<{ room: string; code: string }>(carol, 'portcullis:left', 5000);
    carol.emit('authentication', { user: 'carol', roles: [] });
    assert.deepEqual(await left, { room: 'ops:pager', message: 'Forbidden', code: 'forbidden', retryable: false });
    await a.call({ cmd: 'broadcast', room: 'ops:pager', n: 5 });
    await a.call({ cmd: 'broadcast', room: 'doc:7' });
    // The doc:7 marker was sent after the five ops:pager broadcasts, on the same node.
    await waitUntil(() => news.includes('doc:7'), 5000, 'the marker');
    assert.deepEqual(news, ['ops:pager', 'doc:7']);
    assert.equal(await join(carol, 'ops:pager'), false);
  });

  it('invalidate on one node re-checks the members on the other', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    const bob = client(b, { user: 'bob' });
    const dan = client(b, { user: 'dan' });
    await Promise.all([connected(bob), connected(dan)]);
    assert.equal(await join(bob, 'doc:1'), true);
    assert.equal(await join(dan, 'doc:1'), true);
    await a.call({ cmd: 'ban', room: 'doc:1', user: 'bob' });
    const left = waitForEvent<{ room: string; code: string }>(bob, 'portcullis:left', 5000);
    let danLeft = false;
    dan.on('portcullis:left', () => {
      danLeft = true;
    });
    assert.equal((await a.call({ cmd: 'invalidate', target: { room: 'doc:1' } })).error, undefined);
    assert.equal((await left).room, 'doc:1');
    const got: string[] = [];
    dan.on('news', (r: string) => got.push(r));
    bob.on('news', (r: string) => got.push(`bob:${r}`));
    await a.call({ cmd: 'broadcast', room: 'doc:1' });
    await waitUntil(() => got.length === 1, 5000, 'the broadcast to doc:1');
    await a.call({ cmd: 'broadcast', room: 'doc:1' });
    await waitUntil(() => got.length === 2, 5000, 'a second broadcast');
    assert.deepEqual(got, ['doc:1', 'doc:1']);
    assert.equal(danLeft, false);
  });
});
