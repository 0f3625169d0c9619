/**
 * A raw Engine.IO v4 / Socket.IO v5 session over one WebSocket: enough of the protocol
 * to open namespaces, read what the server sends, and send what a probe needs, on any
 * Socket.IO v4 server, guarded by portcullis or not.
 *
 * Engine.IO packets are text frames whose first character is the type (`0` open,
 * `2` ping, `3` pong, `4` message); a Socket.IO packet rides in a message:
 * `<type>[<namespace>,][<ack id>][<json>]` with types `0` CONNECT, `1` DISCONNECT,
 * `2` EVENT, `3` ACK, `4` CONNECT_ERROR.
 */
import { type OpenOptions, type OpenResult, openSocket, Session } from './wire.js';

/** A Socket.IO packet as received. */
export interface IoPacket {
  readonly type: number;
  readonly nsp: string;
  readonly id: number | undefined;
  readonly data: unknown;
}

/** The outcome of a namespace CONNECT. */
export type ConnectOutcome =
  | { readonly kind: 'connected' }
  | { readonly kind: 'refused'; readonly message: string; readonly data: unknown }
  | { readonly kind: 'closed'; readonly code: number; readonly reason: string }
  | { readonly kind: 'silent' };

/** Parses one Socket.IO packet (the part after the Engine.IO `4`). */
export function parseIoPacket(text: string): IoPacket | undefined {
  const type = Number(text[0]);
  if (!Number.isInteger(type)) return undefined;
  let i = 1;
  let nsp = '/';
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    nsp = comma === -1 ? text.slice(i) : text.slice(i, comma);
    i = comma === -1 ? text.length : comma + 1;
  }
  let idText = '';
  while (i < text.length && /\d/.test(text[i] as string)) idText += text[i++];
  let data: unknown;
  if (i < text.length) {
    try {
      data = JSON.parse(text.slice(i)) as unknown;
    } catch {
      data = text.slice(i);
    }
  }
  return { type, nsp, id: idText === '' ? undefined : Number(idText), data };
}

const prefix = (nsp: string): string => (nsp === '/' ? '' : `${nsp},`);

let markerSeq = 0;

/** One Engine.IO connection carrying Socket.IO namespaces. */
export class IoSession extends Session {
  readonly packets: IoPacket[] = [];
  #opened = false;

  /** Opens `ws(s)://host/socket.io/?EIO=4&transport=websocket` and waits for the Engine.IO open packet. */
  static async open(
    base: URL,
    path: string,
    options: OpenOptions,
    query: Readonly<Record<string, string>> = {},
  ): Promise<OpenResult<IoSession>> {
    const url = new URL(path, base);
    url.protocol = base.protocol === 'https:' || base.protocol === 'wss:' ? 'wss:' : 'ws:';
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    url.searchParams.set('EIO', '4');
    url.searchParams.set('transport', 'websocket');
    const result = await openSocket(url.href, options);
    if (!result.ok) return result;
    const session = new IoSession(result.session);
    const open = await session.waitFor(() => (session.#opened ? true : undefined), options.timeoutMs);
    if (open === undefined) {
      session.close();
      return { ok: false, status: 101, headers: result.headers, body: '', error: 'no Engine.IO open packet' };
    }
    return { ok: true, session, protocol: result.protocol, headers: result.headers };
  }

  protected onText(text: string): void {
    const kind = text[0];
    if (kind === '0') this.#opened = true;
    else if (kind === '2') this.sendText('3');
    else if (kind === '4') {
      const packet = parseIoPacket(text.slice(1));
      if (packet !== undefined) this.packets.push(packet);
    }
  }

  /** Event packets received on `nsp` (excluding the audit's own markers). */
  events(nsp: string): IoPacket[] {
    return this.packets.filter((p) => p.nsp === nsp && p.type === 2);
  }

  /** Sends a CONNECT for `nsp` with `auth`, and waits for its answer. */
  async connect(nsp: string, auth: unknown, timeoutMs: number): Promise<ConnectOutcome> {
    const from = this.packets.length;
    this.sendText(`40${prefix(nsp)}${auth === undefined ? '' : JSON.stringify(auth)}`);
    return this.connectAnswer(nsp, from, timeoutMs);
  }

  /** Sends an already serialised CONNECT payload (oversized or hostile), and waits for its answer. */
  async connectRaw(nsp: string, json: string, timeoutMs: number): Promise<ConnectOutcome> {
    const from = this.packets.length;
    this.sendText(`40${prefix(nsp)}${json}`);
    return this.connectAnswer(nsp, from, timeoutMs);
  }

  private async connectAnswer(nsp: string, from: number, timeoutMs: number): Promise<ConnectOutcome> {
    const answer = await this.waitFor(
      () => this.packets.slice(from).find((p) => p.nsp === nsp && (p.type === 0 || p.type === 4)),
      timeoutMs,
    );
    if (answer?.type === 0) return { kind: 'connected' };
    if (answer?.type === 4) {
      const data = answer.data as { message?: unknown; data?: unknown } | undefined;
      return { kind: 'refused', message: String(data?.message ?? ''), data: data?.data };
    }
    const closed = this.closed;
    return closed === undefined ? { kind: 'silent' } : { kind: 'closed', ...closed };
  }

  /** Emits `event` on `nsp`, with an ack id when `ackId` is given. */
  emit(nsp: string, event: string, args: readonly unknown[], ackId?: number): boolean {
    return this.sendText(`42${prefix(nsp)}${ackId ?? ''}${JSON.stringify([event, ...args])}`);
  }

  /** Sends a raw Socket.IO event packet text (for oversized payloads). */
  emitRaw(nsp: string, jsonArray: string): boolean {
    return this.sendText(`42${prefix(nsp)}${jsonArray}`);
  }

  /**
   * A round trip that works on any Socket.IO server: a CONNECT to a namespace that does
   * not exist is answered with CONNECT_ERROR after everything sent before it was read.
   * Resolves `true` when the answer came back on an open session.
   */
  async roundTrip(timeoutMs: number): Promise<boolean> {
    const nsp = `/portcullis-audit-marker-${++markerSeq}`;
    const outcome = await this.connect(nsp, undefined, timeoutMs);
    return outcome.kind === 'refused' || outcome.kind === 'connected';
  }
}
