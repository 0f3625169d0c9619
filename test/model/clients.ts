/**
 * One client of the model-based suite over either transport and either mode,
 * with what it observed: its state as the wire told it, the refusal codes it
 * got, the broadcasts it received. Waiting is event-driven with deadlines.
 */
import { type Socket as IoClient, io as ioc } from 'socket.io-client';
import { WebSocket } from 'ws';
import { BEARER_PROTOCOL_PREFIX } from '../../src/adapters/ws.js';
import type { Cred, Node } from './world.js';
import { encodeCred } from './world.js';

export type Transport = 'socket.io' | 'ws';
/** `handshake`: credentials with the connection; `message`: connect pending, then authenticate. */
export type Mode = 'handshake' | 'message';
export type Observed = 'connecting' | 'pending' | 'authenticated' | 'closed';

/** The subprotocol the model's ws endpoint speaks (a bearer protocol is offered beside it). */
export const APP_PROTOCOL = 'model.v1';

export interface ConnectSpec {
  readonly transport: Transport;
  readonly mode: Mode;
  readonly cred?: Cred | undefined;
  readonly ticket?: string | undefined;
  /** Loopback source address (127.0.0.x). */
  readonly ip: string;
}

export class ModelClient {
  readonly id: number;
  readonly node: Node;
  readonly spec: ConnectSpec;
  state: Observed = 'connecting';
  /** Every refusal code the wire carried (connect_error, unauthorized, refresh failure, close reason, HTTP status). */
  readonly codes: string[] = [];
  readonly broadcasts: number[] = [];
  /** The credential the server last accepted, if any. */
  accepted: Cred | { ticket: string } | undefined;
  /** Answers to join requests (Socket.IO ack / ws `subscribed` or `refused`), by request id. */
  readonly joinAnswers = new Map<number, { ok: boolean; code?: string | undefined }>();
  /** Refusals of events the client sent without an ack (`portcullis:denied` / a `refused` frame), by event name. */
  readonly denied: string[] = [];
  #joinIds = 0;
  /** Times the server answered an authentication of this client (accepted, refused or refresh failed). */
  verdicts = 0;
  readonly #waiters = new Set<() => void>();
  #io: IoClient | undefined;
  #ws: WebSocket | undefined;

  constructor(id: number, node: Node, spec: ConnectSpec) {
    this.id = id;
    this.node = node;
    this.spec = spec;
    if (spec.transport === 'socket.io') this.#openIo();
    else this.#openWs();
  }

