/**
 * What the authorization tests share: the claims of their principals, and the
 * strategy that turns credentials `{ user, org, roles? }` into such a principal.
 */
import type { Credentials, Principal } from '../../src/core/types.js';
import { createCustomStrategy } from '../../src/strategies/custom.js';

export type Claims = { orgId: string; roles: string[] };

/** Credentials `{ user, org, roles? }` → principal `user` with claims `{ orgId, roles }`; `orgOf` reads the org. */
export function claimsStrategy(orgOf: (c: Credentials) => string = (c) => String(c.org)) {
  return createCustomStrategy((c) =>
    typeof c.user === 'string'
      ? ({ id: c.user, claims: { orgId: orgOf(c), roles: Array.isArray(c.roles) ? c.roles : [] } } satisfies Principal<Claims>)
      : null,
  );
}
