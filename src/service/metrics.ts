// The daemon's Prometheus metrics (--metrics HOST:PORT, text format at /metrics): one registry
// with a one-line call for each thing counted (SMTP sessions, accepted and refused mail, POP3
// logins, bytes served, applies, rspamd's answers), and gauges read at scrape time from what
// the daemon already holds in memory (the forward queue, the mailbox size index), never by
// walking the Maildirs. Node's own figures (event-loop lag, memory, CPU) come with the
// `vmail_` prefix from prom-client's default metrics.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

const registry = new Registry();
const P = 'vmail_';

const smtpSessions = new Counter({
  name: `${P}smtp_sessions_total`,
  help: 'SMTP connections served (greeted or turned away)',
  registers: [registry],
});
const smtpAccepted = new Counter({
  name: `${P}smtp_accepted_total`,
  help: 'Messages accepted by SMTP (250 after DATA)',
  registers: [registry],
});
const smtpRefused = new Counter({
  name: `${P}smtp_refused_total`,
  help: 'SMTP commands and connections refused, by reply code',
  labelNames: ['code'],
  registers: [registry],
});
const pop3Logins = new Counter({ name: `${P}pop3_logins_total`, help: 'POP3 logins', registers: [registry] });
const pop3Failures = new Counter({
  name: `${P}pop3_login_failures_total`,
  help: 'POP3 logins refused (wrong user or password)',
  registers: [registry],
});
const pop3Bytes = new Counter({
  name: `${P}pop3_bytes_sent_total`,
  help: 'Bytes POP3 sessions sent to clients (on the wire, TLS included)',
  registers: [registry],
});
const applyRuns = new Counter({
  name: `${P}apply_runs_total`,
  help: 'Applies of pending changes that applied or failed at least one change',
  registers: [registry],
});
const applyFailures = new Counter({
  name: `${P}apply_failures_total`,
  help: 'Pending changes that failed to apply',
  registers: [registry],
});
const rspamdAnswers = new Counter({
  name: `${P}rspamd_answers_total`,
  help: "rspamd's verdicts by action (unavailable: no usable answer)",
  labelNames: ['action'],
  registers: [registry],
});

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

new Gauge({
  name: `${P}queue_messages`,
  help: 'Messages waiting in the outgoing (forward) queue',
  registers: [registry],
  collect() {
    this.set(sources ? sources.queue().length : 0);
  },
});
new Gauge({
  name: `${P}queue_oldest_age_seconds`,
  help: 'Age of the oldest message in the outgoing queue (0 when empty)',
  registers: [registry],
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
    registers: [registry],
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
const fromAuthCache = (name: string, help: string, field: 'hits' | 'misses' | 'count') => {
  const collect = function (this: Gauge | Counter) {
    this.reset();
    this.inc(sources?.authCache()[field] ?? 0);
  };
  return field === 'count'
    ? new Gauge({ name: `${P}${name}`, help, registers: [registry], collect })
    : new Counter({ name: `${P}${name}`, help, registers: [registry], collect });
};
fromAuthCache('auth_cache_hits_total', 'Logins whose password the auth cache confirmed (no password hash run)', 'hits');
fromAuthCache('auth_cache_misses_total', 'Logins the auth cache could not confirm (the password hash ran)', 'misses');
fromAuthCache('auth_cache_entries', 'Good logins the auth cache holds now', 'count');

/** The one-line calls the parts of the daemon make. */
export const metrics = {
  smtpSession: () => smtpSessions.inc(),
  smtpAccepted: () => smtpAccepted.inc(),
  smtpRefused: (code: number) => smtpRefused.inc({ code: String(code) }),
  pop3Login: (ok: boolean) => (ok ? pop3Logins : pop3Failures).inc(),
  /** Counts what `socket` sent once it closes. */
  pop3Socket: (socket: Socket): Socket => socket.once('close', () => pop3Bytes.inc(socket.bytesWritten)),
  applied: (failed: number) => {
    applyRuns.inc();
    applyFailures.inc(failed);
  },
  rspamd: (action: string) => rspamdAnswers.inc({ action: action.replace(/ /g, '_') }),
};

/** A request's head may be this long; the endpoint reads no body. */
const MAX_HEADER = 8 * 1024;
/** Scrapers served at once; more are closed (a scrape is small and quick). */
const MAX_CLIENTS = 16;
let defaultsStarted = false;

/** Serves /metrics to the sockets handed to it, reading `from`; its stop forgets them. */
export function serveMetrics(from: MetricsSources): { accept(socket: Socket): void; stop(): void } {
  if (!defaultsStarted) {
    defaultsStarted = true;
    collectDefaultMetrics({ register: registry, prefix: P });
  }
  sources = from;
  const server = createServer({ maxHeaderSize: MAX_HEADER, requestTimeout: 10_000, headersTimeout: 10_000 }, answer);
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

function answer(req: IncomingMessage, res: ServerResponse): void {
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
