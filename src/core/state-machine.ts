/**
 * The connection state machine, shared by every transport:
 *
 *   pending ──authenticate──► authenticated ──expire──► expired ──close──► closed
 *      │                         │  ▲   └───revoke──► revoked ──close──► closed
 *      │                         └──┘ refresh
 *      └──reject / timeout / close──► closed
 *
 * Transitions not in the table are refused, which is what makes races safe: a
 * verification that resolves after its socket closed cannot authenticate it.
 */

export const ConnectionState = {
  Pending: 'pending',
  Authenticated: 'authenticated',
  Expired: 'expired',
  Revoked: 'revoked',
  Closed: 'closed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

export const ConnectionEvent = {
  Authenticate: 'authenticate',
  Refresh: 'refresh',
  Reject: 'reject',
  Timeout: 'timeout',
  Expire: 'expire',
  Revoke: 'revoke',
  Close: 'close',
} as const;
export type ConnectionEvent = (typeof ConnectionEvent)[keyof typeof ConnectionEvent];

/** The transition table: state → event → next state. */
export const TRANSITIONS = {
  pending: { authenticate: 'authenticated', reject: 'closed', timeout: 'closed', revoke: 'closed', close: 'closed' },
  authenticated: { refresh: 'authenticated', expire: 'expired', revoke: 'revoked', reject: 'closed', close: 'closed' },
  expired: { close: 'closed' },
  revoked: { close: 'closed' },
  closed: {},
} as const satisfies Record<ConnectionState, Partial<Record<ConnectionEvent, ConnectionState>>>;

/** The next state, or `undefined` when `event` is not allowed in `state`. */
export function nextState(state: ConnectionState, event: ConnectionEvent): ConnectionState | undefined {
  const row: Partial<Record<ConnectionEvent, ConnectionState>> = TRANSITIONS[state];
  return row[event];
}
