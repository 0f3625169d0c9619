/**
 * Figure 1, the headline: portcullis against what a user would write or pick
 * instead (the peers of `bench/servers/peers.ts`), JWT HS256 with the token in
 * the CONNECT `auth` (Socket.IO) or at the upgrade (`ws`).
 *
 * Per transport, all in one run: the A/A floor (vanilla vs vanilla), portcullis
 * vs vanilla, each peer vs vanilla, and portcullis vs each peer head to head
 * (peer CPU ÷ portcullis CPU per handshake: above 1, portcullis is cheaper). Before
 * anything is loaded, a conformance check: each peer accepts the good token and
 * refuses a bad one, seen by the raw load client (and by `socket.io-client`).
 */
import { type Socket as ClientSocket, io as ioc } from 'socket.io-client';
import { connect } from '../lib/attempt.js';
import { presentedTo, startSpec, TRANSPORT_LABEL } from '../lib/cases.js';
import { type ServerHandle, stopAll } from '../lib/children.js';
import { type KeyMaterial, signTokens } from '../lib/credentials.js';
import { PEERS, type Peer, type Transport } from '../servers/protocol.js';
import type { Check } from './conformance.js';
import { type HandshakeCase, type HandshakeOptions, type HandshakeResult, runHandshakeCase } from './handshake.js';

/** What each peer is, in the words of the table. */
export const PEER_LABEL: Readonly<Record<Peer, string>> = {
  jsonwebtoken: 'tutorial `jsonwebtoken.verify(token, stringSecret)`',
  thream: '`@thream/socketio-jwt`',
  'jose-key-once': '`jose.jwtVerify`, key imported once',
  'jsonwebtoken-keyobject': '`jsonwebtoken.verify` + KeyObject made once (tuned)',
};

/** The peers on `transport`, in the order of the table (`@thream/socketio-jwt` is a Socket.IO middleware). */
export function peersOn(transport: Transport): Peer[] {
  const order: readonly Peer[] = ['jsonwebtoken', 'thream', 'jose-key-once', 'jsonwebtoken-keyobject'];
  return order.filter((p) => PEERS.includes(p) && (transport === 'socket.io' || p !== 'thream'));
}

export interface PeerResult {
  readonly peer: Peer;
  /** What the peer is, for the table (`PEER_LABEL`). */
  readonly label: string;
  /** Vanilla ÷ peer CPU per handshake. */
  readonly vsVanilla: HandshakeResult;
  /** Peer ÷ portcullis CPU per handshake, head to head. */
  readonly headToHead: HandshakeResult;
}

export interface PeersResult {
  readonly transport: Transport;
  /** Vanilla vs vanilla. */
  readonly aa: HandshakeResult;
  /** Vanilla ÷ portcullis. */
  readonly portcullis: HandshakeResult;
  readonly peers: PeerResult[];
}

const TIMEOUT_MS = 5_000;

const handshakeCase = (transport: Transport, reference: HandshakeCase['reference'], subject: HandshakeCase['subject']): HandshakeCase => ({
  transport,
  strategy: 'jwt-hs256',
  mode: 'handshake',
  reference,
  subject,
});

/** Runs the comparisons on `transport`; `onCase` sees each result as it comes. */
export async function runPeers(
  transport: Transport,
  keys: KeyMaterial,
  o: HandshakeOptions,
  onCase: (r: HandshakeResult) => void,
): Promise<PeersResult> {
  const run = async (c: HandshakeCase): Promise<HandshakeResult> => {
    const r = await runHandshakeCase(c, keys, o);
    onCase(r);
    return r;
  };
  const aa = await run(handshakeCase(transport, 'vanilla', 'vanilla'));
  const portcullis = await run(handshakeCase(transport, 'vanilla', 'portcullis'));
  const peers: PeerResult[] = [];
  for (const peer of peersOn(transport)) {
    const vsVanilla = await run(handshakeCase(transport, 'vanilla', peer));
    const headToHead = await run(handshakeCase(transport, peer, 'portcullis'));
    peers.push({ peer, label: PEER_LABEL[peer], vsVanilla, headToHead });
  }
  return { transport, aa, portcullis, peers };
}

/** `socket.io-client`'s verdict on a CONNECT with `auth`: `ok` or `connect_error`, with a deadline. */
function officialOutcome(base: string, auth: Record<string, unknown>): Promise<string> {
  const socket: ClientSocket = ioc(base.replace(/^ws/, 'http'), { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  return new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve('ok');
    });
    socket.once('connect_error', () => {
      clearTimeout(timer);
      resolve('connect_error');
    });
  }).finally(() => socket.disconnect());
}

/**
 * Each peer, on each transport, accepts the good token and refuses one whose signature
 * was tampered with, as the raw load client sees it (and `socket.io-client` on Socket.IO).
 */
export async function checkPeers(keys: KeyMaterial): Promise<Check[]> {
  const [good] = await signTokens(keys, 'HS256', 1);
  const token = good as string;
  const bad = `${token.slice(0, -4)}AAAA`;
  const checks: Check[] = [];
  for (const transport of ['socket.io', 'ws'] as const) {
    for (const peer of peersOn(transport)) {
      let server: ServerHandle | undefined;
      try {
        server = await startSpec({ transport, variant: peer, strategy: 'jwt-hs256', mode: 'handshake' }, keys, `peer-${peer}`);
        const base = server.base;
        const raw = async (t: string): Promise<string> => {
          const auth = presentedTo(peer, () => ({ token: t }))(0);
          const c = await connect({ transport, base, flow: 'handshake', auth, timeoutMs: TIMEOUT_MS });
          c.terminate();
          return c.code;
        };
        const official = (t: string): Promise<string> => officialOutcome(base, presentedTo(peer, () => ({ token: t }))(0));
        const [rawGood, rawBad] = [await raw(token), await raw(bad)];
        const seen = [`raw: ${rawGood} / ${rawBad}`];
        // A refusal is an answer (a CONNECT_ERROR, an HTTP status), not a silence.
        let ok = rawGood === 'ok' && rawBad !== 'ok' && rawBad !== 'timeout';
        if (transport === 'socket.io') {
          const [a, b] = [await official(token), await official(bad)];
          seen.push(`socket.io-client: ${a} / ${b}`);
          ok &&= a === 'ok' && b === 'connect_error';
        }
        checks.push({
          name: `peer on ${TRANSPORT_LABEL[transport]}: ${PEER_LABEL[peer]} accepts the good token, refuses a bad one`,
          ok,
          detail: `${seen.join(', ')} (good / bad)`,
        });
      } finally {
        await stopAll([server]);
      }
    }
  }
  return checks;
}
