/**
 * Probes of the transport and the budgets: plain text off loopback, how many silent
 * connections one address may hold, and whether a 429 says when to come back.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type ProbeContext, result, skipped } from './context.js';
import { type Dialed, describeDial, hangUp } from './drivers.js';
import type { ProbeResult } from './model.js';

/** Loopback: 127.0.0.0/8, ::1, and IPv4-mapped loopback. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.') || a === 'localhost';
}

export async function probePlaintext(ctx: ProbeContext): Promise<ProbeResult> {
  const url = new URL(ctx.options.url);
  if (url.protocol === 'https:' || url.protocol === 'wss:') return result('plaintext', [], `${url.protocol}// is encrypted`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch {
      return skipped('plaintext', `${host} does not resolve`);
    }
  }
  const exposed = addresses.filter((a) => !isLoopback(a));
  if (exposed.length === 0) return result('plaintext', [], `plain ${url.protocol}// on loopback only (${addresses.join(', ')})`);
  return result(
    'plaintext',
    [
      ctx.finding('transport.plaintext', {
        sent: `nothing: the URL is ${url.protocol}//${url.host}`,
        received: `${host} resolves to ${exposed.join(', ')} (not loopback)`,
      }),
    ],
    '',
  );
}

/** Opens silent connections up to `--max-connections`, at `--rate`, stopping at the first refusal. */
export async function probePendingLimit(ctx: ProbeContext): Promise<ProbeResult> {
  const { maxConnections, origin } = ctx.options;
  const held: Dialed[] = [];
  let refusal: Dialed | undefined;
  try {
    for (let i = 0; i < maxConnections; i++) {
      // Handshake mode: idle Engine.IO connections; otherwise sockets left pending.
      const dialed = await ctx.dial({ origin, transportOnly: ctx.authMode === 'handshake', auth: undefined });
      if (dialed.stage !== 'open' || dialed.conn.closed !== undefined) {
        refusal = dialed;
        break;
      }
      held.push(dialed);
    }
  } finally {
    for (const dialed of held) hangUp(dialed);
  }
  if (refusal !== undefined) {
    hangUp(refusal);
    return result('pending-limit', [], ctx.redact(`connection ${held.length + 1} was refused: ${describeDial(refusal)}`));
  }
  return result(
    'pending-limit',
    [
      ctx.finding('limits.pending-unbounded', {
        sent: `${maxConnections} connections from one address that never authenticate`,
        received: `all ${maxConnections} were accepted and held (the limit, if any, is above --max-connections)`,
      }),
    ],
    '',
  );
}

/** Looks at every 429 the audit saw. Runs last. */
export function probeRetryAfter(ctx: ProbeContext, tooMany: readonly { retryAfter: boolean; detail: string }[]): ProbeResult {
  if (tooMany.length === 0) return skipped('retry-after', 'no 429 was seen');
  const bare = tooMany.filter((t) => !t.retryAfter);
  if (bare.length === 0) return result('retry-after', [], `${tooMany.length} 429 response(s), each with Retry-After`);
  return result(
    'retry-after',
    [
      ctx.finding('limits.retry-after-missing', {
        sent: 'connections during the audit',
        received: `${bare.length} of ${tooMany.length} 429 response(s) without Retry-After: ${bare[0]?.detail ?? ''}`,
      }),
    ],
    '',
  );
}
