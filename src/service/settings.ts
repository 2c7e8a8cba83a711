// The daemon's settings: the Config it runs on, and one table of every setting (its flag, its
// key in the config file, its default, whether SIGHUP reloads it), from which the command line,
// the config file, `vmail config check`, the man page and shell completion are all made.
// load-config.ts reads and checks them (flags over environment over config file over defaults).
import { InputError } from '../model/errors.js';
import type { StoreLocation } from '../store/location.js';
import { LOG_LEVELS, type LogLevel } from '../support/log.js';

export interface Listen {
  host: string;
  port: number;
}

export interface Config {
  dataDir: string;
  /** Where accounts, forwards and the queue are kept. */
  store: StoreLocation;
  /** This daemon's name among those that share a PostgreSQL store. */
  node: string;
  /** How many Maildirs are watched with inotify; the sweep covers the rest. */
  watchLimit: number;
  socketPath: string;
  domains: string[];
  /** Where postmaster@ of a hosted domain without a postmaster of its own goes; null: nowhere. */
  postmaster: string | null;
  pop3: Listen;
  pop3s: Listen | null;
  smtp: Listen;
  /** Autoconfig and autodiscover for mail clients, ACME's HTTP-01; null: off. */
  http: Listen | null;
  /** The same over TLS, and the MTA-STS policy of the hosted domains; null: off (or no certificate). */
  https: Listen | null;
  /** SMTP submission (STARTTLS, then AUTH); null: off. */
  submission: Listen | null;
  /** Submission over implicit TLS (RFC 8314); null: off, or no certificate while left at its default. */
  submissions: Listen | null;
  /** Recipients one account may send to within the window (--send-limit N/DURATION). */
  sendLimit: { count: number; windowMs: number };
  /** Prometheus metrics over HTTP at /metrics; null: off. */
  metrics: Listen | null;
  applyIntervalMs: number;
  relay: string | null;
  /** A PEM file of the CA that signs a private relay's certificate (else the system's CAs). */
  relayCaFile: string | null;
  tlsCert: string | null;
  tlsKey: string | null;
  /** The ACME directory URL certificates are ordered from (instead of tls-cert); null: off. */
  acme: string | null;
  /** The contact address of the ACME account. */
  acmeEmail: string | null;
  /** A PEM file of the CA that signs a private ACME server's API certificate. */
  acmeCaFile: string | null;
  /** The names the certificate covers besides the host name (mail.DOMAIN, mta-sts.DOMAIN). */
  acmeNames: string[];
  /** Logins only over TLS: true everywhere, false never, null (unset) once a certificate is set, loopback excepted. */
  requireTlsAuth: boolean | null;
  maxMessageSize: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  authFailureDelayMs: number;
  /** Good logins remembered (as HMACs) so the next ones skip Argon2id; 0: no cache. */
  authCacheSize: number;
  rescanIntervalMs: number;
  relayTimeoutMs: number;
  pop3IdleTimeoutMs: number;
  /** rspamd's HTTP address (its normal worker); null: no spam filtering. */
  rspamd: string | null;
  /** What mail gets when rspamd does not answer: accepted unchecked, or deferred with 451. */
  rspamdFail: 'open' | 'tempfail';
  rspamdTimeoutMs: number;
  /** How many days an SRS address of a forwarded message is honoured for its bounce. */
  srsMaxAgeDays: number;
  /** How long the audit log keeps an entry. */
  auditRetentionDays: number;
  /** How many days the trail (vmail trace) keeps each address's events; 0: no trail is recorded. */
  trailDays: number;
  /** The percentages of a quota at which a warning goes into the mailbox, lowest first; empty: none. */
  quotaWarn: number[];
  /** The DNS server for the checks made when sealing forwarded mail (ARC); null: the system's. */
  resolver: string | null;
  /** The user to run as once the ports are bound (when started as root). */
  user: string | null;
  /** This server's name: the SMTP greeting, Received: lines, bounces, mail client settings. */
  hostname: string;
  logLevel: LogLevel;
  /** The config file read, if any. */
  configFile: string | null;
}

/** A configuration problem: exit status 78 (EX_CONFIG), so systemd does not restart in a loop. */
export class ConfigError extends InputError {}

/** A setting's value as written: one string, or several for a setting given more than once. */
export type Value = string | string[];

interface Setting {
  /** The flag without dashes, and the key in the config file. */
  key: string;
  /** Where its value goes in Config. */
  field: keyof Config;
  /** What the value looks like, for --help and the man page. */
  arg: string;
  help: string;
  default: string | null;
  multiple?: true;
  /** SIGHUP applies a new value without a restart. */
  reloadable?: true;
}

