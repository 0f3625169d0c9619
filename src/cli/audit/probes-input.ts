/**
 * Probes of what a client sends: credentials where they leak (URL query, an echoed
 * subprotocol), payloads too large or too deep, answers that tell users apart, and
 * credentials that outlive their expiry.
 */
import { randomBytes } from 'node:crypto';
import { type ProbeContext, result, skipped } from './context.js';
import { type AuthAnswer, type Dialed, describeDial, hangUp } from './drivers.js';
import { type Finding, jwtExpiry, type ProbeResult, tokenOf } from './model.js';

/** About 1 MB: just under Socket.IO's default `maxHttpBufferSize` (1e6 bytes), so a server on defaults is caught. */
export const OVERSIZED_BYTES = 1_000_000 - 1024;
const NEST_DEPTH = 64;

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

export async function probeQueryCredentials(ctx: ProbeContext): Promise<ProbeResult> {
  const credential = await ctx.credential();
  const token = credential === undefined ? undefined : tokenOf(credential);
  if (token === undefined) return skipped('credentials-in-query', 'needs a credential with a token (`auth.token`)');
  if (ctx.authMode !== 'handshake')
    return skipped('credentials-in-query', 'the target authenticates after connecting: a query token would not show');
  const dialed = await ctx.dial({ origin: ctx.options.origin, query: { token }, headers: {}, auth: undefined });
  const alive = dialed.stage === 'open' && (await dialed.conn.roundTrip(ctx.options.stepTimeoutMs));
  hangUp(dialed);
  if (alive) {
    return result(
      'credentials-in-query',
      [
        ctx.finding('credentials.in-query', {
          sent: `?token=${token} and no other credential`,
          received: 'connected; a round trip was answered',
        }),
      ],
      '',
    );
  }
  return result('credentials-in-query', [], ctx.redact(`?token= refused: ${describeDial(dialed)}`));
}

export async function probeSubprotocol(ctx: ProbeContext): Promise<ProbeResult> {
  if (ctx.driver.name !== 'ws') return skipped('subprotocol', 'Socket.IO clients offer no subprotocol');
  const credential = (await ctx.credential()) ?? {};
  const bearer = 'portcullis.bearer.portcullis-audit-probe';
  const dialed = await ctx.dial({ origin: ctx.options.origin, headers: credential.headers, query: credential.query, protocols: [bearer] });
  hangUp(dialed);
  if (dialed.stage !== 'open') return result('subprotocol', [], ctx.redact(`the upgrade was refused: ${describeDial(dialed)}`));
  const selected = dialed.conn.protocol;
  if (selected.includes('bearer')) {
    return result(
      'subprotocol',
      [
        ctx.finding('credentials.subprotocol-echoed', {
          sent: `Sec-WebSocket-Protocol: ${bearer}`,
          received: `101 with Sec-WebSocket-Protocol: ${selected}`,
        }),
      ],
      '',
    );
  }
  return result('subprotocol', [], `101 with Sec-WebSocket-Protocol: ${selected === '' ? '(none)' : selected}`);
}

/** Sends `auth` as an authentication (CONNECT payload, or a message after connecting) and says what came back. */
async function tryAuth(ctx: ProbeContext, auth: unknown, rawJson: string | undefined): Promise<{ answer: AuthAnswer; dialed: Dialed }> {
  const credential = (await ctx.credential()) ?? {};
  const handshake = { origin: ctx.options.origin, headers: credential.headers, query: credential.query, protocols: credential.protocols };
  if (ctx.authMode !== 'message' && ctx.driver.name === 'socket.io') {
    const dialed = await ctx.dial({ ...handshake, auth, rawAuth: rawJson });
    if (dialed.stage === 'open') return { dialed, answer: { kind: 'accepted', detail: 'connected' } };
    if (dialed.stage === 'refused') return { dialed, answer: { kind: 'refused', detail: describeDial(dialed) } };
    return { dialed, answer: { kind: 'closed', detail: describeDial(dialed) } };
  }
  const dialed = await ctx.dial(handshake);
  if (dialed.stage !== 'open') return { dialed, answer: { kind: 'closed', detail: `no connection: ${describeDial(dialed)}` } };
  return { dialed, answer: await dialed.conn.authenticate(auth, ctx.options.stepTimeoutMs) };
}

/** True when a refusal names `invalid_request` (the server recognised the payload as malformed). */
const malformedRefusal = (answer: AuthAnswer): boolean => /invalid_request|4400|too large|too deep/i.test(answer.detail);

