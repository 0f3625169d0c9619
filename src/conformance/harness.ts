/**
 * The transport-neutral harness of the behaviour suite (issue #4): one interface that a
 * Socket.IO and a `ws` implementation fulfil on real loopback servers, so that every
 * behaviour is written once and run over both transports. Whatever differs on the wire
 * is absorbed here or in the two implementations; each difference the suite can see is
 * one listed in PROTOCOL.md §4.3 and is declared in {@link TransportQuirks}.
 */
import type { GuardStats, RevokeTarget } from '../core/guard.js';
import type { GuardOptions } from '../core/options.js';

/** How long any wait of the suite may take before it fails, in milliseconds. */
export const WAIT_MS = 3000;

/**
 * Where credentials travel. `handshake`: the Socket.IO CONNECT `auth` / the `ws` upgrade
 * (`mode: 'upgrade'`); `message`: the `authentication` event / the `authenticate` frame.
 */
export type Mode = 'handshake' | 'message';

/** Guard options plus the transport-level ones every harness maps. */
export interface StartOptions extends GuardOptions {
  readonly mode: Mode;
  /** The adapter's Origin allowlist. @default same-origin (harness clients send no Origin unless told) */
  readonly origins?: readonly string[];
}

/**
 * Credentials that can travel with a handshake on both transports: Socket.IO sends them
 * as the CONNECT `auth`; `ws` sends `token` as a bearer subprotocol and `ticket` as
 * `?ticket=` (§4.3 #8). Anything else only travels by message.
 */
export interface HandshakeCredentials {
  token?: string;
  ticket?: string;
}

export interface ConnectOptions {
  /** Handshake credentials (handshake mode). */
  credentials?: HandshakeCredentials;
  /** Extra request headers of the handshake (`cookie`, `origin`, `x-csrf-token`). */
  headers?: Readonly<Record<string, string>>;
}

/** What the server answered to an authentication, as the client saw it. */
export type Verdict =
  | { readonly ok: true; readonly payload: Readonly<Record<string, unknown>> | undefined }
  | {
      readonly ok: false;
      readonly code: string;
      /** The fixed message, where the wire carries one (Socket.IO payloads, HTTP bodies). */
      readonly message: string | undefined;
      /** The WebSocket close code, where the refusal was a close frame. */
      readonly closeCode: number | undefined;
      /** The HTTP status, where the refusal was an HTTP response. */
      readonly status: number | undefined;
    };

export interface TestClient {
  /** Resolves once the transport is open (rejects when it closed first). */
  opened(): Promise<void>;
  /** Sends credentials by message (first authentication or refresh); queued until open. */
  authenticate(credentials: unknown): void;
  /** The next verdict not returned yet. */
  verdict(timeoutMs?: number): Promise<Verdict>;
  /** Verdicts received so far. */
  readonly verdicts: number;
  /** The next expiry warning not returned yet. */
  expiring(): Promise<{ expiresAt: number }>;
  /** Expiry warnings received so far. */
  readonly warnings: number;
  /** The next refused refresh (the connection stays) not returned yet. */
  refreshFailed(): Promise<{ code: string }>;
  /** Sends an application message. */
  sendApp(data: string): void;
  /**
   * A round trip on an open transport: resolves once the server has handled everything
   * this client sent before, and everything the server sent before has arrived. Resolves
   * at once when the transport is not open.
   */
  flush(): Promise<void>;
  /** Broadcasts received so far. */
  readonly broadcasts: number;
  untilBroadcasts(n: number): Promise<void>;
  readonly isOpen: boolean;
  /** Resolves once closed, with the refusal code that ended it or `'closed'`. */
  closed(): Promise<{ code: string }>;
  /** Everything the client received, as text (to look for leaked internals). */
  transcript(): string;
  close(): void;
}

export interface TestServer {
  /** Where clients connect (`http://…` for Socket.IO, `ws://…/` for ws). */
  readonly url: string;
  /** The Socket.IO namespace or `ws` path clients connect to (what HMAC signs). */
  readonly namespace: string;
  connect(options?: ConnectOptions): TestClient;
  /** A broadcast to every socket the application can reach (`io.emit` / `hub.broadcast`). */
  broadcast(seq: number): void;
  /** Application messages the server application received, in order. */
  readonly appMessages: readonly string[];
  untilAppMessages(n: number): Promise<void>;
  stats(): GuardStats;
  revoke(target: RevokeTarget): Promise<number>;
  /** Closes the server first (server-side disconnects), then any client left. Idempotent. */
  close(): Promise<void>;
}

/** Transport differences the suite observes, each one listed in PROTOCOL.md §4.3. */
export interface TransportQuirks {
  /**
   * §4.3 #2: the outcome of valid credentials sent after an application message from a
   * pending socket: `'ok'` where the event is dropped (Socket.IO), the refusal code where
   * the socket is closed for it (`ws`: 4401 `credentials_required`).
   */
  readonly afterPendingAppMessage: 'ok' | 'credentials_required';
}

/** Behaviours of the library that currently differ from the suite's expectation (see the lead's report). */
export type KnownBugId = 'client-leaves-during-verification' | 'shutdown-close-reason';

export interface KnownBug {
  readonly id: KnownBugId;
  /** The modes it shows in. */
  readonly modes: readonly Mode[];
  /** The `todo` reason the suite marks the behaviour with. */
  readonly reason: string;
}

