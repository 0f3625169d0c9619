/**
 * Figure 1: server CPU per handshake, library vs vanilla, a peer vs vanilla, or
 * the library vs a peer (head to head), both servers loaded at once by this
 * process, as several pairs.
 *
 * One operation is a whole connection: TCP connect, upgrade, (Engine.IO open,
 * CONNECT), credentials, verdict, and the client dropping the connection. Each
 * server's CPU window closes once it has no TCP connection left, so the work of
 * tearing the connection down is counted too.
 */

import { connect, userAddress } from '../lib/attempt.js';
import { type CredentialSource, credentialsFor, presentedTo, type ServerSpec, startSpec } from '../lib/cases.js';
import { type ServerHandle, stopAll } from '../lib/children.js';
import type { KeyMaterial } from '../lib/credentials.js';
import { cpuWindow, interleave } from '../lib/load.js';
import { type Spread, spread } from '../lib/stats.js';
import type { AuthMode, StrategyName, Transport, Variant } from '../servers/protocol.js';

export interface HandshakeCase {
  readonly transport: Transport;
  readonly strategy: StrategyName;
  readonly mode: AuthMode;
  /** The reference server (numerator of the ratio). */
  readonly reference: Variant;
  /** The server under test (denominator). */
  readonly subject: Variant;
}

export interface HandshakeOptions {
  /** Measured pairs. */
  readonly pairs: number;
  /** Handshakes per server per pair. */
  readonly perPair: number;
  /** Handshakes per server before the first pair (not measured). */
  readonly warmup: number;
  /** Connections in flight per server. */
  readonly concurrency: number;
}

export interface HandshakeResult {
  readonly case: HandshakeCase;
  /** reference µs per op / subject µs per op, one per pair. */
  readonly ratios: number[];
  readonly ratio: Spread;
  /** Server CPU per handshake, µs. */
  readonly referenceUs: Spread;
  readonly subjectUs: Spread;
}

export function caseLabel(c: HandshakeCase): string {
  return `${c.transport} ${c.strategy} ${c.mode} (${c.subject} vs ${c.reference})`;
}

/** One handshake against `server`: connect, authenticate, drop. Returns the refusal code or `ok`. */
async function once(c: HandshakeCase, server: ServerHandle, i: number, auth: Readonly<Record<string, unknown>>): Promise<string> {
  const client = await connect({
    transport: c.transport,
    base: server.base,
    flow: c.mode === 'message' ? 'message' : 'handshake',
    auth,
    localAddress: userAddress(i),
  });
  client.terminate();
  return client.code;
}

/**
 * Runs `n` handshakes on each server, interleaved (see `interleave`). Throws
 * unless every handshake succeeds.
 */
async function interleaved(
  c: HandshakeCase,
  servers: readonly ServerHandle[],
  auths: readonly CredentialSource[],
  n: number,
  concurrency: number,
): Promise<void> {
  const failures = new Map<string, number>();
  await interleave(servers.length, n, concurrency, async (side, i) => {
    const server = servers[side] as ServerHandle;
    const code = await once(c, server, i, (auths[side] as CredentialSource)(i));
    if (code !== 'ok') failures.set(`${server.name}:${code}`, (failures.get(`${server.name}:${code}`) ?? 0) + 1);
  });
  if (failures.size > 0) throw new Error(`handshakes failed: ${JSON.stringify(Object.fromEntries(failures))}`);
}

export async function runHandshakeCase(c: HandshakeCase, keys: KeyMaterial, o: HandshakeOptions): Promise<HandshakeResult> {
  const specOf = (variant: Variant): ServerSpec => ({ transport: c.transport, variant, strategy: c.strategy, mode: c.mode });
  let ref: ServerHandle | undefined;
  let sub: ServerHandle | undefined;
  try {
    [ref, sub] = await Promise.all([
      startSpec(specOf(c.reference), keys, `${c.reference}-a`),
      startSpec(specOf(c.subject), keys, `${c.subject}-b`),
    ]);
    const a = ref;
    const b = sub;
    const creds = await credentialsFor(c.strategy, keys);
    const idle = [(s: { tcp: number }) => s.tcp === 0, (s: { tcp: number }) => s.tcp === 0];
    const round = async (n: number): Promise<[number, number]> => {
      const [authA, authB] = await Promise.all([
        creds.prepare(a, n).then((s) => presentedTo(c.reference, s)),
        creds.prepare(b, n).then((s) => presentedTo(c.subject, s)),
      ]);
      const [ca, cb] = await cpuWindow([a, b], () => interleaved(c, [a, b], [authA, authB], n, o.concurrency), idle);
      return [(ca as { cpuUs: number }).cpuUs / n, (cb as { cpuUs: number }).cpuUs / n];
    };
    await round(o.warmup);
    const ratios: number[] = [];
    const aUs: number[] = [];
    const bUs: number[] = [];
    for (let p = 0; p < o.pairs; p++) {
      const [ua, ub] = await round(o.perPair);
      aUs.push(ua);
      bUs.push(ub);
      ratios.push(ua / ub);
    }
    return { case: c, ratios, ratio: spread(ratios), referenceUs: spread(aUs), subjectUs: spread(bUs) };
  } finally {
    await stopAll([ref, sub]);
  }
}