export async function probePayloads(ctx: ProbeContext): Promise<ProbeResult> {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const credential = await ctx.credential();
  const base = credential?.auth ?? {};
  const auths = ctx.driver.name === 'ws' && ctx.authMode !== 'message' ? [] : (['oversized', 'nested'] as const);
  for (const kind of auths) {
    const payload = kind === 'oversized' ? { ...base, padding: 'x'.repeat(OVERSIZED_BYTES) } : { ...base, deep: nested(NEST_DEPTH) };
    const { answer, dialed } = await tryAuth(ctx, payload, undefined);
    hangUp(dialed);
    const sent = kind === 'oversized' ? `an auth payload of ${OVERSIZED_BYTES} bytes` : `an auth payload nested ${NEST_DEPTH} deep`;
    const id = kind === 'oversized' ? 'payload.oversized' : 'payload.nested';
    if (answer.kind === 'accepted') {
      findings.push(
        ctx.finding(
          id,
          { sent: `${sent}, around the credential`, received: `admitted: ${answer.detail}` },
          kind === 'oversized' ? 'medium' : 'low',
        ),
      );
    } else if (answer.kind === 'refused' && !malformedRefusal(answer)) {
      findings.push(ctx.finding(id, { sent, received: `parsed and handed to the authentication code: ${answer.detail}` }, 'low'));
    } else notes.push(`${kind} auth payload: ${answer.kind} (${answer.detail})`);
  }
  if (credential !== undefined) {
    const login = await ctx.login(credential);
    if (login.admitted && login.conn !== undefined) {
      login.conn.emitLarge('portcullis-audit', OVERSIZED_BYTES);
      const alive = await login.conn.roundTrip(ctx.options.stepTimeoutMs * 2);
      if (alive || login.conn.overflowed) {
        const received = alive
          ? 'the connection stayed open; a round trip was answered'
          : 'the server sent it back (the audit stops reading a connection after 256 KiB)';
        findings.push(
          ctx.finding('payload.oversized', { sent: `an application message of ${OVERSIZED_BYTES} bytes after authenticating`, received }),
        );
      } else notes.push('after authentication, a 1 MB message closed the connection');
    } else notes.push(`the credential was not admitted (${login.detail})`);
    hangUp(login.dialed);
  }
  return result('payloads', findings, ctx.redact(notes.join('; ')));
}

export async function probeOracle(ctx: ProbeContext): Promise<ProbeResult> {
  const username = ctx.options.username;
  if (username === undefined) return skipped('error-oracle', 'needs --username');
  const password = 'portcullis-audit-wrong-password';
  const unknown = `portcullis-audit-nobody-${randomBytes(4).toString('hex')}`;
  const known = await tryAuth(ctx, { username, password }, undefined);
  hangUp(known.dialed);
  const other = await tryAuth(ctx, { username: unknown, password }, undefined);
  hangUp(other.dialed);
  const a = known.answer.detail.split(username).join('<user>');
  const b = other.answer.detail.split(unknown).join('<user>');
  if (a !== b || known.answer.kind !== other.answer.kind) {
    return result(
      'error-oracle',
      [
        ctx.finding('oracle.user-enumeration', {
          sent: `{ username: "${username}", password: <wrong> } and { username: "${unknown}", … }`,
          received: `"${known.answer.detail}" vs "${other.answer.detail}"`,
        }),
      ],
      '',
    );
  }
  return result('error-oracle', [], `both answered: ${a}`);
}

export async function probeExpiry(ctx: ProbeContext): Promise<ProbeResult> {
  const credential = await ctx.credential();
  const expiresAt = jwtExpiry(credential === undefined ? undefined : tokenOf(credential));
  if (credential === undefined || expiresAt === undefined) return skipped('expiry', 'needs a credential whose token is a JWT with `exp`');
  const waitMs = expiresAt - Date.now();
  if (waitMs > ctx.options.maxExpiryWaitMs)
    return skipped('expiry', `the credential expires in ${Math.round(waitMs / 1000)} s, beyond --max-expiry-wait`);
  if (waitMs <= 0) return skipped('expiry', 'the credential has already expired');
  const findings: Finding[] = [];
  const notes: string[] = [];
  const [kept, refreshing] = [await ctx.login(credential), await ctx.login(credential)];
  if (!kept.admitted || kept.conn === undefined) return skipped('expiry', `the credential was not admitted (${kept.detail})`);
  // The refresh path: fresh credentials on an open connection.
  if (refreshing.conn !== undefined && refreshing.admitted) {
    const fresh = (await ctx.credential()) ?? credential;
    const answer = await refreshing.conn.authenticate(fresh.auth ?? {}, ctx.options.stepTimeoutMs);
    if (answer.kind !== 'accepted') {
      findings.push(
        ctx.finding('expiry.no-refresh', {
          sent: 'fresh credentials on the open connection',
          received: `${answer.kind}: ${answer.detail}`,
        }),
      );
    } else notes.push('a refresh on the open connection was accepted');
  }
  hangUp(refreshing.dialed);
  const closed = await kept.conn.untilClosed(Math.max(0, expiresAt - Date.now()) + 2000);
  if (closed === undefined && (await kept.conn.roundTrip(ctx.options.stepTimeoutMs))) {
    findings.push(
      ctx.finding('expiry.not-enforced', {
        sent: 'a credential expiring during the audit, then a round trip after its expiry',
        received: `still open ${Math.round((Date.now() - expiresAt) / 1000)} s after expiry`,
      }),
    );
  } else notes.push(`closed at expiry${closed === undefined ? '' : ` (${closed.code} ${closed.reason})`}`);
  hangUp(kept.dialed);
  return result('expiry', findings, ctx.redact(notes.join('; ')));
}
