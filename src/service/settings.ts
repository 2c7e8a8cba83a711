// The daemon's settings: one table of every setting (its flag, its key in the config file, its
// default, how it is checked, whether SIGHUP reloads it), from which the command line, the
// config file, `vmail config check`, the man page and shell completion are all made. Flags
// override the environment, which overrides the config file, which overrides the defaults.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseToml, type TomlError } from 'smol-toml';
import { InputError } from '../model/errors.js';
import { normalizeDomain } from '../model/names.js';
import { parseDuration } from '../model/schedule.js';
import { parseStoreLocation, type StoreLocation } from '../store/location.js';
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
  applyIntervalMs: number;
  relay: string | null;
  /** A PEM file of the CA that signs a private relay's certificate (else the system's CAs). */
  relayCaFile: string | null;
  tlsCert: string | null;
  tlsKey: string | null;
  /** Logins only over TLS: true everywhere, false never, null (unset) once a certificate is set, loopback excepted. */
  requireTlsAuth: boolean | null;
  maxMessageSize: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  authFailureDelayMs: number;
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

type Value = string | string[];

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

/**
 * The longest node name: the others find a daemon by its connection's name, `vmail-node:NAME`,
 * and PostgreSQL keeps 63 bytes of that (a longer name would never match its own).
 */
const NODE_MAX = 52;

/** The host name as the default node name: whole when it fits, else cut with a hash of the whole (two long names stay apart). */
function defaultNode(host: string): string {
  if (host.length <= NODE_MAX) return host;
  return `${host.slice(0, NODE_MAX - 9)}-${createHash('sha256').update(host).digest('hex').slice(0, 8)}`;
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
    help: 'connections one client address may hold, per protocol (POP3, SMTP)',
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
    help: 'how long the relay may take to answer',
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
    key: 'resolver',
    field: 'resolver',
    arg: 'IP[:PORT]',
    help: "DNS server for the SPF, DKIM and DMARC lookups made when sealing forwarded mail (default: the system's)",
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

/** Where a setting's value came from, for `vmail config check`. */
export type Source = 'flag' | 'environment' | `${string}:${number}` | 'default';

export interface Loaded {
  config: Config;
  /** Each setting as written (flag, file or default), and where it came from. */
  values: Record<string, Value | null>;
  sources: Record<string, Source>;
}

/** The config file to read: --config, $VMAIL_CONFIG, or the default path if it exists. */
export function configFileFrom(flag: string | undefined, env = process.env): string | null {
  if (flag) return resolve(flag);
  if (env.VMAIL_CONFIG) return resolve(env.VMAIL_CONFIG);
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null;
}

/** Reads a config file: each known key with its value and line. Unknown keys and bad values are ConfigErrors. */
export function readConfigFile(file: string): Map<string, { value: Value; line: number }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    const e = err as TomlError;
    throw new ConfigError(
      `${file}:${e.line ?? '?'}: ${(e.message.split('\n')[0] ?? 'not valid').replace(/^Invalid TOML document: /, '')}`,
    );
  }
  const lineOf = (key: string) => {
    const i = text
      .split('\n')
      .findIndex((l) => new RegExp(`^\\s*["']?${key.replace(/[.-]/g, '\\$&')}["']?\\s*=`).test(l));
    return i + 1;
  };
  const out = new Map<string, { value: Value; line: number }>();
  for (const [key, raw] of Object.entries(doc)) {
    const setting = SETTINGS.find((s) => s.key === key);
    if (!setting)
      throw new ConfigError(
        `${file}:${lineOf(key)}: unknown setting ${JSON.stringify(key)} (see vmail config check --help for the settings)`,
      );
    const line = lineOf(key);
    const value =
      typeof raw === 'string'
        ? raw
        : typeof raw === 'number' && Number.isInteger(raw)
          ? String(raw)
          : Array.isArray(raw) && setting.multiple && raw.every((x) => typeof x === 'string')
            ? (raw as string[])
            : null;
    if (value === null)
      throw new ConfigError(
        `${file}:${line}: ${key} must be ${setting.multiple ? 'a string or a list of strings' : 'a string'}`,
      );
    out.set(key, { value, line });
  }
  return out;
}

export function parseListen(input: string, flag: string): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(input);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new ConfigError(
      `${flag} ${JSON.stringify(input)}: write HOST:PORT, e.g. 127.0.0.1:110 (port 0 picks a free one)`,
    );
  return { host: m[1] ?? m[2], port };
}

