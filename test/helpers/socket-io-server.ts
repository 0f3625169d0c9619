/**
 * The Socket.IO `Server` the tests run against: `socket.io` (the newest installed),
 * or the release named by `PORTCULLIS_SOCKET_IO` (an npm alias installed as a
 * devDependency: `socket.io-4.6`, `socket.io-4.7`). `npm run test:socket.io-matrix`
 * runs the Socket.IO suites once per release.
 */
import type * as SocketIo from 'socket.io';

const ALLOWED = ['socket.io', 'socket.io-4.6', 'socket.io-4.7'] as const;

const chosen = process.env.PORTCULLIS_SOCKET_IO ?? 'socket.io';
if (!(ALLOWED as readonly string[]).includes(chosen)) {
  throw new TypeError(`PORTCULLIS_SOCKET_IO must be one of ${ALLOWED.join(', ')}`);
}

const mod = (await import(chosen)) as typeof SocketIo;

/** The `Server` class of the chosen release (typed as the newest one's). */
export const Server: typeof SocketIo.Server = mod.Server;
/** The name of the chosen release's package. */
export const socketIoPackage: string = chosen;
