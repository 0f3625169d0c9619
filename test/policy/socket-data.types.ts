/**
 * Type test (compiled by `npm run typecheck`, never run): `Principal<Claims>` is
 * generic end to end, and `socket.data.principal` is typed through Socket.IO's
 * `SocketData` generic.
 */
import { Server } from 'socket.io';
import { createSocketIoGuard } from '../../src/adapters/socket.io.js';
import type { Principal } from '../../src/core/types.js';
import type { PortcullisSocketData } from '../../src/policy/index.js';
import { attachSocketIoAuthorization, createAuthorization } from '../../src/policy/index.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';

type Claims = { orgId: string; roles: readonly string[] };

interface ClientToServer {
  'chat:say': (text: string, ack: (ok: boolean) => void) => void;
}

export function typed(): void {
  const io = new Server<ClientToServer, Record<string, never>, Record<string, never>, PortcullisSocketData<Claims>>();
  const strategy = createCustomStrategy((c) => ({ id: String(c.user), claims: { orgId: 'acme', roles: [] } }) satisfies Principal<Claims>);
  const authz = createAuthorization<Claims>({
    namespaces: { '/tenant-{orgId}': ({ principal }) => principal.claims.orgId !== '' },
    rooms: {
      'org:{orgId}:*': true,
      'admin:*': ({ principal, room }) => principal.claims.roles.includes('admin') && room.length > 0,
      // @ts-expect-error a claim the Claims type does not declare
      'x:*': ({ principal }) => principal.claims.tenant === 'x',
    },
    events: {
      'admin:*': async ({ principal, args }) => principal.claims.roles.includes('admin') && args.length < 3,
      // @ts-expect-error a policy answers a boolean
      bad: () => 'yes',
    },
  });
  const guard = createSocketIoGuard(io as unknown as Server, { strategies: [strategy], hooks: [authz.hooks] });
  const rooms = attachSocketIoAuthorization(guard, authz);
  io.on('connection', (socket) => {
    const orgId: string = socket.data.principal.claims.orgId;
    // @ts-expect-error orgId is a string
    const wrong: number = socket.data.principal.claims.orgId;
    // @ts-expect-error not a declared claim
    socket.data.principal.claims.tenant;
    void rooms.join(socket, `org:${orgId}:chat`).then((r) => (r.ok ? r.expiresAt : r.code));
    void wrong;
  });
}
