/**
 * Revocation listening survives Redis: nodes in child processes, a real
 * redis-server stopped and restarted under them. A node that starts while Redis
 * is down, and one that lives through the restart, both close sockets revoked on
 * another node once Redis is back; a node whose subscriber lost its connection
 * closes, when it listens again, what was revoked while it was deaf. And what a
 * restart does to the revocation records, with and without persistence.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { type ClusterNode, startNode } from '../helpers/cluster-node.js';
import { type RedisServer, redisAvailable, skipWithoutRedis, startRedis } from '../helpers/redis.js';
import { connected } from '../helpers/socket-io.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitForEvent } from '../helpers/wait.js';

const STATUS_MS = 10_000;

describe('revocation listening through a Redis outage', { skip: !redisAvailable() && 'redis-server not installed' }, () => {
  const servers: RedisServer[] = [];
  const nodes: ClusterNode[] = [];
  const proxies: TcpProxy[] = [];
  const clients: { close(): void }[] = [];
  const node = async (env: Record<string, string>): Promise<ClusterNode> => {
    const n = await startNode(env);
    nodes.push(n);
    return n;
  };
  const redis = async (persistent = false): Promise<RedisServer> => {
    const r = await startRedis({ persistent });
    servers.push(r);
    return r;
  };
  const ioClient = (n: ClusterNode, user: string): ClientSocket => {
    const c = ioc(n.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { user } });
    clients.push(c);
    return c;
  };
  const wsClient = async (n: ClusterNode, user: string): Promise<WebSocket> => {
    const ws = new WebSocket(`${n.url.replace('http', 'ws')}/ws`);
    clients.push(ws);
    await waitForEvent(ws, 'open', 5000);
    ws.send(JSON.stringify({ type: 'authenticate', payload: { user } }));
    const [raw] = await waitForEvent<[Buffer]>(ws, 'message', 5000);
    assert.equal(JSON.parse(raw.toString()).type, 'authenticated');
    return ws;
  };

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('a node started while Redis is down, and one that lived through the restart, close sockets revoked elsewhere', async (t) => {
    if (skipWithoutRedis(t)) return;
    const r = await redis();
    const a = await node({ REDIS_URL: r.url });
    await a.waitForStatus('listening', STATUS_MS);

    await r.stop();
    await a.waitForStatus('deaf', STATUS_MS);
    const b = await node({ REDIS_URL: r.url, WAIT_READY: '0' });
    assert.deepEqual(await b.call({ cmd: 'status' }), { id: 1, socketIo: 'deaf', ws: 'deaf' });

    await r.restart();
    await Promise.all([a.waitForStatus('listening', STATUS_MS), b.waitForStatus('listening', STATUS_MS)]);

    // Socket.IO on the node that started deaf, ws on the node that lived through the restart.
    const alice = ioClient(b, 'alice');
    const bob = ioClient(b, 'bob');
    await Promise.all([connected(alice), connected(bob)]);
    const carol = await wsClient(a, 'carol');
    const aliceRefused = waitForEvent<{ code: string }>(alice, 'unauthorized', 5000);
    const carolClosed = waitForEvent<[number, Buffer]>(carol, 'close', 5000);

    assert.equal((await a.call({ cmd: 'revoke', target: { userId: 'alice' } })).closed, 0);
    assert.equal((await aliceRefused).code, 'revoked');
    assert.equal((await b.call({ cmd: 'revoke', target: { userId: 'carol' } })).closed, 0);
    const [code, reason] = await carolClosed;
    assert.equal(code, 4403);
    assert.equal(reason.toString(), 'revoked');
    assert.ok(bob.connected);
  });

  it('a node whose subscriber was cut closes, once it listens again, the sockets revoked while it was deaf', async (t) => {
    if (skipWithoutRedis(t)) return;
    const r = await redis();
    const proxy = await startTcpProxy(r.port);
    proxies.push(proxy);
    const a = await node({ REDIS_URL: r.url });
    // Commands reach Redis directly; only the subscriber goes through the proxy.
    const b = await node({ REDIS_URL: r.url, REDIS_SUB_URL: `redis://127.0.0.1:${proxy.port}` });
    await Promise.all([a.waitForStatus('listening', STATUS_MS), b.waitForStatus('listening', STATUS_MS)]);
    const dave = ioClient(b, 'dave');
    const erin = await wsClient(b, 'erin');
    const frank = ioClient(b, 'frank');
    await Promise.all([connected(dave), connected(frank)]);

    await proxy.cut();
    await b.waitForStatus('deaf', STATUS_MS);
    // Recorded in Redis and published, but b hears nothing.
    await a.call({ cmd: 'revoke', target: { userId: 'dave' } });
    await a.call({ cmd: 'revoke', target: { userId: 'erin' } });
    assert.ok(dave.connected);

    const daveRefused = waitForEvent<{ code: string }>(dave, 'unauthorized', STATUS_MS);
    const erinClosed = waitForEvent<[number, Buffer]>(erin, 'close', STATUS_MS);
    await proxy.restore();
    await b.waitForStatus('listening', STATUS_MS);
    assert.equal((await daveRefused).code, 'revoked');
    const [code, reason] = await erinClosed;
    assert.equal(code, 4403);
    assert.equal(reason.toString(), 'revoked');
    assert.ok(frank.connected);
  });

  it('a Redis restart keeps revocations with persistence (AOF) and forgets them without (why the README requires it)', async (t) => {
    if (skipWithoutRedis(t)) return;
    const [durable, volatile] = await Promise.all([redis(true), redis(false)]);
    const [a1, a2] = await Promise.all([node({ REDIS_URL: durable.url }), node({ REDIS_URL: volatile.url })]);
    await Promise.all([a1.call({ cmd: 'revoke', target: { userId: 'grace' } }), a2.call({ cmd: 'revoke', target: { userId: 'grace' } })]);
    await Promise.all([durable.restart(), volatile.restart()]);
    // Nodes that never saw the revocation (no in-process memory of it).
    const [c1, c2] = await Promise.all([node({ REDIS_URL: durable.url }), node({ REDIS_URL: volatile.url })]);
    const err = await waitForEvent<Error & { data: { code: string } }>(ioClient(c1, 'grace'), 'connect_error', 5000);
    assert.equal(err.data.code, 'revoked');
    await connected(ioClient(c2, 'grace'));
  });
});
