/**
 * One guarded connection, transport-agnostic. The adapter creates it through the
 * guard, hands it a {@link ConnectionDriver} (how to talk to this socket), and
 * reports what the client sends; the connection runs the state machine, the
 * deadlines, the hooks and the verdicts.
 */
import { AuthError, toAuthError } from '../errors.js';
import type { AuthenticatedPayload } from '../protocol.js';
import type { Deadline } from './deadlines.js';
import type { GuardInternals, Verified } from './guard.js';
import type { CloseReason, ConnectionInfo } from './hooks.js';
import { describeError } from './logger.js';
import type { ConnectionEvent } from './state-machine.js';
import { ConnectionState, nextState } from './state-machine.js';
import type { AuthContext, AuthPhase, Principal, Transport } from './types.js';

/** What the `authenticated` message carries (defined in the wire module). */
export type { AuthenticatedPayload } from '../protocol.js';

/** How the core talks to one socket of a transport. */
export interface ConnectionDriver {
  /** Makes an authenticated socket a full member (e.g. ends broadcast isolation). Called before `authenticated`. */
  admit?(): void;
  /** Sends the `authenticated` verdict. */
  authenticated(payload: AuthenticatedPayload): void;
  /** Warns that the credential expires at `expiresAt`. */
  expiring(expiresAt: number): void;
  /** Tells the client a refresh failed while its current credential stays valid. */
  refreshFailed?(error: AuthError): void;
  /** Sends the refusal (`unauthorized` / close code) and closes the transport. */
  close(error: AuthError): void;
  /**
   * Closes the whole transport connection (an Engine.IO connection carries other
   * sockets): called after `close` once its attempts are spent (`maxAttemptsPerTransport`).
   */
  closeTransport?(): void;
}

/** Context fields an adapter supplies for one attempt; the guard adds the rest. */
export type AttemptContext = Omit<
  AuthContext,
  'store' | 'clock' | 'phase' | 'previous' | 'connectionId' | 'transport' | 'namespace' | 'ip'
>;

export interface ConnectionInit {
  readonly id: string;
  readonly transport: Transport;
  readonly namespace: string;
  readonly ip: string;
  /** The transport's socket object, exposed to hooks as `connection.socket`. */
  readonly socket?: unknown;
  /** The transport connection carrying this one (attempts are bounded per carrier, see `maxAttemptsPerTransport`). */
  readonly carrier?: object;
}

/** How a submission ended: a verdict was sent (or the message ignored), or optional credentials were absent. */
export type SubmitOutcome = 'done' | 'missing';

export class Connection implements ConnectionInfo {
  readonly id: string;
  readonly transport: Transport;
  readonly namespace: string;
  readonly ip: string;
  socket: unknown;
  readonly openedAt: number;
  state: ConnectionState = ConnectionState.Pending;
  principal: Principal | undefined = undefined;
  /** Set while one authentication message is being verified. */
  inFlight = false;
  attempts = 0;
  /** @internal True while counted against the pending budget (see `Guard.open`'s `deferHold`). */
  held = false;
  /** @internal The next deadline: the auth timeout while pending, then the expiry warning, then the expiry. */
  deadline: Deadline | undefined = undefined;
  /** @internal */ ipKey: string;
  /** @internal The transport connection carrying this one, if the adapter named it. */
  readonly carrier: object | undefined;
  readonly #guard: GuardInternals;
  readonly #driver: ConnectionDriver;
  #closeReported = false;
  /** The code being closed with, so a transport close event raised by `driver.close` reports it. */
  #closing: CloseReason | undefined = undefined;

  constructor(guard: GuardInternals, init: ConnectionInit, driver: ConnectionDriver, ipKey: string) {
    this.#guard = guard;
    this.#driver = driver;
    this.id = init.id;
    this.transport = init.transport;
    this.namespace = init.namespace;
    this.ip = init.ip;
    this.socket = init.socket;
    this.carrier = init.carrier;
    this.ipKey = ipKey;
    this.openedAt = guard.clock.now();
  }

  /** True while the socket has not authenticated yet. */
  get pending(): boolean {
    return this.state === ConnectionState.Pending;
  }

  /** True while the socket may receive and send application traffic. */
  get authenticated(): boolean {
    return this.state === ConnectionState.Authenticated;
  }

  /**
   * Counts this pending connection against the pending budget and starts its
   * deadline, if not done yet. For adapters that opened it with `deferHold` and
   * could not decide it at once; verification that goes asynchronous holds by itself.
   */
  hold(): void {
    this.#guard.hold(this);
  }

  /** Binds the transport socket once it exists (`ws` creates it after upgrade-time authentication). */
  bindSocket(socket: unknown): void {
    this.socket = socket;
  }

