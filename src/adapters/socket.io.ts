/**
 * The Socket.IO v4 adapter (`portcullis/socket.io`): the public entry. The
 * adapter lives in `./socket.io/` (see ARCHITECTURE.md).
 */
export type { AttemptContext } from '../core/connection.js';
export { AuthError } from '../errors.js';
export type { PortcullisSocketData } from '../policy/types.js';
export { createSocketIoGuard } from './socket.io/guard.js';
export type {
  AuthenticatedListener,
  AuthenticatedSocket,
  SocketIoEventNames,
  SocketIoGuard,
  SocketIoGuardOptions,
  SocketIoMode,
} from './socket.io/options.js';
export { DEFAULT_EVENT_NAMES } from './socket.io/options.js';
