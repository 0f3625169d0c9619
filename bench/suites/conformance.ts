/**
 * Conformance: before any load, the raw Engine.IO / Socket.IO client used for
 * load must see what the real `socket.io-client` sees, on the guarded server
 * and on the vanilla one (handshake accepted, handshake refused with its code,
 * post-connect authentication). `socket.io-client` is used here only.
 */
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { connect } from '../lib/attempt.js';
import { startSpec } from '../lib/cases.js';
import { type ServerHandle, stopAll } from '../lib/children.js';
import { type KeyMaterial, signTokens } from '../lib/credentials.js';

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  /** What socket.io-client saw / what the raw client saw. */
  readonly detail: string;
}

const TIMEOUT_MS = 5_000;

function official(base: string, auth?: Record<string, unknown>): ClientSocket {
  return ioc(base.replace(/^ws/, 'http'), {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    ...(auth === undefined ? {} : { auth }),
  });
}

/** Resolves `connect`, or the `connect_error` code, with a deadline. */
function outcomeOf(socket: ClientSocket): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve('ok');
    });
    socket.once('connect_error', (err: Error & { data?: { code?: string } }) => {
      clearTimeout(timer);
      resolve(err.data?.code ?? 'connect_error');
    });
  });
}

/** Post-connect: connect, wait for `auth_required`, send `authentication`, resolve the verdict. */
function messageFlow(socket: ClientSocket, auth: Record<string, unknown>): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS);
    socket.once('auth_required', () => socket.emit('authentication', auth));
    socket.once('authenticated', () => {
      clearTimeout(timer);
      resolve('ok');
    });
    socket.once('unauthorized', (data: { code?: string }) => {
      clearTimeout(timer);
      resolve(data?.code ?? 'unauthorized');
    });
    socket.once('connect_error', () => {
      clearTimeout(timer);
      resolve('connect_error');
    });
  });
}

async function compare(name: string, officialRun: () => Promise<string>, rawRun: () => Promise<string>, expected: string): Promise<Check> {
  const [a, b] = await Promise.all([officialRun(), rawRun()]);
  return { name, ok: a === expected && b === expected, detail: `socket.io-client: ${a}, raw: ${b}, expected: ${expected}` };
}

export async function runConformance(keys: KeyMaterial): Promise<Check[]> {
  const servers: (ServerHandle | undefined)[] = [];
  const sockets: ClientSocket[] = [];
  const track = (s: ClientSocket): ClientSocket => {
    sockets.push(s);
    return s;
  };
  try {
    const [lib, van] = await Promise.all([
      startSpec({ transport: 'socket.io', variant: 'portcullis', strategy: 'jwt-hs256', mode: 'auto' }, keys, 'portcullis'),
      startSpec({ transport: 'socket.io', variant: 'vanilla', strategy: 'jwt-hs256', mode: 'message' }, keys, 'vanilla'),
    ]);
    servers.push(lib, van);
    const [good] = await signTokens(keys, 'HS256', 1);
    const token = good as string;
    const bad = `${token.slice(0, -4)}AAAA`;
    const raw = async (base: string, flow: 'handshake' | 'message', auth: Record<string, unknown>): Promise<string> => {
      const c = await connect({ transport: 'socket.io', base, flow, auth, timeoutMs: TIMEOUT_MS });
      c.terminate();
      return c.code;
    };
    return [
      await compare(
        'portcullis: handshake accepted',
        () => outcomeOf(track(official(lib.base, { token }))),
        () => raw(lib.base, 'handshake', { token }),
        'ok',
      ),
      await compare(
        'portcullis: handshake refused with its code',
        () => outcomeOf(track(official(lib.base, { token: bad }))),
        () => raw(lib.base, 'handshake', { token: bad }),
        'invalid_credentials',
      ),
      await compare(
        'portcullis: post-connect authentication',
        () => messageFlow(track(official(lib.base)), { token }),
        () => raw(lib.base, 'message', { token }),
        'ok',
      ),
      await compare(
        'vanilla: same wire exchange',
        () => messageFlow(track(official(van.base)), { token }),
        () => raw(van.base, 'message', { token }),
        'ok',
      ),
    ];
  } finally {
    for (const s of sockets) s.disconnect();
    await stopAll(servers);
  }
}