  /** @internal Applies `event`; false when the table refuses it. */
  transition(event: ConnectionEvent): boolean {
    const next = nextState(this.state, event);
    if (next === undefined) return false;
    const prev = this.state;
    this.state = next;
    this.#guard.onTransition(this, prev, next);
    return true;
  }

  /**
   * Handles credentials: the handshake's (`handshake`), a first message, or a
   * refresh. Resolves once a verdict was sent or the message was ignored; with
   * `optional`, credentials no strategy recognised (`credentials_required`) leave
   * the socket pending and resolve `'missing'` (ambient credentials such as an
   * unrelated cookie must not refuse a client that will authenticate by message).
   */
  async submit(raw: unknown, attempt: AttemptContext, handshake = false, optional = false): Promise<SubmitOutcome> {
    return this.submitNow(raw, attempt, handshake, optional);
  }

  /**
   * {@link submit}, answering at once when verification does (in-process store,
   * synchronous strategy, no `onAuthenticated` hook): the verdict is then applied
   * before this returns. Returns a promise otherwise. Refusals are verdicts, not
   * errors; only what the driver throws while accepting propagates.
   */
  submitNow(raw: unknown, attempt: AttemptContext, handshake = false, optional = false): SubmitOutcome | Promise<SubmitOutcome> {
    if (this.state !== ConnectionState.Pending && this.state !== ConnectionState.Authenticated) return 'done';
    // One verification at a time: a second message while one is in flight gets no verdict.
    if (this.inFlight) return 'done';
    const phase: AuthPhase = this.state === ConnectionState.Authenticated ? 'refresh' : handshake ? 'handshake' : 'message';
    const carrier = this.carrier;
    if (++this.attempts > this.#guard.options.maxAttemptsPerConnection) {
      if (carrier !== undefined) this.#guard.attempts.refused(carrier);
      this.#overLimit('attempts per connection', phase);
      return 'done';
    }
    // A slot of the transport connection's bound, taken before anything is verified.
    if (carrier !== undefined && !this.#guard.attempts.reserve(carrier)) {
      this.#overLimit('attempts per transport connection', phase);
      return 'done';
    }
    this.inFlight = true;
    const started = this.#guard.clock.now();
    let result: Verified | Promise<Verified>;
    try {
      result = this.#guard.verify(raw, this.#context(phase, attempt));
    } catch (err) {
      return this.#refused(err, phase, optional, started);
    }
    if (result instanceof Promise) {
      // Waiting: from now on this socket counts as pending, under its deadline.
      this.#guard.hold(this);
      return result.then(
        (verified) => this.#verified(verified, phase, optional, started),
        (err: unknown) => this.#refused(err, phase, optional, started),
      );
    }
    return this.#verified(result, phase, optional, started);
  }

