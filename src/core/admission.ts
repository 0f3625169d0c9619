/**
 * Admission: the one decision on a new connection, for every transport. In
 * order: the per-transport attempt bound, Origin and TLS, the pending budget,
 * the handshake rate (each skipped only for a request that passed
 * {@link Admission.preflight} of this very admission), then the credentials
 * (failure lockout, strategies, expiry, revocation), registration, and the
 * verdict handed to the transport's driver.
 *
 * The verdict comes in the tick the request arrived whenever every step answers
 * at once (an in-process store, a strategy that returns its principal): no
 * promise, no listener, no pending bookkeeping. Otherwise the connection counts
 * against the pending budget, under its deadline, until the verdict.
 */
import type { IncomingMessage } from 'node:http';
import { AuthError, toAuthError } from '../errors.js';
import type { AttemptContext, Connection, ConnectionDriver, SubmitOutcome } from './connection.js';
import type { Guard } from './guard.js';
import { describeError } from './logger.js';
import type { OriginCheckOptions } from './origin.js';
import { createOriginCheck } from './origin.js';
import type { ClientAddress, TrustedProxies } from './request.js';
import { createRequestResolver, headerValue } from './request.js';
import { whenSettled } from './thenable.js';
import type { Principal, Transport } from './types.js';

/** The transport checks of an admission (the adapters' options of the same names). */
export interface AdmissionOptions extends Pick<OriginCheckOptions, 'allowNull' | 'requireOrigin'> {
  /** Origins allowed to connect. @default same-origin only */
  origins?: NonNullable<OriginCheckOptions['origins']>;
  /** Reverse proxies whose forwarding headers are believed (see {@link TrustedProxies}). @default [] */
  trustedProxies?: TrustedProxies;
  /** Refuse plain (non-TLS) connections with `tls_required`. @default false */
  requireTls?: boolean;
}

/** What credentials an attempt carries. */
export const Expect = {
  /** Credentials that must be verified: any refusal refuses the connection. */
  Credentials: 'credentials',
  /** Ambient credentials (a cookie, a certificate): when no strategy recognises them, the connection waits for a message. */
  Optional: 'optional',
  /** None: the connection waits, pending, for an authentication message. */
  Message: 'message',
} as const;
export type Expect = (typeof Expect)[keyof typeof Expect];

/** How an admission ended, when it was not refused (refusals go to `driver.close`). */
export type AdmissionOutcome = 'authenticated' | 'pending' | 'gone';

/** What a transport adds to its {@link ConnectionDriver} to be admitted. */
export interface AdmissionDriver extends ConnectionDriver {
  /** The connection exists (called before anything can end it). */
  opened(conn: Connection): void;
  /**
   * The verdict: `authenticated` (let the transport through), `pending` (let it
   * through pending, to authenticate by message), `gone` (ended without a verdict
   * to send: the client left, or the refusal was sent already).
   */
  settled(conn: Connection, outcome: AdmissionOutcome): void;
  /** The verdict will come later: watch for the client leaving (then call `conn.closed`). */
  waiting?(conn: Connection): void;
}

/** One attempt to open a connection. */
export interface AdmissionRequest {
  readonly id: string;
  readonly transport: Transport;
  readonly namespace: string;
  /** The HTTP request that opened the transport connection (Engine.IO handshake, `ws` upgrade). */
  readonly req: IncomingMessage;
  /** Its address, from {@link Admission.addressOf}. */
  readonly address: ClientAddress;
  /** The transport connection carrying the attempt (attempts are bounded per carrier). */
  readonly carrier: object;
  /** The transport's socket object, when it exists yet. */
  readonly socket?: unknown;
  /** The phase refusals before verification are reported with. */
  readonly phase: 'handshake' | 'upgrade';
  readonly credentials: unknown;
  readonly expect: Expect;
  readonly context: AttemptContext;
}

export interface Admission {
  /** The client address of `req`, through trusted proxies only. */
  addressOf(req: IncomingMessage): ClientAddress;
  /**
   * The checks that need no connection (Origin, TLS, pending budget, handshake
   * rate), for a transport that can refuse before it accepts anything (the
   * Engine.IO handshake). Throws, or returns a promise that rejects, with the
   * refusal (reported already); `undefined` when passed at once. A request that
   * passed is not checked again by {@link admit}.
   */
  preflight(req: IncomingMessage, transport: Transport): Promise<void> | undefined;
  /** Admits one attempt; the verdict goes to `driver` (in this tick when everything answers at once). */
  admit(request: AdmissionRequest, driver: AdmissionDriver): void;
  /** An authentication message (first one, or a refresh) on an open connection. */
  authenticate(conn: Connection, raw: unknown, context: AttemptContext): void;
  /**
   * Resumes a session the transport restored on its own (Socket.IO connection state
   * recovery with `skipMiddlewares`) with its `principal`, checked for expiry and
   * revocation before the restore. `undefined` when it cannot be opened (budget).
   */
  resume(
    request: Pick<AdmissionRequest, 'id' | 'transport' | 'namespace' | 'address' | 'socket'>,
    principal: Principal,
    driver: AdmissionDriver,
  ): Connection | undefined;
}

