/**
 * Which conformance cases check which weakness of the catalogue (`src/catalogue.ts`):
 * the catalogue describes a weakness once, the audit probes for it from outside, and
 * these cases prove from inside that a portcullis server (or a wrapper of it) is safe.
 * A test checks that every case named here exists.
 */
import type { WeaknessId } from '../catalogue.js';

/** Case names (without the transport prefix, ` > `-joined) per catalogue id. */
export const COVERAGE: Readonly<Partial<Record<WeaknessId, readonly string[]>>> = {
  'origin.foreign-accepted': [
    'strategies (handshake) > session-cookie: a foreign Origin is refused with origin_not_allowed (adapter or strategy)',
    'strategies (message) > session-cookie: a foreign Origin is refused with origin_not_allowed (adapter or strategy)',
  ],
  'deadline.missing': [
    'deadline > refuses a socket that never authenticates with auth_timeout at timeoutMs on the server clock',
    'deadline > bounds a verification of handshake credentials that never ends (§4.3 #3: HTTP 408 on ws)',
  ],
  'isolation.pending-broadcast': [
    'isolation of pending sockets > N broadcasts reach each of K authenticated sockets N times and K pending sockets never',
  ],
  'isolation.pending-handler': [
    'isolation of pending sockets > an application message from a pending socket never reaches the app (§4.3 #2)',
  ],
  'payload.oversized': ['malformed input (message) > a huge string is refused with invalid_request; the server stays up'],
  'payload.nested': ['malformed input (message) > deep nesting is refused with invalid_request; the server stays up'],
  'oracle.user-enumeration': [
    'every error code (handshake) > a strategy throwing AuthError(code) refuses with exactly that code, for every code of ERROR_CODES',
    'every error code (message) > a strategy throwing AuthError(code) refuses with exactly that code, for every code of ERROR_CODES',
  ],
  'expiry.not-enforced': [
    'expiry and refresh (handshake) > warns expiringLeadMs before expiry, then closes with token_expired',
    'expiry and refresh (message) > warns expiringLeadMs before expiry, then closes with token_expired',
  ],
  'expiry.no-refresh': [
    'expiry and refresh (handshake) > a refresh before expiry keeps the same socket and moves expiresAt',
    'expiry and refresh (message) > a refresh before expiry keeps the same socket and moves expiresAt',
  ],
};