/** Every daemon setting. */
export const SETTINGS: readonly Setting[] = [
  { key: 'data-dir', field: 'dataDir', arg: 'DIR', help: 'accounts, queue and mail', default: '/var/lib/vmail' },
  { key: 'socket', field: 'socketPath', arg: 'PATH', help: 'the control socket', default: null },
  {
    key: 'store',
    field: 'store',
    arg: 'URL',
    help: 'sqlite:PATH (default DATA_DIR/vmail.sqlite) or postgres://USER@HOST/DB, which several daemons on one mail root share',
    default: null,
  },
  {
    key: 'node',
    field: 'node',
    arg: 'NAME',
    help: "this daemon's name among those sharing a postgres store (default: the hostname)",
    default: null,
  },
  {
    key: 'watch-limit',
    field: 'watchLimit',
    arg: 'N',
    help: "Maildirs watched with inotify for size changes (0 on NFS, where inotify misses other hosts' writes; the sweep covers the rest)",
    default: '20000',
  },
  {
    key: 'domain',
    field: 'domains',
    arg: 'NAME',
    help: 'a hosted domain (repeat for more)',
    default: null,
    multiple: true,
  },
  {
    key: 'postmaster',
    field: 'postmaster',
    arg: 'ADDRESS',
    help: 'where postmaster@ every hosted domain goes when the domain has no postmaster account or forward of its own',
    default: null,
    reloadable: true,
  },
  {
    key: 'pop3',
    field: 'pop3',
    arg: 'HOST:PORT',
    help: 'POP3 listener (port 0 picks a free one)',
    default: '0.0.0.0:110',
  },
  {
    key: 'pop3s',
    field: 'pop3s',
    arg: 'HOST:PORT',
    help: 'POP3 over TLS listener (needs tls-cert and tls-key)',
    default: null,
  },
  { key: 'smtp', field: 'smtp', arg: 'HOST:PORT', help: 'SMTP listener, the inbound MX', default: '0.0.0.0:25' },
  {
    key: 'submission',
    field: 'submission',
    arg: 'HOST:PORT',
    help: "SMTP submission for the accounts' mail clients: STARTTLS, then AUTH (0: off)",
    default: '0.0.0.0:587',
  },
  {
    key: 'submissions',
    field: 'submissions',
    arg: 'HOST:PORT',
    help: 'submission over implicit TLS, RFC 8314 (0: off; off by default while no tls-cert is set)',
    default: '0.0.0.0:465',
  },
  {
    key: 'quota-warn',
    field: 'quotaWarn',
    arg: 'PERCENT,...',
    help: 'put a warning from postmaster@DOMAIN into a mailbox as it fills past each percentage of its quota, once per crossing (text: DATA_DIR/quota-warning.txt); none: no warnings',
    default: '80,95',
    reloadable: true,
  },
  {
    key: 'send-limit',
    field: 'sendLimit',
    arg: 'N/DURATION',
    help: 'recipients one account may send to in that time, e.g. 500/1d (each recipient counts; past it: 451 4.7.1)',
    default: '500/1d',
    reloadable: true,
  },
  {
    key: 'http',
    field: 'http',
    arg: 'HOST:PORT',
    help: 'HTTP listener: mail client autoconfig (Thunderbird) and autodiscover (Outlook); 0 turns it off',
    default: '0.0.0.0:80',
  },
  {
    key: 'https',
    field: 'https',
    arg: 'HOST:PORT',
    help: "HTTPS listener: the hosted domains' MTA-STS policy (mta-sts.DOMAIN) and autoconfig over TLS (0: off; off by default while no certificate is set)",
    default: '0.0.0.0:443',
  },
  {
    key: 'metrics',
    field: 'metrics',
    arg: 'HOST:PORT',
    help: 'Prometheus text format at http://HOST:PORT/metrics (off by default; 0 is off, port 0 picks a free one)',
    default: null,
  },
  {
    key: 'apply-interval',
    field: 'applyIntervalMs',
    arg: 'DURATION',
    help: 'queued changes apply at multiples of this',
    default: '1h',
  },
  {
    key: 'relay',
    field: 'relay',
    arg: 'smtp://HOST:PORT',
    help: 'where forwarded mail goes out: smtp://[USER:PASSWORD@]HOST:PORT (with a password: STARTTLS, certificate verified, then AUTH) or smtps://... (TLS, certificate verified)',
    default: null,
    reloadable: true,
  },
  {
    key: 'relay-ca-file',
    field: 'relayCaFile',
    arg: 'FILE',
    help: "PEM certificate(s) of the CA that signs the relay's certificate (a private relay); default the system's CAs",
    default: null,
    reloadable: true,
  },
  {
    key: 'tls-cert',
    field: 'tlsCert',
    arg: 'FILE',
    help: 'certificate (PEM) for STLS, STARTTLS and POP3S',
    default: null,
    reloadable: true,
  },
  {
    key: 'tls-key',
    field: 'tlsKey',
    arg: 'FILE',
    help: "the certificate's key (PEM)",
    default: null,
    reloadable: true,
  },
  {
    key: 'acme',
    field: 'acme',
    arg: 'URL',
    help: 'order the certificate by ACME from this directory URL (e.g. https://acme-v02.api.letsencrypt.org/directory) instead of tls-cert; HTTP-01 is answered on --http; kept in DATA_DIR/acme, renewed when a third of its lifetime is left',
    default: null,
  },
  {
    key: 'acme-email',
    field: 'acmeEmail',
    arg: 'ADDRESS',
    help: "the ACME account's contact address (needed with --acme)",
    default: null,
  },
  {
    key: 'acme-ca-file',
    field: 'acmeCaFile',
    arg: 'FILE',
    help: "PEM certificate(s) of the CA that signs a private ACME server's API certificate; default the system's CAs",
    default: null,
  },
  {
    key: 'acme-names',
    field: 'acmeNames',
    arg: 'NAME,...',
    help: 'more names for the ACME certificate besides --hostname, e.g. mail.example.com,mta-sts.example.com (each must reach this server on port 80)',
    default: null,
  },
  {
    key: 'require-tls-auth',
    field: 'requireTlsAuth',
    arg: 'yes|no',
    help: 'logins only over TLS (STLS or POP3S): yes everywhere, no never; unset: yes once a certificate is configured, 127.0.0.1 and ::1 excepted',
    default: null,
    reloadable: true,
  },
  {
    key: 'max-message-size',
    field: 'maxMessageSize',
    arg: 'SIZE',
    help: 'largest message accepted (25M, 512K)',
    default: '25M',
    reloadable: true,
  },
  {
    key: 'max-connections',
    field: 'maxConnections',
    arg: 'N',
    help: 'connections at once, per protocol',
    default: '1000',
  },
  {
    key: 'max-connections-per-address',
    field: 'maxConnectionsPerAddress',
    arg: 'N',
    help: 'connections one client address may hold, per protocol (POP3, SMTP, submission, --http)',
    default: '20',
    reloadable: true,
  },
  {
    key: 'auth-failure-delay',
    field: 'authFailureDelayMs',
    arg: 'DELAY',
    help: 'first wait after a failed login, or before answering a refused SMTP recipient past the first 10 from an address (500ms, 2s)',
    default: '500ms',
    reloadable: true,
  },
  {
    key: 'auth-cache',
    field: 'authCacheSize',
    arg: 'N',
    help: "good logins remembered for an hour as an HMAC (never the password), so a client's next login skips the password hash, as Dovecot's auth_cache (0: off)",
    default: '100000',
  },
  {
    key: 'rescan-interval',
    field: 'rescanIntervalMs',
    arg: 'DURATION',
    help: 'sweep of Maildir folder times',
    default: '30s',
  },
  {
    key: 'relay-timeout',
    field: 'relayTimeoutMs',
    arg: 'DURATION',
    help: 'how long the relay (without --relay: each MX host) may take to answer',
    default: '30s',
    reloadable: true,
  },
  {
    key: 'pop3-idle-timeout',
    field: 'pop3IdleTimeoutMs',
    arg: 'DURATION',
    help: 'idle POP3 sessions end after this',
    default: '10m',
    reloadable: true,
  },
  {
    key: 'rspamd',
    field: 'rspamd',
    arg: 'URL',
    help: "check each message with rspamd's HTTP protocol here, e.g. http://127.0.0.1:11333 (off when not set)",
    default: null,
    reloadable: true,
  },
  {
    key: 'rspamd-fail',
    field: 'rspamdFail',
    arg: 'open|tempfail',
    help: 'when rspamd does not answer: accept mail unchecked (open) or defer it with 451 (tempfail)',
    default: 'tempfail',
    reloadable: true,
  },
  {
    key: 'rspamd-timeout',
    field: 'rspamdTimeoutMs',
    arg: 'DURATION',
    help: 'how long rspamd may take over one message',
    default: '15s',
    reloadable: true,
  },
  {
    key: 'srs-max-age',
    field: 'srsMaxAgeDays',
    arg: 'DAYS',
    help: 'how long the SRS sender of a forwarded message accepts its bounces (21d)',
    default: '21d',
  },
  {
    key: 'audit-retention',
    field: 'auditRetentionDays',
    arg: 'DAYS',
    help: 'how long the audit log (vmail log) keeps who changed what (365d)',
    default: '365d',
    reloadable: true,
  },
  {
    key: 'trail-days',
    field: 'trailDays',
    arg: 'DAYS',
    help: "how long vmail trace keeps each address's mail and login events (0: none are recorded)",
    default: '30',
  },
  {
    key: 'resolver',
    field: 'resolver',
    arg: 'IP[:PORT]',
    help: "DNS server for the MX and MTA-STS lookups of outgoing mail and the SPF, DKIM and DMARC lookups made when sealing forwarded mail (default: the system's)",
    default: null,
  },
  {
    key: 'hostname',
    field: 'hostname',
    arg: 'NAME',
    help: "this server's name, as mail clients and other servers see it (default: the system's)",
    default: null,
  },
  {
    key: 'user',
    field: 'user',
    arg: 'NAME',
    help: 'run as this user once the ports are bound (when started as root)',
    default: null,
  },
  {
    key: 'log-level',
    field: 'logLevel',
    arg: 'LEVEL',
    help: `${LOG_LEVELS.join(', ')}`,
    default: 'info',
    reloadable: true,
  },
];

export const DEFAULT_CONFIG_FILE = '/etc/vmail/vmail.conf';
/** Where the installed service puts its control socket (systemd's RuntimeDirectory). */
export const SERVICE_SOCKET = '/run/vmail/control.sock';
