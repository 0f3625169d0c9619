/**
 * The demo page's script, on `portcullis/client` (bundled for the browser by
 * `bundle.ts`). The session cookie (HttpOnly) buys short-lived JWTs from
 * `/token`; Socket.IO spends a one-time ticket bought with the JWT on every
 * (re)connect, `ws` sends the JWT in its first frame. Both refresh in band when
 * the server announces the expiry, and go back to the login form with the reason
 * when the client gives up.
 */
import { io } from 'socket.io-client';
import { connectSocketIo, createCredentialProvider, createWebSocketClient, PortcullisClientError } from '../../src/client/index.js';

interface SessionInfo {
  id: string;
  user: string;
  role?: string;
  expiresAt?: number;
  transport: string;
  /** The rooms the server joined at connect (through the policy). */
  rooms?: string[];
}
interface ChatMessage {
  from: string;
  text: string;
  room?: string;
}
/** The refusal object of PROTOCOL.md §6 (an ack of `portcullis:join`, a `refused` frame). */
interface Refusal {
  room?: string;
  channel?: string;
  type?: string;
  event?: string;
  code: string;
  message: string;
}
interface SocketRow {
  id: string;
  transport: string;
  user: string;
  expiresAt?: number;
}
interface Sample {
  t: number;
  connected: number;
  pending: number;
  accepted: number;
  rejected: number;
}
interface FeedEntry {
  at: number;
  type: string;
  transport: string;
  user?: string;
  code?: string;
  reason?: string;
}

