/**
 * A plain `ws` probe session: JSON text frames in, every received frame kept, and a
 * ping/pong round trip (a pong follows everything the server sent before it).
 */
import { type OpenOptions, type OpenResult, openSocket, Session } from './wire.js';

/** A received text frame, parsed when it is JSON. */
export interface WsFrame {
  readonly text: string;
  readonly json: unknown;
}

let pingSeq = 0;

export class WsSession extends Session {
  readonly frames: WsFrame[] = [];
  readonly #pongs = new Set<string>();

  static async open(url: string, options: OpenOptions): Promise<OpenResult<WsSession>> {
    const result = await openSocket(url, options);
    if (!result.ok) return result;
    const session = new WsSession(result.session);
    result.session.on('pong', (data: Buffer) => {
      session.#pongs.add(data.toString('utf8'));
      session.notify();
    });
    return { ok: true, session, protocol: result.protocol, headers: result.headers };
  }

  protected onText(text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
    this.frames.push({ text: text.slice(0, 2000), json });
  }

  /** Frames whose `type` is `type`. */
  ofType(type: string): WsFrame[] {
    return this.frames.filter((f) => typeof f.json === 'object' && f.json !== null && (f.json as { type?: unknown }).type === type);
  }

  send(value: unknown): boolean {
    return this.sendText(JSON.stringify(value));
  }

  sendRaw(text: string): boolean {
    return this.sendText(text);
  }

  /** Resolves `true` when a pong came back on an open session within `timeoutMs`. */
  async roundTrip(timeoutMs: number): Promise<boolean> {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    const token = `audit-${++pingSeq}`;
    this.ws.ping(token);
    const got = await this.waitFor(() => (this.#pongs.has(token) ? true : undefined), timeoutMs);
    return got === true && this.closed === undefined;
  }
}