function parseSize(input: string, flag: string): number {
  const m = /^(\d+)\s*([kmg]?)b?$/i.exec(input.trim());
  if (!m) throw new ConfigError(`${flag} ${JSON.stringify(input)}: write a size like 25M, 512K or 1048576`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

function parseCount(input: string, flag: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(input))
    throw new ConfigError(`${flag} ${JSON.stringify(input)}: write a whole number from 1`);
  return Number(input);
}

function parseMillis(input: string, flag: string): number {
  const m = /^(\d+)(ms|s)$/.exec(input);
  if (!m || Number(m[1]) > 60_000)
    throw new ConfigError(`${flag} ${JSON.stringify(input)}: write a delay like 500ms or 2s`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function duration(input: string, flag: string): number {
  try {
    return parseDuration(input, flag);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/**
 * The daemon's configuration from its flags (given as strings, by setting key), the
 * environment and the config file, with where each value came from.
 */
export function loadConfig(
  flags: Record<string, Value | undefined>,
  configFile: string | null,
  env = process.env,
): Loaded {
  const file = configFile ? readConfigFile(configFile) : new Map<string, { value: Value; line: number }>();
  const sources: Record<string, Source> = {};
  const values: Record<string, Value | null> = {};
  const raw = (key: string): Value | null => {
    values[key] = lookup(key);
    return values[key];
  };
  const lookup = (key: string): Value | null => {
    const flag = flags[key];
    if (flag !== undefined && !(Array.isArray(flag) && flag.length === 0)) {
      sources[key] = 'flag';
      return flag;
    }
    const fromEnv = key === 'data-dir' ? env.VMAIL_DATA_DIR : key === 'socket' ? env.VMAIL_SOCKET : undefined;
    if (fromEnv) {
      sources[key] = 'environment';
      return fromEnv;
    }
    const inFile = file.get(key);
    if (inFile) {
      sources[key] = `${configFile}:${inFile.line}`;
      return inFile.value;
    }
    sources[key] = 'default';
    return SETTINGS.find((s) => s.key === key)!.default;
  };
  /** The name a value goes by in an error: the flag, or the file and line it came from. */
  const where = (key: string) => (sources[key]?.includes(':') ? `${sources[key]}: ${key}` : `--${key}`);
  const one = (key: string): string | null => {
    const v = raw(key);
    if (Array.isArray(v)) throw new ConfigError(`${where(key)}: give one value`);
    return v;
  };
  const req = (key: string) => one(key)!;

  const dataDir = resolve(req('data-dir'));
  let store: StoreLocation;
  try {
    store = parseStoreLocation(one('store'), dataDir);
  } catch (err) {
    throw new ConfigError(`${where('store')}: ${(err as Error).message}`);
  }
  if (store.kind === 'sqlite') store.path = resolve(store.path);
  const node = one('node') ?? defaultNode(osHostname() || 'localhost');
  if (!new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${NODE_MAX - 1}}$`).test(node))
    throw new ConfigError(
      `${where('node')} ${JSON.stringify(node)}: letters, digits, '.', '_' and '-', up to ${NODE_MAX} (PostgreSQL keeps 63 bytes of a connection's name, vmail-node:NAME)`,
    );
  const watchLimit = Number(req('watch-limit'));
  if (!/^\d{1,7}$/.test(req('watch-limit')))
    throw new ConfigError(`${where('watch-limit')} ${JSON.stringify(req('watch-limit'))}: a count, 0 to 9999999`);
  const relay = one('relay');
  if (relay !== null && !/^smtps?:\/\/[^/\s]+(:\d+)?\/?$/.test(relay))
    throw new ConfigError(`${where('relay')} ${JSON.stringify(relay)}: write smtp://HOST:PORT`);
  const relayCaFile = one('relay-ca-file');
  const rspamd = one('rspamd');
  if (rspamd !== null && !/^https?:\/\/[^/\s]+(:\d+)?\/?$/.test(rspamd))
    throw new ConfigError(
      `${where('rspamd')} ${JSON.stringify(rspamd)}: write http://HOST:PORT, e.g. http://127.0.0.1:11333`,
    );
  const rspamdFail = req('rspamd-fail');
  if (rspamdFail !== 'open' && rspamdFail !== 'tempfail')
    throw new ConfigError(`${where('rspamd-fail')} ${JSON.stringify(rspamdFail)}: open or tempfail`);
  const srsAge = /^([1-9]\d{0,2})d$/.exec(req('srs-max-age'));
  if (!srsAge || Number(srsAge[1]) > 365)
    throw new ConfigError(
      `${where('srs-max-age')} ${JSON.stringify(req('srs-max-age'))}: write days like 21d (1d to 365d)`,
    );
  const retention = /^([1-9]\d{0,4})d$/.exec(req('audit-retention'));
  if (!retention || Number(retention[1]) > 36_500)
    throw new ConfigError(
      `${where('audit-retention')} ${JSON.stringify(req('audit-retention'))}: write days like 365d (1d to 36500d)`,
    );
  const resolver = one('resolver');
  if (resolver !== null && !/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\])(:\d{1,5})?$/.test(resolver))
    throw new ConfigError(
      `${where('resolver')} ${JSON.stringify(resolver)}: write an IP address, e.g. 127.0.0.1 or 127.0.0.1:53`,
    );
  const tlsCert = one('tls-cert');
  const tlsKey = one('tls-key');
  if (Boolean(tlsCert) !== Boolean(tlsKey))
    throw new ConfigError('tls-cert and tls-key go together: give both or neither');
  const requireTls = one('require-tls-auth');
  if (requireTls !== null && requireTls !== 'yes' && requireTls !== 'no')
    throw new ConfigError(`${where('require-tls-auth')} ${JSON.stringify(requireTls)}: yes or no`);
  if (requireTls === 'yes' && !tlsCert)
    throw new ConfigError(
      `${where('require-tls-auth')} yes needs tls-cert and tls-key: without them nobody could log in`,
    );
  const postmaster = one('postmaster');
  if (
    postmaster !== null &&
    !/^[^\s@<>"(),;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(postmaster)
  )
    throw new ConfigError(
      `${where('postmaster')} ${JSON.stringify(postmaster)}: write an address like root@mail.example.com`,
    );
  const pop3s = one('pop3s');
  if (pop3s && !tlsCert) throw new ConfigError(`${where('pop3s')} needs tls-cert and tls-key`);
  const logLevel = req('log-level') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError(`${where('log-level')} ${JSON.stringify(logLevel)}: one of ${LOG_LEVELS.join(', ')}`);
  const domains = raw('domain');
  const user = one('user');
  if (user !== null && !/^[a-z_][a-z0-9_-]{0,31}\$?$/i.test(user))
    throw new ConfigError(`${where('user')} ${JSON.stringify(user)} is not a user name`);
  let domainList: string[];
  try {
    domainList = (domains === null ? [] : Array.isArray(domains) ? domains : [domains]).map(normalizeDomain);
  } catch (err) {
    throw new ConfigError(`${where('domain')}: ${(err as Error).message}`);
  }
  const config: Config = {
    dataDir,
    store,
    node,
    watchLimit,
    socketPath: '',
    domains: domainList,
    postmaster,
    pop3: parseListen(req('pop3'), where('pop3')),
    pop3s: pop3s ? parseListen(pop3s, where('pop3s')) : null,
    smtp: parseListen(req('smtp'), where('smtp')),
    applyIntervalMs: duration(req('apply-interval'), where('apply-interval')),
    relay,
    relayCaFile: relayCaFile ? resolve(relayCaFile) : null,
    tlsCert: tlsCert ? resolve(tlsCert) : null,
    tlsKey: tlsKey ? resolve(tlsKey) : null,
    requireTlsAuth: requireTls === null ? null : requireTls === 'yes',
    maxMessageSize: parseSize(req('max-message-size'), where('max-message-size')),
    maxConnections: parseCount(req('max-connections'), where('max-connections')),
    maxConnectionsPerAddress: parseCount(req('max-connections-per-address'), where('max-connections-per-address')),
    authFailureDelayMs: parseMillis(req('auth-failure-delay'), where('auth-failure-delay')),
    rescanIntervalMs: duration(req('rescan-interval'), where('rescan-interval')),
    relayTimeoutMs: duration(req('relay-timeout'), where('relay-timeout')),
    pop3IdleTimeoutMs: duration(req('pop3-idle-timeout'), where('pop3-idle-timeout')),
    rspamd: rspamd?.replace(/\/$/, '') ?? null,
    rspamdFail,
    rspamdTimeoutMs: duration(req('rspamd-timeout'), where('rspamd-timeout')),
    srsMaxAgeDays: Number(srsAge[1]),
    auditRetentionDays: Number(retention[1]),
    resolver,
    user,
    hostname: one('hostname') ?? (osHostname() || 'localhost'),
    logLevel,
    configFile,
  };
  const socket = one('socket');
  config.socketPath = socket ? resolve(socket) : join(dataDir, 'control.sock');
  values.socket = config.socketPath;
  return { config, values, sources };
}

/**
 * The control socket a client uses: --socket, $VMAIL_SOCKET, the config file's, the installed
 * service's (/run/vmail) if it is there, else DATA_DIR/control.sock.
 */
export function socketPathFrom(
  flags: { socket?: string; dataDir?: string; config?: string },
  env = process.env,
): string {
  if (flags.socket) return resolve(flags.socket);
  if (env.VMAIL_SOCKET) return resolve(env.VMAIL_SOCKET);
  const file = configFileFrom(flags.config, env);
  let fromFile: Map<string, { value: Value; line: number }> | null = null;
  try {
    fromFile = file ? readConfigFile(file) : null;
  } catch {
    // A client that cannot read the daemon's config (not in group vmail) looks in the usual places.
  }
  const socket = fromFile?.get('socket')?.value;
  if (typeof socket === 'string') return resolve(socket);
  if (!flags.dataDir && !env.VMAIL_DATA_DIR && existsSync(SERVICE_SOCKET)) return SERVICE_SOCKET;
  const dataDir =
    flags.dataDir ?? env.VMAIL_DATA_DIR ?? (fromFile?.get('data-dir')?.value as string | undefined) ?? '/var/lib/vmail';
  return join(resolve(dataDir), 'control.sock');
}
