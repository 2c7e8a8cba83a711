// The daemon's Prometheus metrics (--metrics HOST:PORT, text format at /metrics): one registry
// with a one-line call for each thing counted (SMTP sessions, accepted and refused mail, POP3
// logins, bytes served, applies, rspamd's answers), and gauges read at scrape time from what
// the daemon already holds in memory (the forward queue, the mailbox size index), never by
// walking the Maildirs. Node's own figures (event-loop lag, memory, CPU) come with the
// `vmail_` prefix from prom-client's default metrics.
// prom-client (and the OpenTelemetry API it loads, some 150 ms of CPU) is loaded only with
// --metrics: the parts of the daemon count into plain numbers here, and the registry's metrics
// read them at each scrape.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';

const P = 'vmail_';

/** What the daemon counted since it started; the scrape reads it. */
const counted = {
  smtpSessions: 0,
  smtpAccepted: 0,
  smtpRefused: new Map<string, number>(),
  pop3Logins: 0,
  pop3Failures: 0,
  pop3Bytes: 0,
  applyRuns: 0,
  applyFailures: 0,
  rspamd: new Map<string, number>(),
};
const add = (by: Map<string, number>, label: string, n = 1) => by.set(label, (by.get(label) ?? 0) + n);

/** What the daemon holds that the scrape-time gauges read. */
export interface MetricsSources {
  /** The creation times (ms) of the messages waiting in the forward queue. */
  queue(): number[];
  /** Per hosted domain: its mailboxes, and the messages and bytes in them (from the size index). */
  domains(): { domain: string; mailboxes: number; messages: number; bytes: number }[];
  /** The auth cache's lookups so far and its entries now. */
  authCache(): { hits: number; misses: number; count: number };
}
let sources: MetricsSources | null = null;

/** The registry, made once at the first serveMetrics: every metric reads its figure at the scrape. */
let made: Promise<Registry> | null = null;

