/**
 * Hand-written Engine.IO / Socket.IO clients for hostile cases a real client
 * would never produce: raw HTTP upgrade requests over TCP, and one Engine.IO
 * WebSocket connection sending Socket.IO packets as they are written.
 */
import { connect as tcpConnect } from 'node:net';
import { WebSocket } from 'ws';
import { waitUntil } from './wait.js';

/**
 * Sends a WebSocket upgrade for `path` by hand and resolves the status code of
 * the answer (101, or the refusal's), or 0 when the server closed without one.
 */
export function rawUpgradeStatus(port: number, path: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to the upgrade of ${path}`));
    }, timeoutMs);
    const done = (status: number): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const line = data.indexOf('\r\n');
      if (line !== -1) done(Number(/^HTTP\/1\.1 (\d{3})/.exec(data.slice(0, line))?.[1] ?? 0));
    });
    socket.on('close', () => done(0));
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** One Engine.IO v4 WebSocket connection speaking raw Socket.IO packets. */
export interface RawEngine {
  /** Every Socket.IO packet received (Engine.IO `4` message packets, without the `4`). */
  readonly packets: string[];
  /** True once the server closed the connection. */
  readonly closed: boolean;
  /** Sends a Socket.IO CONNECT for `nsp` carrying `auth`. */
  connect(nsp: string, auth: Record<string, unknown>): void;
  /** Sends a raw Engine.IO packet: `41` is a Socket.IO DISCONNECT of `/`, `42[…]` an EVENT. */
  send(packet: string): void;
  /** Waits until `count` packets matching `test` arrived. */
  received(test: (packet: string) => boolean, count: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens a raw Engine.IO connection to `url` (`http://127.0.0.1:port`) and waits for its open packet. */
export async function openRawEngine(url: string, headers: Record<string, string> = {}, timeoutMs = 2000): Promise<RawEngine> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers });
  const packets: string[] = [];
  let closed = false;
  let open = false;
  ws.on('error', () => {});
  ws.on('close', () => {
    closed = true;
  });
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    if (text.startsWith('0')) open = true;
    else if (text === '2') ws.send('3');
    else if (text.startsWith('4')) packets.push(text.slice(1));
  });
  await waitUntil(() => open || closed, timeoutMs, 'the Engine.IO open packet');
  if (!open) throw new Error('the Engine.IO connection was refused');
  return {
    packets,
    get closed() {
      return closed;
    },
    connect(nsp, auth) {
      if (ws.readyState === WebSocket.OPEN) ws.send(`40${nsp === '/' ? '' : `${nsp},`}${JSON.stringify(auth)}`);
    },
    send(packet) {
      if (ws.readyState === WebSocket.OPEN) ws.send(packet);
    },
    received(test, count, ms = 5000) {
      return waitUntil(() => packets.filter(test).length >= count, ms, `${count} matching packets`);
    },
    close() {
      ws.terminate();
    },
  };
}
