/**
 * The context every probe receives: the target's driver and how it authenticates, a
 * paced and counted `dial`, `login` with the given credential, and the finding helpers
 * (which take their text from the catalogue and redact every credential).
 */
import { type Severity, type WeaknessId, weakness } from '../../catalogue.js';
import { type Conn, type Dialed, type DialOptions, type Driver, describeDial, hangUp } from './drivers.js';
import type { AuditOptions, Credential, Finding, ProbeResult, Redactor } from './model.js';

/** How the target takes credentials, as discovered by the first dial. */
export type AuthMode = 'handshake' | 'message' | 'none';

export interface Login {
  readonly admitted: boolean;
  readonly dialed: Dialed;
  /** The open connection, when there is one (admitted or pending). */
  readonly conn: Conn | undefined;
  /** What came back, redacted. */
  readonly detail: string;
}

export interface ProbeContext {
  readonly options: AuditOptions;
  readonly driver: Driver;
  readonly authMode: AuthMode;
  /** A fresh credential, or `undefined` when none was given. */
  credential(): Promise<Credential | undefined>;
  readonly hasCredential: boolean;
  /** Dials at most `--rate` per second; every connection is closed at the end of the audit. */
  dial(options: DialOptions): Promise<Dialed>;
  /** Dials with `credential` (handshake parts, then a message in message mode). */
  login(credential: Credential, overrides?: DialOptions): Promise<Login>;
  redact(text: string): string;
  finding(id: WeaknessId, evidence: { sent: string; received: string }, severity?: Severity): Finding;
}

/** Builds a probe result. */
export function result(probe: string, findings: readonly Finding[], note: string): ProbeResult {
  return { probe, status: findings.length > 0 ? 'finding' : 'pass', note, findings };
}

export function skipped(probe: string, note: string): ProbeResult {
  return { probe, status: 'skipped', note, findings: [] };
}

/** Everything one audit run shares: pacing, open connections, 429s seen. */
export interface Dialer {
  dial(options: DialOptions): Promise<Dialed>;
  /** 429 responses seen, with whether they carried Retry-After. */
  readonly tooMany: { retryAfter: boolean; detail: string }[];
  readonly dials: number;
  /** Closes every connection still open. */
  hangUpAll(): void;
}

export function createDialer(driver: Driver, options: AuditOptions, redactor: Redactor): Dialer {
  const open: Dialed[] = [];
  const tooMany: { retryAfter: boolean; detail: string }[] = [];
  const gapMs = 1000 / options.rate;
  let next = 0;
  let dials = 0;
  return {
    tooMany,
    get dials() {
      return dials;
    },
    async dial(dialOptions) {
      const now = Date.now();
      const at = Math.max(now, next);
      next = at + gapMs;
      if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
      dials++;
      const dialed = await driver.dial(dialOptions, options.stepTimeoutMs);
      open.push(dialed);
      if (dialed.stage === 'http' && dialed.status === 429) {
        tooMany.push({ retryAfter: dialed.headers['retry-after'] !== undefined, detail: redactor.redact(describeDial(dialed)) });
      }
      return dialed;
    },
    hangUpAll() {
      for (const dialed of open.splice(0)) hangUp(dialed);
    },
  };
}

/** The handshake parts of a credential, merged over `overrides`. */
export function handshakeParts(credential: Credential, overrides: DialOptions, origin: string | undefined): DialOptions {
  return {
    origin,
    headers: { ...credential.headers, ...overrides.headers },
    query: { ...credential.query, ...overrides.query },
    protocols: overrides.protocols ?? credential.protocols,
    auth: credential.auth,
    ...overrides,
  };
}

export function createContext(
  options: AuditOptions,
  driver: Driver,
  dialer: Dialer,
  redactor: Redactor,
  authMode: AuthMode,
  credential: (() => Promise<Credential>) | undefined,
): ProbeContext {
  const ctx: ProbeContext = {
    options,
    driver,
    authMode,
    hasCredential: credential !== undefined,
    async credential() {
      if (credential === undefined) return undefined;
      const fresh = await credential();
      redactor.add(fresh);
      return fresh;
    },
    dial: (dialOptions) => dialer.dial(dialOptions),
    async login(cred, overrides = {}) {
      const dialed = await dialer.dial(handshakeParts(cred, overrides, 'origin' in overrides ? overrides.origin : options.origin));
      if (dialed.stage !== 'open') return { admitted: false, dialed, conn: undefined, detail: redactor.redact(describeDial(dialed)) };
      const conn = dialed.conn;
      if (authMode === 'message') {
        const answer = await conn.authenticate(cred.auth ?? {}, options.stepTimeoutMs);
        return { admitted: answer.kind === 'accepted', dialed, conn, detail: redactor.redact(`${answer.kind}: ${answer.detail}`) };
      }
      // Handshake (or no authentication at all): admitted when the connection survives a round trip.
      const alive = await conn.roundTrip(options.stepTimeoutMs);
      const detail = alive
        ? 'connected; a round trip was answered'
        : `connected, then ${conn.closed === undefined ? 'silent' : `closed (${conn.closed.code} ${conn.closed.reason})`}`;
      return { admitted: alive, dialed, conn, detail: redactor.redact(detail) };
    },
    redact: (text) => redactor.redact(text),
    finding(id, evidence, severity) {
      const entry = weakness(id);
      return {
        id,
        severity: severity ?? entry.severity,
        title: entry.title,
        evidence: { sent: redactor.redact(evidence.sent), received: redactor.redact(evidence.received) },
        fix: entry.fix,
      };
    },
  };
  return ctx;
}