  #overLimit(detail: string, phase: AuthPhase): void {
    const error = new AuthError('rate_limited', { detail });
    this.#guard.reportRejected(this, error, phase, 0);
    this.#fail(error, true);
  }

  /** Verification passed: checks the refresh rules, runs the hook, then accepts. */
  #verified(verified: Verified, phase: AuthPhase, optional: boolean, started: number): SubmitOutcome | Promise<SubmitOutcome> {
    const { principal, strategy } = verified;
    if (phase === 'refresh' && !this.#guard.options.allowPrincipalChange && principal.id !== this.principal?.id) {
      return this.#refused(new AuthError('forbidden', { detail: 'refresh changed the principal' }), phase, optional, started);
    }
    if (this.#gone()) return 'done';
    let hook: Promise<void> | undefined;
    try {
      hook = this.#guard.runAuthenticatedHook(this, principal, phase === 'refresh');
    } catch (err) {
      return this.#refused(err, phase, optional, started);
    }
    if (hook === undefined) return this.#settle(principal, strategy, phase, started);
    this.#guard.hold(this);
    return hook.then(
      () => this.#settle(principal, strategy, phase, started),
      (err: unknown) => this.#refused(err, phase, optional, started),
    );
  }

  /** Accepts a verified principal, unless a revocation arrived while it was verified. */
  #settle(principal: Principal, strategy: string, phase: AuthPhase, started: number): SubmitOutcome {
    this.inFlight = false;
    // A revocation may have arrived while we verified or ran the hook.
    if (this.#guard.recentlyRevoked(principal)) {
      const error = new AuthError('revoked', { detail: 'revoked during verification' });
      this.#guard.reportRejected(this, error, phase, this.#guard.clock.now() - started);
      this.#fail(error, true);
      return 'done';
    }
    // An accepted attempt gives its slot of the transport's bound back.
    if (this.carrier !== undefined) this.#guard.attempts.release(this.carrier);
    // The socket may have closed while we verified or ran the hook: `accept` then refuses the transition.
    this.accept(principal, phase, strategy, started);
    return 'done';
  }

  /** Verification (or the hook) refused: reports it and sends the verdict. */
  #refused(err: unknown, phase: AuthPhase, optional: boolean, started: number): SubmitOutcome {
    this.inFlight = false;
    if (this.#gone()) return 'done';
    const error = toAuthError(err);
    if (optional && error.code === 'credentials_required' && this.state === ConnectionState.Pending) {
      this.attempts--;
      if (this.carrier !== undefined) this.#guard.attempts.release(this.carrier);
      this.#guard.hold(this);
      return 'missing';
    }
    this.#guard.reportRejected(this, error, phase, this.#guard.clock.now() - started);
    if (
      phase === 'refresh' &&
      !this.#guard.options.closeOnFailedRefresh &&
      (this.carrier === undefined || !this.#guard.attempts.spent(this.carrier)) &&
      this.#driver.refreshFailed !== undefined &&
      error.code !== 'revoked'
    ) {
      this.#driver.refreshFailed(error);
      return 'done';
    }
    this.#fail(error, true);
    return 'done';
  }

  /**
   * @internal Makes `principal` current (handshake success, or a verified message)
   * and sends the verdict. False when the connection can no longer accept it.
   */
  accept(principal: Principal, phase: AuthPhase, strategy: string | undefined, started: number): boolean {
    const refreshed = this.state === ConnectionState.Authenticated;
    if (!this.transition(refreshed ? 'refresh' : 'authenticate')) return false;
    this.principal = principal;
    this.attempts = 0;
    this.#guard.activate(this);
    const now = this.#guard.clock.now();
    if (!refreshed) this.#driver.admit?.();
    if (phase !== 'handshake') {
      const payload: AuthenticatedPayload = principal.data === undefined ? {} : { ...principal.data };
      if (principal.expiresAt !== undefined) payload.expiresAt = principal.expiresAt;
      this.#driver.authenticated(payload);
    }
    if (!this.#guard.auditing) return true;
    this.#guard.audit(
      refreshed
        ? { type: 'refreshed', at: now, connection: this, strategy, latencyMs: now - started }
        : { type: 'accepted', at: now, connection: this, phase, strategy, latencyMs: now - started },
    );
    return true;
  }

  /** @internal Sends the expiry warning. */
  warn(): void {
    if (this.state !== ConnectionState.Authenticated || this.principal?.expiresAt === undefined) return;
    this.#driver.expiring(this.principal.expiresAt);
  }

  /** Refuses and closes: `event` defaults from the code (timeout, expiry, revocation, rejection). */
  #fail(error: AuthError, sendVerdict: boolean): void {
    const event: ConnectionEvent =
      error.code === 'auth_timeout'
        ? 'timeout'
        : error.code === 'token_expired'
          ? 'expire'
          : error.code === 'revoked'
            ? 'revoke'
            : 'reject';
    if (!this.transition(event)) {
      if (!this.transition('reject')) return;
    }
    this.#closing = error.code;
    if (sendVerdict) {
      try {
        this.#driver.close(error);
      } catch (err) {
        this.#guard.options.logger.error({ connectionId: this.id, ...describeError(err) }, 'portcullis: driver.close threw');
      }
      // Its attempts spent, the transport connection goes too: no more CONNECTs over it.
      if (this.carrier !== undefined && this.#driver.closeTransport !== undefined && this.#guard.attempts.spent(this.carrier)) {
        this.#driver.closeTransport();
      }
    }
    this.closed(error.code);
  }

  /** Ends the connection with `error` (timeout, expiry, revocation, policy). */
  terminate(error: AuthError): void {
    this.#fail(error, true);
  }

  /**
   * Reports that the transport closed (client left, server disconnected). Safe to
   * call more than once; hooks see the end exactly once.
   */
  closed(reason: CloseReason): void {
    if (this.state !== ConnectionState.Closed) {
      this.transition('close');
    }
    if (this.#closeReported) return;
    this.#closeReported = true;
    this.#guard.onClosed(this, this.#closing ?? reason);
  }

  /** True once the socket can no longer be authenticated (read fresh after an await). */
  #gone(): boolean {
    const state: ConnectionState = this.state;
    return state === ConnectionState.Closed || state === ConnectionState.Revoked || state === ConnectionState.Expired;
  }

  #context(phase: AuthPhase, attempt: AttemptContext): AuthContext {
    // A plain literal: spreading `attempt` and adding properties is an order of magnitude slower.
    return {
      origin: attempt.origin,
      secure: attempt.secure,
      headers: attempt.headers,
      url: attempt.url,
      peerCertificate: attempt.peerCertificate,
      peerAuthorized: attempt.peerAuthorized,
      socket: attempt.socket,
      transport: this.transport,
      phase,
      connectionId: this.id,
      namespace: this.namespace,
      ip: this.ip,
      previous: this.principal,
      store: this.#guard.store,
      clock: this.#guard.clock,
    };
  }
}
