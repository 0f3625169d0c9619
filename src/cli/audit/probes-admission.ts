/**
 * Probes of admission: who may open a connection (Origin), how long a connection may
 * stay without authenticating, what a pending connection can see or reach, and how many
 * attempts one connection gets.
 */
import type { WeaknessId } from '../../catalogue.js';
import { type ProbeContext, result, skipped } from './context.js';
import { type AuthAnswer, type Conn, describeDial, hangUp } from './drivers.js';
import type { Finding, ProbeResult } from './model.js';

export const FOREIGN_ORIGIN = 'https://portcullis-audit.invalid';

/** Origins that only a prefix, suffix or substring check would confuse with `origin`. */
export function lookalikes(origin: string): string[] {
  const url = new URL(origin);
  const port = url.port === '' ? '' : `:${url.port}`;
  return [`${url.protocol}//${url.hostname}.portcullis-audit.invalid${port}`, `${url.protocol}//portcullis-audit-${url.hostname}${port}`];
}

/** Whether the transport itself was accepted (an upgrade happened), whatever the namespace said. */
function transportAccepted(stage: string): boolean {
  return stage === 'open' || stage === 'refused';
}

export async function probeOrigin(ctx: ProbeContext): Promise<ProbeResult> {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const cases: [WeaknessId, string][] = [
    ['origin.foreign-accepted', FOREIGN_ORIGIN],
    ['origin.null-accepted', 'null'],
    ...(ctx.options.origin === undefined
      ? []
      : lookalikes(ctx.options.origin).map((o): [WeaknessId, string] => ['origin.lookalike-accepted', o])),
  ];
  const credential = await ctx.credential();
  for (const [id, origin] of cases) {
    if (credential !== undefined) {
      const login = await ctx.login(credential, { origin });
      hangUp(login.dialed);
      if (login.admitted) {
        findings.push(ctx.finding(id, { sent: `Origin: ${origin}, with the credential`, received: `admitted: ${login.detail}` }));
        continue;
      }
      if (login.dialed.stage === 'http') {
        notes.push(`${origin}: ${login.detail}`);
        continue;
      }
    }
    const dialed = await ctx.dial({ origin, auth: undefined });
    hangUp(dialed);
    if (transportAccepted(dialed.stage)) {
      const severity = id === 'origin.null-accepted' ? 'low' : 'medium';
      findings.push(
        ctx.finding(
          id,
          {
            sent: `Origin: ${origin}${credential === undefined ? '' : ' (the credential was refused from there)'}`,
            received: `the connection was upgraded: ${describeDial(dialed)}`,
          },
          credential === undefined ? severity : 'low',
        ),
      );
    } else notes.push(`${origin}: ${ctx.redact(describeDial(dialed))}`);
  }
  // Origin not required: a handshake without Origin.
  const bare =
    credential === undefined
      ? await ctx.dial({ origin: undefined, auth: undefined })
      : (await ctx.login(credential, { origin: undefined })).dialed;
  hangUp(bare);
  if (transportAccepted(bare.stage)) {
    findings.push(ctx.finding('origin.not-required', { sent: 'no Origin header', received: ctx.redact(describeDial(bare)) }));
  }
  return result('origin', findings, notes.length === 0 ? 'every probed origin was accepted' : `refused: ${notes.join('; ')}`);
}

/**
 * Opens a connection that never authenticates (on Socket.IO: one without any CONNECT, one
 * with a CONNECT without credentials) and checks it is closed within `--deadline`.
 */
export async function probeDeadline(ctx: ProbeContext): Promise<ProbeResult> {
  const { deadlineMs, stepTimeoutMs, origin } = ctx.options;
  const variants =
    ctx.driver.name === 'socket.io'
      ? [
          { what: 'an Engine.IO connection that sends nothing', dial: { origin, transportOnly: true } },
          { what: 'a CONNECT without credentials, then silence', dial: { origin, auth: undefined } },
        ]
      : [{ what: 'an upgraded connection that sends nothing', dial: { origin } }];
  const dials = await Promise.all(variants.map((v) => ctx.dial(v.dial)));
  const findings: Finding[] = [];
  const notes: string[] = [];
  await Promise.all(
    dials.map(async (dialed, i) => {
      const what = variants[i]?.what ?? '';
      const session = dialed.stage === 'open' ? dialed.conn : dialed.stage === 'refused' ? dialed.session : undefined;
      if (session === undefined) {
        notes.push(`${what}: ${ctx.redact(describeDial(dialed))}`);
        return;
      }
      const closed = await session.untilClosed(deadlineMs);
      if (closed !== undefined) {
        notes.push(`${what}: closed before ${deadlineMs} ms (${closed.code} ${closed.reason})`.trim());
        return;
      }
      const alive = await session.roundTrip(stepTimeoutMs);
      session.close();
      if (alive) {
        findings.push(
          ctx.finding('deadline.missing', {
            sent: `${what}${dialed.stage === 'refused' ? ` (refused: ${dialed.message})` : ''}`,
            received: `still open after ${deadlineMs} ms; a round trip was answered`,
          }),
        );
      } else notes.push(`${what}: closed by ${deadlineMs} ms`);
    }),
  );
  return result('deadline', findings, notes.join('; '));
}