/** Creates the admission of `guard` with the transport checks of `options`. */
export function createAdmission(guard: Guard, options: AdmissionOptions): Admission {
  const { logger } = guard.options;
  const checkOrigin = createOriginCheck(options, logger);
  const addressOf = createRequestResolver({ trustedProxies: options.trustedProxies ?? [] });
  const requireTls = options.requireTls ?? false;
  if (typeof requireTls !== 'boolean') throw new TypeError('portcullis: requireTls must be a boolean');
  /** Marks the requests that passed this admission's preflight (a property: nothing outlives its request). */
  const kPreflighted = Symbol('portcullis.preflighted');
  type Marked = IncomingMessage & { [kPreflighted]?: true };

  /** Origin and TLS: synchronous, cheap. Throws `AuthError`. */
  const checkTransport = (req: IncomingMessage, address: ClientAddress): void => {
    if (requireTls && !address.secure) throw new AuthError('tls_required');
    checkOrigin(headerValue(req.headers.origin), req.headers.host, address.secure);
  };

  function preflight(req: IncomingMessage, transport: Transport): Promise<void> | undefined {
    const address = addressOf(req);
    const report = (err: unknown): never => {
      const error = toAuthError(err);
      guard.rejected(error, { phase: 'upgrade', transport, namespace: '/', ip: address.ip });
      throw error;
    };
    let rate: Promise<void> | undefined;
    try {
      checkTransport(req, address);
      rate = guard.admit(address.ip);
    } catch (err) {
      return report(err);
    }
    if (rate === undefined) {
      (req as Marked)[kPreflighted] = true;
      return undefined;
    }
    return rate.then(() => {
      (req as Marked)[kPreflighted] = true;
    }, report);
  }

  /** Refuses an attempt: reports it, sends the refusal, closes the transport once its attempts are spent. */
  function refuse(r: AdmissionRequest, conn: Connection | undefined, driver: AdmissionDriver, err: unknown): void {
    const error = toAuthError(err);
    guard.attempts.refused(r.carrier);
    guard.rejected(error, { phase: r.phase, transport: r.transport, namespace: r.namespace, ip: r.address.ip, connectionId: r.id });
    if (conn !== undefined) {
      conn.terminate(error);
      return;
    }
    driver.close(error);
    if (guard.attempts.spent(r.carrier)) driver.closeTransport?.();
  }

  /** A bug (a driver that threw while accepting) refuses the connection, never reaches the transport. */
  function failed(conn: Connection, err: unknown): void {
    logger.error({ connectionId: conn.id, ...describeError(err) }, 'portcullis: admission failed');
    conn.terminate(toAuthError(err));
  }

  function settle(conn: Connection, driver: AdmissionDriver, outcome: SubmitOutcome): void {
    if (conn.authenticated) driver.settled(conn, 'authenticated');
    else if (outcome === 'missing' && conn.pending) driver.settled(conn, 'pending');
    else driver.settled(conn, 'gone');
  }

  /** Verifies the attempt's credentials (or leaves it pending for a message). */
  function decide(r: AdmissionRequest, conn: Connection, driver: AdmissionDriver, watched: boolean): void {
    if (!conn.pending) {
      driver.settled(conn, 'gone');
      return;
    }
    if (r.expect === Expect.Message) {
      conn.hold();
      driver.settled(conn, 'pending');
      return;
    }
    // No closure on the path that answers at once.
    let outcome: SubmitOutcome | Promise<SubmitOutcome>;
    try {
      outcome = conn.submitNow(r.credentials, r.context, true, r.expect === Expect.Optional);
      if (!(outcome instanceof Promise)) {
        settle(conn, driver, outcome);
        return;
      }
    } catch (err) {
      failed(conn, err);
      return;
    }
    outcome.then((o) => settle(conn, driver, o)).then(undefined, (err: unknown) => failed(conn, err));
    // Not decided at once: from now on it counts against the pending budget, under its deadline.
    conn.hold();
    if (!watched) driver.waiting?.(conn);
  }

  function admit(r: AdmissionRequest, driver: AdmissionDriver): void {
    if (guard.attempts.spent(r.carrier)) {
      refuse(r, undefined, driver, new AuthError('rate_limited', { detail: 'attempts per transport connection' }));
      return;
    }
    let conn: Connection | undefined;
    let rate: Promise<void> | undefined;
    try {
      // A request that passed this admission's preflight was checked already; any other is checked here.
      const checked = (r.req as Marked)[kPreflighted] === true;
      if (!checked) checkTransport(r.req, r.address);
      conn = guard.open(
        { id: r.id, transport: r.transport, namespace: r.namespace, ip: r.address.ip, socket: r.socket, carrier: r.carrier },
        driver,
        true,
      );
      driver.opened(conn);
      if (!checked) rate = guard.admit(r.address.ip, { pendingBudget: false });
    } catch (err) {
      refuse(r, conn, driver, err);
      return;
    }
    if (rate === undefined) {
      decide(r, conn, driver, false);
      return;
    }
    const opened = conn;
    opened.hold();
    driver.waiting?.(opened);
    rate.then(
      () => decide(r, opened, driver, true),
      (err: unknown) => {
        if (opened.pending) refuse(r, opened, driver, err);
        else driver.settled(opened, 'gone');
      },
    );
  }

  function authenticate(conn: Connection, raw: unknown, context: AttemptContext): void {
    // The verdict goes out in this very tick when the strategy and the store answer at once.
    whenSettled(
      () => conn.submitNow(raw, context),
      () => {},
      (err) => failed(conn, err),
    );
  }

  function resume(
    r: Pick<AdmissionRequest, 'id' | 'transport' | 'namespace' | 'address' | 'socket'>,
    principal: Principal,
    driver: AdmissionDriver,
  ): Connection | undefined {
    try {
      const conn = guard.open(
        { id: r.id, transport: r.transport, namespace: r.namespace, ip: r.address.ip, socket: r.socket },
        driver,
        true,
      );
      driver.opened(conn);
      conn.accept(principal, 'handshake', 'recovery', guard.clock.now());
      return conn;
    } catch {
      return undefined;
    }
  }

  return { addressOf, preflight, admit, authenticate, resume };
}