async function makeRegistry(): Promise<Registry> {
  const { Counter, collectDefaultMetrics, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  const registers = [registry];
  // A counter whose figure (or figures, by label) is read from `read` at each scrape.
  const counter = (name: string, help: string, read: () => number | Map<string, number>, label?: string) =>
    new Counter({
      name: `${P}${name}`,
      help,
      labelNames: label ? [label] : [],
      registers,
      collect() {
        this.reset();
        const n = read();
        if (typeof n === 'number') this.inc(n);
        else for (const [value, count] of n) this.inc({ [label!]: value }, count);
      },
    });
  counter('smtp_sessions_total', 'SMTP connections served (greeted or turned away)', () => counted.smtpSessions);
  counter('smtp_accepted_total', 'Messages accepted by SMTP (250 after DATA)', () => counted.smtpAccepted);
  counter(
    'smtp_refused_total',
    'SMTP commands and connections refused, by reply code',
    () => counted.smtpRefused,
    'code',
  );
  counter('pop3_logins_total', 'POP3 logins', () => counted.pop3Logins);
  counter('pop3_login_failures_total', 'POP3 logins refused (wrong user or password)', () => counted.pop3Failures);
  counter(
    'pop3_bytes_sent_total',
    'Bytes POP3 sessions sent to clients (on the wire, TLS included)',
    () => counted.pop3Bytes,
  );
  counter(
    'apply_runs_total',
    'Applies of pending changes that applied or failed at least one change',
    () => counted.applyRuns,
  );
  counter('apply_failures_total', 'Pending changes that failed to apply', () => counted.applyFailures);
  counter(
    'rspamd_answers_total',
    "rspamd's verdicts by action (unavailable: no usable answer)",
    () => counted.rspamd,
    'action',
  );

  new Gauge({
    name: `${P}queue_messages`,
    help: 'Messages waiting in the outgoing (forward) queue',
    registers,
    collect() {
      this.set(sources ? sources.queue().length : 0);
    },
  });
  new Gauge({
    name: `${P}queue_oldest_age_seconds`,
    help: 'Age of the oldest message in the outgoing queue (0 when empty)',
    registers,
    collect() {
      const times = sources?.queue() ?? [];
      this.set(times.length ? Math.max(0, (Date.now() - Math.min(...times)) / 1000) : 0);
    },
  });
  const perDomain = (name: string, help: string, field: 'mailboxes' | 'messages' | 'bytes') =>
    new Gauge({
      name: `${P}${name}`,
      help,
      labelNames: ['domain'],
      registers,
      collect() {
        // Recomputed at each scrape: a removed domain's series goes with it.
        this.reset();
        for (const d of sources?.domains() ?? []) this.set({ domain: d.domain }, d[field]);
      },
    });
  perDomain('domain_mailboxes', 'Mailboxes (accounts) of a hosted domain', 'mailboxes');
  perDomain('domain_messages', 'Messages stored in the mailboxes of a hosted domain', 'messages');
  perDomain('domain_bytes', 'Bytes stored in the mailboxes of a hosted domain', 'bytes');

  // The auth cache's figures, read at each scrape: counters that only grow, and the entries now.
  const authCache = (field: 'hits' | 'misses') => () => sources?.authCache()[field] ?? 0;
  counter(
    'auth_cache_hits_total',
    'Logins whose password the auth cache confirmed (no password hash run)',
    authCache('hits'),
  );
  counter(
    'auth_cache_misses_total',
    'Logins the auth cache could not confirm (the password hash ran)',
    authCache('misses'),
  );
  new Gauge({
    name: `${P}auth_cache_entries`,
    help: 'Good logins the auth cache holds now',
    registers,
    collect() {
      this.set(sources?.authCache().count ?? 0);
    },
  });
  collectDefaultMetrics({ register: registry, prefix: P });
  return registry;
}

/** The one-line calls the parts of the daemon make. */
export const metrics = {
  smtpSession: () => void counted.smtpSessions++,
  smtpAccepted: () => void counted.smtpAccepted++,
  smtpRefused: (code: number) => void add(counted.smtpRefused, String(code)),
  pop3Login: (ok: boolean) => void (ok ? counted.pop3Logins++ : counted.pop3Failures++),
  /** Counts what `socket` sent once it closes. */
  pop3Socket: (socket: Socket): Socket =>
    socket.once('close', () => {
      counted.pop3Bytes += socket.bytesWritten;
    }),
  applied: (failed: number) => {
    counted.applyRuns++;
    counted.applyFailures += failed;
  },
  rspamd: (action: string) => void add(counted.rspamd, action.replace(/ /g, '_')),
};

/** A request's head may be this long; the endpoint reads no body. */
const MAX_HEADER = 8 * 1024;
/** Scrapers served at once; more are closed (a scrape is small and quick). */
const MAX_CLIENTS = 16;

/**
 * Serves /metrics to the sockets handed to it, reading `from`; its stop forgets them. `on`: with
 * --metrics, and only then is prom-client loaded (with none, no socket ever comes here).
 */
export async function serveMetrics(
  on: boolean,
  from: MetricsSources,
): Promise<{ accept(socket: Socket): void; stop(): void }> {
  if (!on) return { accept: (socket) => void socket.destroy(), stop: () => {} };
  made ??= makeRegistry();
  const registry = await made;
  sources = from;
  const server = createServer(
    { maxHeaderSize: MAX_HEADER, requestTimeout: 10_000, headersTimeout: 10_000 },
    (req, res) => answer(registry, req, res),
  );
  server.keepAliveTimeout = 5_000;
  const open = new Set<Socket>();
  return {
    accept: (socket) => {
      if (open.size >= MAX_CLIENTS) return void socket.destroy();
      open.add(socket);
      socket.once('close', () => open.delete(socket));
      socket.setTimeout(30_000, () => socket.destroy());
      server.emit('connection', socket);
    },
    stop: () => {
      if (sources === from) sources = null;
      for (const socket of open) socket.destroy();
    },
  };
}

function answer(registry: Registry, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '').split('?')[0];
  const reply = (code: number, text: string, headers: Record<string, string> = {}) => {
    res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD')
    reply(405, 'only GET and HEAD\n', { Allow: 'GET, HEAD', Connection: 'close' });
  else if (path !== '/metrics') reply(404, 'not found: the metrics are at /metrics\n');
  else
    registry.metrics().then(
      (text) => reply(200, text, { 'Content-Type': registry.contentType }),
      (err: Error) => reply(500, `metrics failed: ${err.message}\n`),
    );
}