  /** Resolves once `predicate` holds, re-checked after every observation; rejects after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`client ${this.id}: timed out after ${timeoutMs} ms waiting for ${what} (state ${this.state})`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Sends credentials by message (first authentication or refresh). */
  authenticate(cred: Cred): void {
    const token = encodeCred(cred);
    this.pendingCred = cred;
    if (this.#io !== undefined) this.#io.emit('authentication', { token });
    else if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'authenticate', payload: { token } }));
  }

  /** The credential of the last authentication sent by message. */
  pendingCred: Cred | undefined;

  /** Sends an application event tagged with the state this client believes it is in. */
  send(): void {
    const payload = { client: this.id, state: this.state };
    if (this.#io !== undefined) this.#io.emit('msg', payload);
    else if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'msg', payload }));
  }

  /** Asks to join `room` (Socket.IO `portcullis:join` with an ack, ws `subscribe`); returns the request id of `joinAnswers`. */
  join(room: string): number {
    const id = ++this.#joinIds;
    if (this.#io !== undefined) {
      this.#io.emit('portcullis:join', { room }, (r: { ok?: boolean; code?: string }) => {
        this.joinAnswers.set(id, { ok: r?.ok === true, code: r?.code });
        this.#notify();
      });
    } else if (this.#ws?.readyState === WebSocket.OPEN) {
      this.#ws.send(JSON.stringify({ type: 'subscribe', payload: { channel: room, id } }));
    }
    return id;
  }

  /** Sends an `admin:op` event (no ack). */
  adminOp(): void {
    const payload = { client: this.id };
    if (this.#io !== undefined) this.#io.emit('admin:op', payload);
    else if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'admin:op', payload }));
  }

  close(): void {
    this.#io?.disconnect();
    this.#ws?.terminate();
    this.#set('closed');
  }

  #set(state: Observed): void {
    if (this.state === 'closed') return;
    this.state = state;
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  #openIo(): void {
    const { spec } = this;
    const auth: Record<string, string> = {};
    if (spec.mode === 'handshake' && spec.cred !== undefined) auth.token = encodeCred(spec.cred);
    if (spec.mode === 'handshake' && spec.ticket !== undefined) auth.ticket = spec.ticket;
    const socket = ioc(this.node.url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth,
      localAddress: spec.ip,
    } as never);
    this.#io = socket;
    socket.on('connect', () => {
      if (spec.mode === 'handshake') {
        this.accepted = spec.cred ?? (spec.ticket === undefined ? undefined : { ticket: spec.ticket });
        this.verdicts++;
        this.#set('authenticated');
      }
    });
    socket.on('auth_required', () => this.#set('pending'));
    socket.on('authenticated', () => {
      this.accepted = this.pendingCred;
      this.verdicts++;
      this.#set('authenticated');
    });
    socket.on('auth_refresh_failed', (body: { code?: string }) => {
      this.codes.push(body?.code ?? '?');
      this.verdicts++;
      this.#notify();
    });
    socket.on('unauthorized', (body: { code?: string }) => {
      this.codes.push(body?.code ?? '?');
      this.verdicts++;
      this.#notify();
    });
    socket.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      this.codes.push(err.data?.code ?? `transport:${err.message}`);
      this.verdicts++;
      this.#set('closed');
    });
    socket.on('disconnect', () => this.#set('closed'));
    socket.on('portcullis:denied', (body: { event?: string }) => {
      this.denied.push(body?.event ?? '?');
      this.#notify();
    });
    socket.on('bcast', (seq: number) => {
      this.broadcasts.push(seq);
      this.#notify();
    });
  }

  #openWs(): void {
    const { spec } = this;
    const base = `${this.node.url.replace('http:', 'ws:')}/ws`;
    const url = spec.mode === 'handshake' && spec.ticket !== undefined ? `${base}?ticket=${encodeURIComponent(spec.ticket)}` : base;
    const protocols =
      spec.mode === 'handshake' && spec.cred !== undefined ? [APP_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${encodeCred(spec.cred)}`] : [];
    const ws = new WebSocket(url, protocols, { localAddress: spec.ip });
    this.#ws = ws;
    ws.on('unexpected-response', (_req, res) => {
      // The refusal's code: the response header, else the JSON body's `code`, else the status.
      const header = res.headers['x-portcullis-code'];
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4_096) body += chunk;
      });
      res.on('end', () => {
        let code = typeof header === 'string' ? header : undefined;
        try {
          code ??= (JSON.parse(body) as { code?: string }).code;
        } catch {
          // not JSON
        }
        this.codes.push(code ?? `http:${res.statusCode}`);
        this.verdicts++;
        ws.terminate();
        this.#set('closed');
      });
    });
    // `unexpected-response` ends the client itself, once the body is read.
    ws.on('error', () => {
      if (this.codes.length > 0 || ws.readyState !== WebSocket.CONNECTING) this.#set('closed');
    });
    ws.on('close', (code, reason) => {
      if (code >= 4000) this.codes.push(reason.toString());
      this.#set('closed');
    });
    ws.on('message', (data) => {
      let frame: { type?: string; payload?: { code?: string } | number };
      try {
        frame = JSON.parse(String(data)) as typeof frame;
      } catch {
        return;
      }
      if (frame.type === 'authenticated') {
        this.accepted =
          this.state === 'connecting' && spec.mode === 'handshake' ? (spec.cred ?? { ticket: spec.ticket ?? '' }) : this.pendingCred;
        this.verdicts++;
        this.#set('authenticated');
      } else if (frame.type === 'refresh_failed' || frame.type === 'auth_refresh_failed') {
        this.codes.push((frame.payload as { code?: string })?.code ?? '?');
        this.verdicts++;
        this.#notify();
      } else if (frame.type === 'subscribed' || (frame.type === 'refused' && (frame.payload as { type?: string })?.type === 'subscribe')) {
        const p = frame.payload as { id?: number; code?: string };
        if (typeof p?.id === 'number') this.joinAnswers.set(p.id, { ok: frame.type === 'subscribed', code: p.code });
        this.#notify();
      } else if (frame.type === 'refused') {
        this.denied.push((frame.payload as { type?: string })?.type ?? '?');
        this.#notify();
      } else if (frame.type === 'bcast') {
        this.broadcasts.push(frame.payload as number);
        this.#notify();
      }
    });
    ws.on('open', () => {
      // Message mode: the socket is open and pending until its `authenticate` frame.
      if (spec.mode === 'message') this.#set('pending');
    });
  }
}
