/**
 * Real Socket.IO servers and clients on loopback for tests.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server as IoServer, ServerOptions } from 'socket.io';
import { type Socket as ClientSocket, io as ioc, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { Server } from './socket-io-server.js';
import { waitForEvent } from './wait.js';

export interface IoFixture {
  readonly io: IoServer;
  readonly http: HttpServer;
  readonly url: string;
  /** Connects a client to `nsp` (default '/'); no reconnection, websocket only. */
  client(nsp?: string, opts?: Partial<ManagerOptions & SocketOptions>): ClientSocket;
  /** Closes every client and the server. */
  close(): Promise<void>;
}

/** Starts a Socket.IO server on 127.0.0.1, port 0. */
export async function startIo(opts: Partial<ServerOptions> = {}): Promise<IoFixture> {
  const http = createServer();
  const io = new Server(http, opts);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const clients: ClientSocket[] = [];
  return {
    io,
    http,
    url,
    client(nsp = '/', clientOpts = {}) {
      const socket = ioc(`${url}${nsp}`, { transports: ['websocket'], forceNew: true, reconnection: false, ...clientOpts });
      clients.push(socket);
      return socket;
    },
    async close() {
      for (const c of clients) c.disconnect();
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

/** Resolves once the client connected, rejects with the connect_error otherwise. */
export function connected(socket: ClientSocket, timeoutMs = 2000): Promise<void> {
  // A handshake decided in one tick may connect before the caller gets here.
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for connect')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Resolves with the connect_error of a refused client. */
export async function refused(socket: ClientSocket, timeoutMs = 2000): Promise<Error & { data?: { code?: string; retryable?: boolean } }> {
  return waitForEvent(socket, 'connect_error', timeoutMs);
}

/**
 * Sockets Socket.IO holds for a namespace before they connect (`_preConnectSockets`,
 * 4.8+; earlier releases keep no such registry, so nothing can stay in it: 0).
 */
export function preConnectSockets(nsp: unknown): number {
  return (nsp as { _preConnectSockets?: Map<string, unknown> })._preConnectSockets?.size ?? 0;
}
