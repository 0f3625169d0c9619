/**
 * One-time tickets. The web app, which already knows the user (session, bearer
 * token), issues a short-lived random ticket over HTTP; the socket presents it
 * once. Redemption is one atomic `getAndDelete`, so a ticket admits at most one
 * connection across a cluster sharing the store.
 *
 * Only the SHA-256 of a ticket is stored (`ticket:<hex>`), so a store dump does
 * not reveal redeemable tickets. Because a ticket is single use and lives for
 * seconds, it may also travel in the query string (`?ticket=`), which is what
 * browsers' `WebSocket` can send during the upgrade.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { normalizeIp } from '../core/ip.js';
import type { AuthContext, Principal, Store, Strategy } from '../core/types.js';
import { AuthError, isAuthError } from '../errors.js';
import { headerValue, isBase64Url, normalizeOrigin, positiveNumber, queryParam, sha256Hex, storeOp, viaStore } from './shared.js';

/** A ticket is 32 random bytes, base64url without padding. */
const TICKET_CHARS = 43;
const KEY_PREFIX = 'ticket:';

export interface TicketIssuerOptions {
  /** Where tickets are kept. Must be the store the guard redeems from (share a Redis store in a cluster). */
  store: Store;
  /** How long a ticket stays redeemable, in seconds. @default 30 */
  ttlSec?: number;
  /** Whether a ticket is bound to the IP it was issued to (`issue(..., { ip })` becomes required). @default false */
  bindIp?: boolean;
  /** Whether a ticket is bound to the Origin it was issued to (`issue(..., { origin })` becomes required). @default false */
  bindOrigin?: boolean;
  /** Clock used for `expiresAt`. @default the system clock */
  clock?: Clock;
}

/** Where the ticket is being issued to (the HTTP request asking for it). */
export interface TicketBinding {
  /** The client IP; required when the issuer binds IPs. */
  ip?: string;
  /** The `Origin` of the request; required when the issuer binds origins. */
  origin?: string;
}

/** A fresh ticket. */
export interface IssuedTicket {
  /** The ticket to present once (as `auth.ticket` or `?ticket=`). */
  ticket: string;
  /** When the ticket stops being redeemable, in epoch milliseconds. */
  expiresAt: number;
}

export interface TicketIssuer {
  /**
   * Stores a new ticket for `principal` (which must be JSON-serialisable) and returns it.
   * The redeemed principal's `issuedAt` is the ticket's issue time.
   */
  issue(principal: Principal, binding?: TicketBinding): Promise<IssuedTicket>;
}

/** What the store holds under `ticket:<sha256(ticket)>`. */
interface TicketRecord {
  principal: Principal;
  expiresAt: number;
  ip?: string;
  origin?: string;
}

/** Creates a ticket issuer. */
export function createTicketIssuer(options: TicketIssuerOptions): TicketIssuer {
  if (typeof options !== 'object' || options === null) throw new TypeError('portcullis: ticket issuer options must be an object');
  const { store } = options;
  if (typeof store?.set !== 'function') throw new TypeError('portcullis: ticket issuer needs a `store`');
  const ttlMs = positiveNumber('ttlSec', options.ttlSec ?? 30) * 1000;
  const bindIp = options.bindIp ?? false;
  const bindOrigin = options.bindOrigin ?? false;
  const clock = options.clock ?? systemClock;
  return {
    async issue(principal, binding = {}) {
      if (typeof principal !== 'object' || principal === null || typeof principal.id !== 'string' || principal.id === '') {
        throw new TypeError('portcullis: a ticket needs a principal with a non-empty string id');
      }
      const now = clock.now();
      // The ticket is a fresh credential: its issue time is now (a revocation before this does not refuse it).
      const record: TicketRecord = { principal: { ...principal, issuedAt: now }, expiresAt: now + ttlMs };
      if (bindIp) {
        if (typeof binding.ip !== 'string' || binding.ip === '') throw new TypeError('portcullis: this issuer binds tickets to an ip');
        record.ip = normalizeIp(binding.ip);
      }
      if (bindOrigin) {
        const origin = typeof binding.origin === 'string' ? normalizeOrigin(binding.origin) : undefined;
        if (origin === undefined) throw new TypeError('portcullis: this issuer binds tickets to an http(s) origin');
        record.origin = origin;
      }
      const ticket = randomBytes(32).toString('base64url');
      const stored = await viaStore('ticket', (s) => s.setIfAbsent(KEY_PREFIX + sha256Hex(ticket), JSON.stringify(record), ttlMs), store);
      // 256 random bits do not collide; a false here means the store is misbehaving.
      if (!stored) throw new AuthError('internal_error', { detail: 'ticket: key collision' });
      return { ticket, expiresAt: record.expiresAt };
    },
  };
}

export interface TicketHandlerOptions {
  /**
   * Who asks for the ticket, from the HTTP request (session cookie, bearer token…);
   * `null` answers 401. May be async.
   */
  getPrincipal: (req: IncomingMessage) => Principal | null | Promise<Principal | null>;
  /**
   * The client IP passed to the issuer (used when it binds IPs). Behind a reverse
   * proxy, return the address your framework resolved from trusted proxies.
   * @default `req.socket.remoteAddress`
   */
  getIp?: (req: IncomingMessage) => string | undefined;
}

function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(json)),
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    ...extra,
  });
  res.end(json);
}