/** A pending connection listens while an admitted one makes the server talk; with `--emit`, it also tries a handler. */
export async function probeIsolation(ctx: ProbeContext): Promise<ProbeResult> {
  if (ctx.authMode === 'handshake') return skipped('isolation', 'credentials are checked at the handshake: no connection is ever pending');
  if (!ctx.hasCredential && ctx.options.emit === undefined)
    return skipped('isolation', 'needs a credential (broadcasts) or --emit (handlers)');
  const pendingDial = await ctx.dial({ origin: ctx.options.origin, auth: undefined });
  if (pendingDial.stage !== 'open')
    return skipped('isolation', `no pending connection could be opened: ${ctx.redact(describeDial(pendingDial))}`);
  const pending = pendingDial.conn;
  const findings: Finding[] = [];
  const notes: string[] = [];
  const event = ctx.options.emit;
  const credential = await ctx.credential();
  if (credential !== undefined) {
    const member = await ctx.login(credential);
    if (member.admitted && member.conn !== undefined) {
      if (event !== undefined) await member.conn.emit(event, 'portcullis-audit', ctx.options.stepTimeoutMs);
      await member.conn.roundTrip(ctx.options.stepTimeoutMs);
      await pending.roundTrip(ctx.options.stepTimeoutMs);
      const got = pending.appMessages();
      if (got > 0) {
        findings.push(
          ctx.finding('isolation.pending-broadcast', {
            sent: `a pending connection, then an admitted one${event === undefined ? '' : ` emitting "${event}"`}`,
            received: `the pending connection received ${got} application message(s): ${pending.describeReceived()}`,
          }),
        );
      } else notes.push('the pending connection received nothing while a member joined');
      hangUp(member.dialed);
    } else notes.push(`the credential was not admitted (${member.detail}): broadcasts not checked`);
  } else notes.push('no credential: broadcasts not checked');
  if (event !== undefined && pending.closed === undefined) {
    const acked = await pending.emit(event, 'portcullis-audit', ctx.options.stepTimeoutMs);
    if (acked) {
      findings.push(
        ctx.finding('isolation.pending-handler', {
          sent: `"${event}" from a pending connection${ctx.driver.name === 'socket.io' ? ' with an ack' : ''}`,
          received: `answered: ${pending.describeReceived()}`,
        }),
      );
    } else notes.push(`"${event}" from the pending connection got no answer`);
  }
  pending.close();
  return result('isolation', findings, notes.join('; '));
}

const ATTEMPTS = 20;
const BOGUS = { token: 'portcullis-audit-not-a-credential' };

/** Invalid credentials, again and again, on one connection. */
export async function probeAttempts(ctx: ProbeContext): Promise<ProbeResult> {
  const { origin, stepTimeoutMs } = ctx.options;
  const io = ctx.driver.name === 'socket.io';
  if (!io && ctx.authMode !== 'message')
    return skipped('attempts', 'credentials travel with the upgrade: each attempt costs a new connection');
  const dialed = await ctx.dial({ origin, transportOnly: io && ctx.authMode === 'handshake', auth: undefined });
  if (dialed.stage !== 'open') return skipped('attempts', `no connection: ${ctx.redact(describeDial(dialed))}`);
  const conn = dialed.conn;
  let refused = 0;
  let last = '';
  for (let i = 0; i < ATTEMPTS && conn.closed === undefined; i++) {
    const answer = io && ctx.authMode === 'handshake' ? await connectAttempt(conn, ctx) : await conn.authenticate(BOGUS, stepTimeoutMs);
    if (answer.kind !== 'refused') {
      last = `${answer.kind}: ${answer.detail}`;
      break;
    }
    refused++;
    last = answer.detail;
  }
  const alive = conn.closed === undefined && (await conn.roundTrip(stepTimeoutMs));
  conn.close();
  const what =
    io && ctx.authMode === 'handshake' ? 'CONNECT packets' : ctx.driver.name === 'ws' ? '`authenticate` frames' : '`authentication` events';
  if (refused >= ATTEMPTS && alive) {
    return result(
      'attempts',
      [
        ctx.finding('attempts.unbounded', {
          sent: `${ATTEMPTS} ${what} with invalid credentials on one connection`,
          received: `${refused} refusals (last: ${ctx.redact(last)}); the connection stayed open`,
        }),
      ],
      '',
    );
  }
  if (refused === 0 && last.startsWith('silent')) return skipped('attempts', `the server does not answer ${what}`);
  return result('attempts', [], ctx.redact(`after ${refused} refused ${what}: ${alive ? 'open' : 'closed'} (${last})`));
}

/** One CONNECT with bogus credentials on the probe's Engine.IO connection. */
function connectAttempt(conn: Conn, ctx: ProbeContext): Promise<AuthAnswer> {
  return conn.connectAgain === undefined
    ? Promise.resolve({ kind: 'silent', detail: 'not a Socket.IO connection' })
    : conn.connectAgain(BOGUS, ctx.options.stepTimeoutMs);
}