/** One live connection, whichever the transport. */
interface Conn {
  send(text: string, room: string): void;
  /** Asks to join `room`; the policy decides (answered through `roomJoined` / `roomRefused`). */
  join(room: string): void;
  /** Asks for the admin view's snapshot (an `admin:*` event: the policy lets only admins through). */
  adminState(): void;
  revoke(userId: string): void;
  close(): void;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} missing`);
  return el as T;
};
const time = (ms: number | undefined): string => (ms === undefined ? '—' : new Date(ms).toLocaleTimeString('en-GB'));

let conn: Conn | undefined;
let leaving = false;
let expiresAt: number | undefined;
let refreshes = 0;
/** The rooms this socket holds, and those the user asked for (asked again after a reconnect). */
const joinedRooms = new Set<string>();
const wantedRooms = new Set<string>();

function log(text: string, cls = ''): void {
  const p = document.createElement('p');
  p.textContent = text;
  if (cls !== '') p.className = cls;
  const box = $('log');
  box.append(p);
  box.scrollTop = box.scrollHeight; // follow new lines
}

function renderRooms(): void {
  const to = $<HTMLSelectElement>('to');
  const selected = to.value;
  const sorted = [...joinedRooms].sort();
  $('rooms').replaceChildren(
    ...sorted.map((room) => {
      const li = document.createElement('li');
      li.dataset.room = room;
      li.textContent = room;
      return li;
    }),
  );
  to.replaceChildren(
    ...sorted.map((room) => {
      const option = document.createElement('option');
      option.value = room;
      option.textContent = room;
      return option;
    }),
  );
  to.value = joinedRooms.has(selected) ? selected : 'lobby';
}

function roomStatus(text: string, cls: 'ok' | 'err'): void {
  const el = $('room-status');
  el.textContent = text;
  el.className = cls;
}

function roomJoined(room: string): void {
  joinedRooms.add(room);
  renderRooms();
  roomStatus(`joined ${room}`, 'ok');
  if (room === 'admins') conn?.adminState(); // the admin view's feed comes to this room
}

/** The policy said no: the code is shown as the protocol gives it (e.g. `forbidden`). */
function roomRefused(r: Refusal): void {
  const room = r.room ?? r.channel ?? '?';
  wantedRooms.delete(room);
  roomStatus(`refused ${room}: ${r.code} (${r.message})`, 'err');
  log(`joining ${room} refused: ${r.code}`, 'err');
}

/** A membership ended by the server (re-evaluation under new claims). */
function roomLeft(r: Refusal): void {
  const room = r.room ?? r.channel ?? '?';
  joinedRooms.delete(room);
  wantedRooms.delete(room);
  renderRooms();
  roomStatus(`left ${room}: ${r.code}`, 'err');
}

function showLogin(reason: string): void {
  conn = undefined;
  $('chat-view').hidden = true;
  $('admin').hidden = true;
  $('login-view').hidden = false;
  $('login-reason').textContent = reason;
}

function showChat(user: string, transport: string): void {
  $('login-view').hidden = true;
  $('chat-view').hidden = false;
  $('log').replaceChildren();
  $('whoami').textContent = user;
  $('via').textContent = transport;
  $('status').textContent = 'connecting';
  $('socket-id').textContent = '';
  $('refreshes').textContent = '0';
  $('refresh-note').textContent = '';
  refreshes = 0;
  expiresAt = undefined;
  joinedRooms.clear();
  wantedRooms.clear();
  renderRooms();
  $('room-status').textContent = '';
}

/** Back to the login form with a clear reason, unless the user is logging out. */
function ended(error: PortcullisClientError | undefined): void {
  if (leaving) return;
  conn?.close();
  const why =
    error === undefined
      ? 'The connection was closed.'
      : error.code === 'revoked'
        ? `Signed out: ${error.message} (revoked).`
        : `Disconnected: ${error.message} (${error.code}).`;
  showLogin(why);
}

function onSession(s: SessionInfo): void {
  $('socket-id').textContent = s.id;
  $('whoami').textContent = `${s.user}${s.role === 'admin' ? ' (admin)' : ''}`;
  $('status').textContent = 'connected';
  expiresAt = s.expiresAt;
  $('admin').hidden = s.role !== 'admin';
  log(`connected as ${s.user} over ${s.transport}`, 'sys');
  joinedRooms.clear();
  for (const room of s.rooms ?? []) joinedRooms.add(room);
  renderRooms();
  // The admin page asks for `admins` like any room: the policy decides (role admin).
  if (s.role === 'admin') wantedRooms.add('admins');
  // A new socket (after a reconnect) holds only the rooms the server joins: ask again for the others.
  for (const room of wantedRooms) if (!joinedRooms.has(room)) conn?.join(room);
}

function chatLine(m: ChatMessage): void {
  const where = m.room === undefined || m.room === 'lobby' ? '' : `[${m.room}] `;
  log(`${where}${m.from}: ${m.text}`, m.from === 'portcullis' ? 'sys' : '');
}

function onRefreshed(newExpiry: number | undefined): void {
  expiresAt = newExpiry ?? expiresAt;
  refreshes++;
  $('refreshes').textContent = String(refreshes);
  $('refresh-note').textContent = `refreshed in band at ${time(Date.now())}: same socket id, no reconnect`;
}

setInterval(() => {
  const el = document.getElementById('expires');
  if (el === null || expiresAt === undefined) return;
  el.textContent = `${time(expiresAt)} (in ${Math.max(0, Math.round((expiresAt - Date.now()) / 1000))} s)`;
}, 500);

/** Credentials: the cookie buys a JWT; a JWT buys one-time tickets. */
function providers() {
  let ttlMs = 60_000;
  const sessionEnded = async (res: Response): Promise<never> => {
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    // Not retryable: the transports give up and the page asks for a new login.
    throw new PortcullisClientError('revoked', { message: body.message ?? 'Your session has ended: log in again' });
  };
  const tokens = createCredentialProvider<{ token: string }>({
    getCredentials: async () => {
      const res = await fetch('/token', { method: 'POST' });
      if (res.status === 401 || res.status === 403) return sessionEnded(res);
      if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
      const { token, expiresAt: exp } = (await res.json()) as { token: string; expiresAt: number };
      ttlMs = Math.max(1000, exp - Date.now());
      return { credentials: { token }, expiresAt: exp };
    },
  });
  const ticketWith = (token: string): Promise<Response> =>
    fetch('/ticket', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const tickets = createCredentialProvider<{ ticket: string }>({
    oneTime: true,
    getCredentials: async () => {
      // A ticket carries the expiry of the JWT behind it: use a JWT with most of its life ahead.
      let res = await ticketWith((await tokens.refresh(Date.now() + ttlMs * 0.6)).token);
      if (res.status === 401) {
        tokens.invalidate(); // signed by a previous server key, or its session ended
        res = await ticketWith((await tokens.get()).token);
      }
      if (res.status === 401) return sessionEnded(res);
      if (!res.ok) throw new Error(`ticket endpoint answered ${res.status}`);
      const { ticket, expiresAt: exp } = (await res.json()) as { ticket: string; expiresAt: number };
      return { credentials: { ticket }, expiresAt: exp };
    },
  });
  return { tokens, tickets };
}

function adminHandlers(revoke: (user: string) => void) {
  const sockets = (rows: SocketRow[]): void => {
    const body = $('sockets');
    body.replaceChildren(
      ...rows.map((r) => {
        const tr = document.createElement('tr');
        tr.dataset.user = r.user;
        tr.dataset.transport = r.transport;
        for (const text of [r.user, r.transport, r.id, time(r.expiresAt)]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        const td = document.createElement('td');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'revoke';
        button.dataset.user = r.user;
        button.textContent = `revoke ${r.user}`;
        button.addEventListener('click', () => revoke(r.user));
        td.append(button);
        tr.append(td);
        return tr;
      }),
    );
  };
  const audit = (e: FeedEntry): void => {
    const li = document.createElement('li');
    li.textContent = `${time(e.at)} ${e.type} ${e.transport}${e.user ? ` ${e.user}` : ''}${e.code ? ` ${e.code}` : ''}${e.reason ? ` (${e.reason})` : ''}`;
    const list = $('audit');
    list.prepend(li);
    while (list.children.length > 100) list.lastElementChild?.remove();
  };
  const chart = (samples: Sample[]): void => {
    const svg = $('chart');
    const w = 300;
    const h = 80;
    const max = Math.max(1, ...samples.map((s) => Math.max(s.connected, s.accepted, s.rejected)));
    const x = (i: number): number => (i * w) / 60;
    const y = (v: number): number => h - 4 - (v * (h - 8)) / max;
    const ns = 'http://www.w3.org/2000/svg';
    const parts: SVGElement[] = [];
    samples.forEach((s, i) => {
      for (const [v, color, dx] of [
        [s.accepted, '#3a3', 0],
        [s.rejected, '#c33', 2],
      ] as const) {
        if (v === 0) continue;
        const r = document.createElementNS(ns, 'rect');
        r.setAttribute('x', String(x(i) + dx));
        r.setAttribute('y', String(y(v)));
        r.setAttribute('width', '2');
        r.setAttribute('height', String(h - 4 - y(v)));
        r.setAttribute('fill', color);
        parts.push(r);
      }
    });
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', samples.map((s, i) => `${x(i)},${y(s.connected)}`).join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', '#36c');
    line.setAttribute('stroke-width', '2');
    parts.push(line);
    svg.replaceChildren(...parts);
  };
  const state = (s: { sockets: SocketRow[]; samples: Sample[]; feed: FeedEntry[] }): void => {
    sockets(s.sockets);
    chart(s.samples);
    $('audit').replaceChildren();
    for (const e of s.feed) audit(e);
  };
  return { sockets, audit, chart, state };
}

function connectOverSocketIo(): Conn {
  const { tokens, tickets } = providers();
  // Polling first (the default): a refusal before the handshake is then an HTTP response
  // whose status and JSON body the browser lets the client read (same origin).
  const guarded = connectSocketIo(io, location.origin, { provider: tickets, reconnectionDelay: 300, reconnectionDelayMax: 2000 });
  const { socket } = guarded;
  const admin = adminHandlers((userId) => socket.emit('admin:revoke', userId, () => {}));
  socket.on('session', onSession);
  socket.on('chat', chatLine);
  socket.on('portcullis:left', roomLeft);
  socket.on('portcullis:denied', (r: Refusal) => log(`${r.event} refused: ${r.code}`, 'err'));
  socket.on('disconnect', () => {
    $('status').textContent = 'reconnecting';
  });
  socket.on('admin:state', admin.state);
  socket.on('admin:sockets', admin.sockets);
  socket.on('admin:audit', admin.audit);
  socket.on('admin:samples', admin.chart);
  guarded.on('authenticated', (info, refreshed) => {
    if (refreshed) onRefreshed(info.expiresAt);
  });
  guarded.on('error', (err) => log(`${err.code}: ${err.message}${err.retryable ? ' (retrying)' : ''}`, 'err'));
  guarded.on('failed', (err) => ended(err));
  return {
    send: (text, room) => socket.emit('chat', text, room),
    join: (room) =>
      socket.emit('portcullis:join', { room }, (r: { ok: true; room: string } | (Refusal & { ok: false })) =>
        r.ok ? roomJoined(r.room) : roomRefused(r),
      ),
    adminState: () => socket.emit('admin:state', admin.state),
    revoke: (userId) => socket.emit('admin:revoke', userId, () => {}),
    close: () => {
      guarded.close();
      tokens.close();
      tickets.close();
    },
  };
}

function connectOverWs(): Conn {
  const { tokens } = providers();
  const client = createWebSocketClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
    provider: tokens,
    // The JWT in the first frame: refusals come back as close codes with the exact code, which
    // a browser does show (it hides the HTTP status of a refused upgrade).
    credentialsIn: 'message',
    backoff: { initialMs: 300, maxMs: 2000 },
  });
  const sendFrame = (type: string, payload: unknown): boolean => client.send(JSON.stringify({ type, payload }));
  const admin = adminHandlers((userId) => sendFrame('admin:revoke', { userId }));
  client.on('message', (data) => {
    if (typeof data !== 'string') return;
    let frame: { type?: string; payload?: unknown };
    try {
      frame = JSON.parse(data) as { type?: string; payload?: unknown };
    } catch {
      return;
    }
    const p = frame.payload;
    if (frame.type === 'session') onSession(p as SessionInfo);
    else if (frame.type === 'chat') chatLine(p as ChatMessage);
    else if (frame.type === 'subscribed') roomJoined((p as { channel: string }).channel);
    else if (frame.type === 'unsubscribed' && (p as Partial<Refusal>).code !== undefined) roomLeft(p as Refusal);
    else if (frame.type === 'refused' && (p as Refusal).type === 'subscribe') roomRefused(p as Refusal);
    else if (frame.type === 'refused') log(`${(p as Refusal).type} refused: ${(p as Refusal).code}`, 'err');
    else if (frame.type === 'admin:state') admin.state(p as Parameters<typeof admin.state>[0]);
    else if (frame.type === 'admin:sockets') admin.sockets(p as SocketRow[]);
    else if (frame.type === 'admin:audit') admin.audit(p as FeedEntry);
    else if (frame.type === 'admin:samples') admin.chart(p as Sample[]);
  });
  client.on('authenticated', (info, refreshed) => {
    if (refreshed) onRefreshed(info.expiresAt);
  });
  client.on('error', (err) => log(`${err.code}: ${err.message}${err.retryable ? ' (retrying)' : ''}`, 'err'));
  client.on('close', ({ willReconnect }) => {
    if (willReconnect) $('status').textContent = 'reconnecting';
  });
  // Gave up: a do-not-retry close (revoked), or no credentials to be had (session ended).
  client.on('failed', (err) => ended(err));
  return {
    send: (text, room) => sendFrame('chat', { text, room }),
    join: (room) => sendFrame('subscribe', { channel: room }),
    adminState: () => sendFrame('admin:state', {}),
    revoke: (userId) => sendFrame('admin:revoke', { userId }),
    close: () => {
      client.close();
      tokens.close();
    },
  };
}

function start(user: string, transport: string): void {
  leaving = false;
  showChat(user, transport);
  conn = transport === 'ws' ? connectOverWs() : connectOverSocketIo();
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $<HTMLInputElement>('name').value.trim();
  const password = $<HTMLInputElement>('password').value;
  const transport = $<HTMLSelectElement>('transport').value;
  void fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) }).then(
    async (res) => {
      const body = (await res.json().catch(() => ({}))) as { user?: string; message?: string };
      if (!res.ok || body.user === undefined) return showLogin(body.message ?? `Login failed (${res.status})`);
      $<HTMLInputElement>('password').value = '';
      sessionStorage.setItem('transport', transport);
      start(body.user, transport);
    },
    () => showLogin('The server cannot be reached.'),
  );
});

const text = $<HTMLInputElement>('text');
const sendButton = $<HTMLButtonElement>('send-button');
text.addEventListener('input', () => {
  sendButton.disabled = text.value.trim() === '';
});
$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = text.value.trim();
  if (value === '' || conn === undefined) return; // empty messages are not sent
  conn.send(value, $<HTMLSelectElement>('to').value || 'lobby');
  text.value = '';
  sendButton.disabled = true;
});

$('join').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('room');
  const room = input.value.trim();
  if (room === '' || conn === undefined) return;
  input.value = '';
  if (joinedRooms.has(room)) return roomStatus(`already in ${room}`, 'ok');
  wantedRooms.add(room);
  roomStatus(`joining ${room}…`, 'ok');
  conn.join(room);
});

$('logout').addEventListener('click', () => {
  leaving = true;
  conn?.close();
  void fetch('/logout', { method: 'POST' }).finally(() => showLogin('You logged out.'));
});

// A page reload keeps the session: the cookie is still valid.
void fetch('/me').then(
  async (res) => {
    if (!res.ok) return showLogin('');
    const { user } = (await res.json()) as { user: string };
    start(user, sessionStorage.getItem('transport') ?? 'socket.io');
  },
  () => showLogin('The server cannot be reached.'),
);