/**
 * An HTTP handler issuing tickets: POST answers `200 { ticket, expiresAt }`, 401
 * when `getPrincipal` returns null, 405 for other methods; every answer carries
 * `Cache-Control: no-store`. Works with `http.createServer`, Express
 * (`app.post(path, handler)`) and Fastify (`(req, reply) => handler(req.raw, reply.raw)`).
 */
export function createTicketHandler(
  issuer: TicketIssuer,
  options: TicketHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  if (typeof issuer?.issue !== 'function') throw new TypeError('portcullis: ticket handler needs an issuer');
  if (typeof options?.getPrincipal !== 'function') throw new TypeError('portcullis: ticket handler needs `getPrincipal`');
  const getIp = options.getIp ?? ((req: IncomingMessage) => req.socket.remoteAddress);
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'POST') {
      send(res, 405, { message: 'Method not allowed', code: 'invalid_request', retryable: false }, { Allow: 'POST' });
      return;
    }
    let error: AuthError;
    try {
      const principal = await options.getPrincipal(req);
      if (principal === null || principal === undefined) {
        send(res, 401, new AuthError('credentials_required').toJSON());
        return;
      }
      const binding: TicketBinding = {};
      const ip = getIp(req);
      const origin = headerValue(req.headers.origin);
      if (ip !== undefined) binding.ip = ip;
      if (origin !== undefined) binding.origin = origin;
      const { ticket, expiresAt } = await issuer.issue(principal, binding);
      send(res, 200, { ticket, expiresAt });
      return;
    } catch (err) {
      // A TypeError from a binding the request cannot satisfy (no Origin header) is the client's fault.
      error = isAuthError(err)
        ? err
        : err instanceof TypeError && /binds tickets/.test(err.message)
          ? new AuthError('invalid_request', { detail: 'ticket: request cannot be bound' })
          : new AuthError('internal_error', { cause: err });
    }
    if (!res.headersSent)
      send(res, error.status, error.toJSON(), error.retryAfter === undefined ? {} : { 'Retry-After': String(error.retryAfter) });
    else res.destroy();
  };
  return (req, res) => {
    void handle(req, res);
  };
}

export interface TicketStrategyOptions {
  /** Where tickets are redeemed from. @default the guard's store (`context.store`) */
  store?: Store;
  /** The credentials field holding the ticket. @default 'ticket' */
  field?: string;
  /** The query parameter of the upgrade URL holding the ticket; `false` disables it. @default 'ticket' */
  queryParam?: string | false;
}

/** Creates a strategy that redeems one-time tickets. */
export function createTicketStrategy(options: TicketStrategyOptions = {}): Strategy {
  const field = options.field ?? 'ticket';
  const param = options.queryParam ?? 'ticket';
  if (typeof field !== 'string' || field === '') throw new TypeError('portcullis: ticket `field` must be a non-empty string');
  if (param !== false && (typeof param !== 'string' || param === '')) {
    throw new TypeError('portcullis: ticket `queryParam` must be a non-empty string or false');
  }
  if (options.store !== undefined && typeof options.store.getAndDelete !== 'function') {
    throw new TypeError('portcullis: ticket `store` must implement getAndDelete');
  }
  /** Checks a redeemed record (the store read is already done). */
  const redeem = (raw: string | undefined, context: AuthContext): Principal => {
    if (raw === undefined) throw new AuthError('invalid_credentials', { detail: 'ticket: unknown, used or expired' });
    let record: TicketRecord;
    try {
      record = JSON.parse(raw) as TicketRecord;
    } catch (cause) {
      throw new AuthError('internal_error', { cause, detail: 'ticket: stored record is not JSON' });
    }
    if (typeof record?.principal?.id !== 'string' || typeof record.expiresAt !== 'number') {
      throw new AuthError('internal_error', { detail: 'ticket: stored record is malformed' });
    }
    if (record.expiresAt <= context.clock.now()) throw new AuthError('invalid_credentials', { detail: 'ticket: expired' });
    if (record.ip !== undefined && record.ip !== normalizeIp(context.ip)) {
      throw new AuthError('invalid_credentials', { detail: 'ticket: bound to another IP' });
    }
    if (record.origin !== undefined) {
      const origin = context.origin === undefined ? undefined : normalizeOrigin(context.origin);
      if (origin !== record.origin) throw new AuthError('invalid_credentials', { detail: 'ticket: bound to another Origin' });
    }
    return record.principal;
  };

  return {
    name: 'ticket',
    // Not `async`: with an in-process store the whole redemption happens at once.
    authenticate(credentials, context) {
      let ticket: unknown = credentials[field];
      // The URL's ticket belongs to the handshake: it was redeemed then, and a later
      // message or refresh on the same connection must be judged on what it sends.
      if ((ticket === undefined || ticket === null) && param !== false && context.phase === 'handshake')
        ticket = queryParam(context.url, param);
      if (ticket === undefined) return null;
      if (typeof ticket !== 'string') throw new AuthError('invalid_request', { detail: 'ticket: not a string' });
      if (!isBase64Url(ticket, TICKET_CHARS, TICKET_CHARS)) throw new AuthError('invalid_credentials', { detail: 'ticket: malformed' });
      const key = KEY_PREFIX + sha256Hex(ticket);
      const raw = storeOp(
        'ticket',
        options.store ?? context.store,
        (s) => s.getAndDelete(key),
        (s) => s.getAndDelete(key),
      );
      return raw instanceof Promise ? raw.then((r) => redeem(r, context)) : redeem(raw, context);
    },
  };
}
