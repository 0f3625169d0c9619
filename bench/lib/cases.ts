/**
 * Server configurations and the credentials each presents, shared by the suites
 * and the regression test.
 */
import type { AuthMode, ServerConfig, StrategyName, Transport, Variant } from '../servers/protocol.js';
import { type ServerHandle, startServer } from './children.js';
import { type KeyMaterial, publicMaterial, signHmac, signTokens } from './credentials.js';

export const SCRIPT: Readonly<Record<Transport, string>> = { 'socket.io': 'socket-io.ts', ws: 'ws.ts' };

/** Short label of a transport for tables. */
export const TRANSPORT_LABEL: Readonly<Record<Transport, string>> = { 'socket.io': 'Socket.IO', ws: 'ws' };

export interface ServerSpec {
  readonly transport: Transport;
  readonly variant: Variant;
  readonly strategy: StrategyName;
  readonly mode: AuthMode;
  readonly guard?: ServerConfig['guard'];
}

export function startSpec(spec: ServerSpec, keys: KeyMaterial, name: string): Promise<ServerHandle> {
  const config: ServerConfig = {
    name,
    transport: spec.transport,
    variant: spec.variant,
    strategy: spec.strategy,
    mode: spec.mode,
    keys: publicMaterial(keys),
    ...(spec.guard === undefined ? {} : { guard: spec.guard }),
  };
  return startServer(SCRIPT[spec.transport], config);
}

/** Produces the credentials of attempt `i` of one measured round. */
export type CredentialSource = (i: number) => Readonly<Record<string, unknown>>;

/**
 * Credentials for `strategy`, prepared per round for one server: tickets are
 * issued by that server before the CPU window opens (a vanilla server hands out
 * look-alike strings), HMAC handshakes are signed per attempt with a fresh nonce,
 * JWTs come from a pool signed once.
 */
export interface Credentials {
  prepare(server: ServerHandle, n: number): Promise<CredentialSource>;
}

export async function credentialsFor(strategy: StrategyName, keys: KeyMaterial, pool = 256): Promise<Credentials> {
  switch (strategy) {
    case 'ticket': {
      let first = 0;
      return {
        async prepare(server, n) {
          const tickets = await server.call<string[]>({ cmd: 'issue', n, first });
          first += n;
          return (i) => ({ ticket: tickets[i] as string });
        },
      };
    }
    case 'hmac':
      return {
        async prepare() {
          return (i) => signHmac(keys, '/', `user-${i % pool}`) as unknown as Record<string, unknown>;
        },
      };
    case 'jwt-hs256':
    case 'jwt-es256': {
      const tokens = await signTokens(keys, strategy === 'jwt-hs256' ? 'HS256' : 'ES256', pool);
      return {
        async prepare() {
          return (i) => ({ token: tokens[i % tokens.length] as string });
        },
      };
    }
    case 'none':
      return {
        async prepare() {
          return () => ({});
        },
      };
  }
}

/**
 * What the client of `variant` sends: `@thream/socketio-jwt` reads `auth.token` as `Bearer <jwt>` (its README's
 * client code); every other server reads the credentials as they are.
 */
export function presentedTo(variant: Variant, source: CredentialSource): CredentialSource {
  if (variant !== 'thream') return source;
  return (i) => {
    const auth = source(i);
    return { ...auth, token: `Bearer ${auth.token as string}` };
  };
}
