/**
 * `portcullis/metrics`: Prometheus metrics (`prom-client`, an optional peer).
 *
 *     const metrics = createMetrics();
 *     const guard = createSocketIoGuard(io, { strategies, hooks: [metrics.hooks] });
 *     metrics.track(guard.guard);
 *     app.get('/metrics', metrics.handler);
 *
 * - `portcullis_connections{transport,namespace,state}` (gauge, read at scrape time)
 * - `portcullis_authentications_total{transport,kind,strategy}` (`kind`: accepted | refreshed)
 * - `portcullis_rejections_total{transport,code,phase}`
 * - `portcullis_events_total{transport,type}` (timeout, expired, revoked, closed)
 * - `portcullis_verification_seconds{transport,outcome}` (histogram: accepted | refreshed | rejected)
 * - `portcullis_revocation_deaf_guards` (gauge, read at scrape time): tracked guards that do not hear
 *   revocations from other nodes now (`guard.revocationStatus === 'deaf'`); alert when above 0
 * - `portcullis_authorization_decisions_total{transport,kind,decision,outcome,policy}` (with
 *   `createAuthorization({ hooks: [metrics.authorization] })`; `policy` is the rule's pattern as configured)
 *
 * Labels never carry a principal, an IP or a credential.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import client from 'prom-client';
import type { Guard } from './core/guard.js';
import type { AuditEvent, Hooks } from './core/hooks.js';
import type { AuthorizationHooks } from './policy/types.js';

export interface MetricsOptions {
  /** Where the metrics are registered. @default prom-client's global registry */
  registry?: client.Registry;
  /** Prefix of every metric name. @default 'portcullis_' */
  prefix?: string;
  /** Buckets of the verification latency histogram, in seconds. @default [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] */
  buckets?: number[];
}

export interface Metrics {
  /** Hooks to add to each guard's `hooks` (they only count, never throw). */
  readonly hooks: Hooks;
  /** Hooks to add to `createAuthorization({ hooks })`: counts every authorization decision. */
  readonly authorization: AuthorizationHooks;
  /** Reports the live connections of `guard` in the connections gauge. Returns an untrack function. */
  track(guard: Guard): () => void;
  /** An HTTP handler answering the registry in the Prometheus text format. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  readonly registry: client.Registry;
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Creates the metrics and registers them (throws if they are already registered in that registry). */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = options.registry ?? client.register;
  const prefix = options.prefix ?? 'portcullis_';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new TypeError('portcullis: metrics prefix must be a valid Prometheus name prefix');
  const guards = new Set<Guard>();

  new client.Gauge({
    name: `${prefix}connections`,
    help: 'Guarded connections by state (pending = connected, not authenticated yet).',
    labelNames: ['transport', 'namespace', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, { labels: { transport: string; namespace: string; state: string }; n: number }>();
      for (const guard of guards) {
        for (const c of guard.connections()) {
          const key = `${c.transport}\u0000${c.namespace}\u0000${c.state}`;
          const entry = counts.get(key);
          if (entry === undefined) counts.set(key, { labels: { transport: c.transport, namespace: c.namespace, state: c.state }, n: 1 });
          else entry.n++;
        }
      }
      for (const { labels, n } of counts.values()) this.set(labels, n);
    },
  });
  new client.Gauge({
    name: `${prefix}revocation_deaf_guards`,
    help: 'Tracked guards not listening for revocations from other nodes (store subscription down); 0 when healthy.',
    registers: [registry],
    collect() {
      let deaf = 0;
      for (const guard of guards) if (guard.revocationStatus === 'deaf') deaf++;
      this.set(deaf);
    },
  });
  const authentications = new client.Counter({
    name: `${prefix}authentications_total`,
    help: 'Successful authentications (first and refresh).',
    labelNames: ['transport', 'kind', 'strategy'] as const,
    registers: [registry],
  });
  const rejections = new client.Counter({
    name: `${prefix}rejections_total`,
    help: 'Refusals by error code and where they happened.',
    labelNames: ['transport', 'code', 'phase'] as const,
    registers: [registry],
  });
  const events = new client.Counter({
    name: `${prefix}events_total`,
    help: 'Connection lifecycle events: timeout, expired, revoked, closed.',
    labelNames: ['transport', 'type'] as const,
    registers: [registry],
  });
  const latency = new client.Histogram({
    name: `${prefix}verification_seconds`,
    help: 'Time to verify credentials (strategies and post-authentication hook).',
    labelNames: ['transport', 'outcome'] as const,
    buckets: options.buckets ?? DEFAULT_BUCKETS,
    registers: [registry],
  });

  const decisions = new client.Counter({
    name: `${prefix}authorization_decisions_total`,
    help: 'Authorization decisions by kind (namespace, room, event, connection, revalidate), decision, outcome and rule.',
    labelNames: ['transport', 'kind', 'decision', 'outcome', 'policy'] as const,
    registers: [registry],
  });

  const onAudit = (event: AuditEvent): void => {
    switch (event.type) {
      case 'accepted':
      case 'refreshed': {
        const transport = event.connection.transport;
        const kind = event.type;
        authentications.inc({ transport, kind, strategy: event.strategy ?? 'unknown' });
        latency.observe({ transport, outcome: kind }, event.latencyMs / 1000);
        break;
      }
      case 'rejected':
        rejections.inc({ transport: event.transport, code: event.code, phase: event.phase });
        if (event.latencyMs > 0) latency.observe({ transport: event.transport, outcome: 'rejected' }, event.latencyMs / 1000);
        break;
      default:
        events.inc({ transport: event.connection.transport, type: event.type });
    }
  };

  return {
    hooks: {
      onAudit(event) {
        try {
          onAudit(event);
        } catch {
          // metrics never break authentication
        }
      },
    },
    authorization: {
      onDecision(d) {
        try {
          decisions.inc({
            transport: d.connection.transport,
            kind: d.kind,
            decision: d.decision,
            outcome: d.outcome,
            policy: d.policy ?? 'none',
          });
        } catch {
          // metrics never break authorization
        }
      },
    },
    track(guard) {
      guards.add(guard);
      return () => {
        guards.delete(guard);
      };
    },
    handler(_req, res) {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
          res.end(text);
        },
        () => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end('metrics unavailable');
        },
      );
    },
    registry,
  };
}
