/**
 * Hooks and audit events. Every decision the core makes is reported once, as a
 * structured, credential-free event.
 */
import type { AuthError, ErrorCode } from '../errors.js';
import type { ConnectionState } from './state-machine.js';
import type { AuthPhase, Principal, Transport } from './types.js';

/** A read-only view of a guarded connection. */
export interface ConnectionInfo {
  readonly id: string;
  readonly transport: Transport;
  readonly namespace: string;
  readonly ip: string;
  readonly state: ConnectionState;
  readonly principal: Principal | undefined;
  /** The transport's socket (Socket.IO `Socket`, `ws` `WebSocket`), when there is one. */
  readonly socket: unknown;
  /** Epoch ms when the connection was opened. */
  readonly openedAt: number;
}

/** Why a connection ended. */
export type CloseReason = ErrorCode | 'client_disconnect' | 'server_disconnect';

/** A structured audit event. */
export type AuditEvent =
  | { type: 'accepted'; at: number; connection: ConnectionInfo; phase: AuthPhase; strategy: string | undefined; latencyMs: number }
  | { type: 'refreshed'; at: number; connection: ConnectionInfo; strategy: string | undefined; latencyMs: number }
  | {
      type: 'rejected';
      at: number;
      code: ErrorCode;
      detail: string | undefined;
      phase: AuthPhase | 'upgrade';
      transport: Transport;
      namespace: string;
      ip: string;
      connectionId: string | undefined;
      latencyMs: number;
    }
  | { type: 'timeout'; at: number; connection: ConnectionInfo }
  | { type: 'expired'; at: number; connection: ConnectionInfo }
  | { type: 'revoked'; at: number; connection: ConnectionInfo }
  | { type: 'closed'; at: number; connection: ConnectionInfo; reason: CloseReason };

/** Lifecycle hooks. A hook that throws is logged; it never crashes the server. */
export interface Hooks {
  /**
   * Runs after credentials were verified and before the client is told. Awaited:
   * the `authenticated` verdict (or the Socket.IO connection) waits for it, so
   * the client can use the socket as soon as it hears back. Throwing refuses the
   * socket with `internal_error`. Also runs on refresh (`refreshed: true`).
   */
  onAuthenticated?(connection: ConnectionInfo, principal: Principal, refreshed: boolean): void | Promise<void>;
  /** A refusal (at the upgrade, handshake, first message or refresh). */
  onRejected?(error: AuthError, event: Extract<AuditEvent, { type: 'rejected' }>): void;
  /** Runs exactly once for every connection the guard opened, whatever ended it. */
  onClose?(connection: ConnectionInfo, reason: CloseReason): void;
  /** Every audit event. */
  onAudit?(event: AuditEvent): void;
}