export interface Harness {
  readonly name: 'socket.io' | 'ws';
  readonly quirks: TransportQuirks;
  /** Library bugs this transport shows; the matching tests run as `todo` until fixed. */
  readonly knownBugs: readonly KnownBug[];
  start(options: StartOptions): Promise<TestServer>;
}

/** Wakes waiters whenever something they may be waiting for happened. */
export class Signal {
  readonly #waiters = new Set<() => void>();

  notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves with the first defined value of `probe`, re-checked on every notification. */
  until<T>(probe: () => T | undefined, what: string, timeoutMs = WAIT_MS): Promise<T> {
    const first = probe();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const check = (): void => {
        const value = probe();
        if (value === undefined) return;
        finish();
        resolve(value);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  untilTrue(predicate: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    return this.until(() => (predicate() ? true : undefined), what, timeoutMs).then(() => undefined);
  }
}

/** A refusal verdict. */
export function refusal(code: string, wire: { message?: string; closeCode?: number; status?: number } = {}): Verdict {
  return { ok: false, code, message: wire.message, closeCode: wire.closeCode, status: wire.status };
}

/** The verdict of an HTTP refusal (`{ message, code, retryable }` body, or a bare status). */
export function httpRefusal(status: number, body: string): Verdict {
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof parsed.code === 'string') {
      return refusal(parsed.code, { status, ...(typeof parsed.message === 'string' ? { message: parsed.message } : {}) });
    }
  } catch {
    // not JSON: a bare status (§4.3 #4)
  }
  return refusal(`http_${status}`, { status });
}

/**
 * What both client implementations share: what they received, in order, and the waits
 * over it. Implementations only translate their transport's events into `record*` calls.
 */
export abstract class RecordingClient implements TestClient {
  protected readonly signal: Signal;
  readonly #verdicts: Verdict[] = [];
  readonly #expiring: number[] = [];
  readonly #refreshFailed: string[] = [];
  readonly #flushed = new Set<string>();
  readonly #text: string[] = [];
  #verdictCursor = 0;
  #expiringCursor = 0;
  #refreshFailedCursor = 0;
  #broadcasts = 0;
  #open = false;
  #wasOpen = false;
  #closedWith: string | undefined;
  #lastRefusal: string | undefined;

  constructor(signal: Signal) {
    this.signal = signal;
  }

  abstract authenticate(credentials: unknown): void;
  abstract sendApp(data: string): void;
  abstract flush(): Promise<void>;
  abstract close(): void;

  protected recordOpen(): void {
    this.#open = true;
    this.#wasOpen = true;
    this.signal.notify();
  }
  protected recordVerdict(verdict: Verdict): void {
    this.#verdicts.push(verdict);
    if (!verdict.ok) this.#lastRefusal = verdict.code;
    this.signal.notify();
  }
  protected recordExpiring(expiresAt: number): void {
    this.#expiring.push(expiresAt);
    this.signal.notify();
  }
  protected recordRefreshFailed(code: string): void {
    this.#refreshFailed.push(code);
    this.signal.notify();
  }
  protected recordBroadcast(): void {
    this.#broadcasts++;
    this.signal.notify();
  }
  protected recordFlushed(token: string): void {
    this.#flushed.add(token);
    this.signal.notify();
  }
  protected recordText(text: string): void {
    this.#text.push(text);
  }
  protected recordClosed(): void {
    this.#open = false;
    this.#closedWith ??= this.#lastRefusal ?? 'closed';
    this.signal.notify();
  }
  protected untilFlushed(token: string): Promise<void> {
    return this.signal.untilTrue(() => this.#flushed.has(token) || this.#closedWith !== undefined, 'a flush round trip');
  }

  get isOpen(): boolean {
    return this.#open;
  }
  get verdicts(): number {
    return this.#verdicts.length;
  }
  get warnings(): number {
    return this.#expiring.length;
  }
  get broadcasts(): number {
    return this.#broadcasts;
  }

  opened(): Promise<void> {
    return this.signal
      .until(() => (this.#wasOpen ? 'open' : this.#closedWith), 'the transport to open')
      .then((state) => {
        if (state !== 'open') throw new Error(`closed before opening (${state})`);
      });
  }
  async verdict(timeoutMs = WAIT_MS): Promise<Verdict> {
    const verdict = await this.signal.until(() => this.#verdicts[this.#verdictCursor], 'a verdict', timeoutMs);
    this.#verdictCursor++;
    return verdict;
  }
  async expiring(): Promise<{ expiresAt: number }> {
    const expiresAt = await this.signal.until(() => this.#expiring[this.#expiringCursor], 'an expiry warning');
    this.#expiringCursor++;
    return { expiresAt };
  }
  async refreshFailed(): Promise<{ code: string }> {
    const code = await this.signal.until(() => this.#refreshFailed[this.#refreshFailedCursor], 'a refused refresh');
    this.#refreshFailedCursor++;
    return { code };
  }
  untilBroadcasts(n: number): Promise<void> {
    return this.signal.untilTrue(() => this.#broadcasts >= n, `${n} broadcasts (have ${this.#broadcasts})`);
  }
  async closed(): Promise<{ code: string }> {
    return { code: await this.signal.until(() => this.#closedWith, 'the transport to close') };
  }
  transcript(): string {
    return this.#text.join('\n');
  }
}
