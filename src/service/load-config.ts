// The daemon's configuration made from its settings: each looked up in turn (flag, environment,
// config file, default) with where it came from, checked one concern at a time, and read into
// a Config. `vmail daemon`, its reload on SIGHUP and `vmail config check` all start here.
import { createHash } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { normalizeDomain } from '../model/names.js';
import { parseStoreLocation, type StoreLocation } from '../store/location.js';
import { LOG_LEVELS, type LogLevel } from '../support/log.js';
import { type ConfigFileValues, readConfigFile } from './config-file.js';
import { duration, parseCount, parseListen, parseMillis, parseOptionalListen, parseSize } from './setting-values.js';
import { type Config, ConfigError, SETTINGS, type Value } from './settings.js';

/** Where a setting's value came from, for `vmail config check`. */
export type Source = 'flag' | 'environment' | `${string}:${number}` | 'default';

export interface Loaded {
  config: Config;
  /** Each setting as written (flag, file or default), and where it came from. */
  values: Record<string, Value | null>;
  sources: Record<string, Source>;
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

/**
 * Reads settings by key: flag, then environment (data-dir and socket only), then config file,
 * then default. Each value read is kept in `values` with where it came from in `sources`.
 */
function settingReader(
  flags: Record<string, Value | undefined>,
  configFile: string | null,
  env: NodeJS.ProcessEnv,
  fileValues?: ConfigFileValues,
) {
  const file: ConfigFileValues = fileValues ?? (configFile ? readConfigFile(configFile) : new Map());
  const sources: Record<string, Source> = {};
  const values: Record<string, Value | null> = {};
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
  const raw = (key: string): Value | null => {
    values[key] = lookup(key);
    return values[key];
  };
  /** The name a value goes by in an error: the flag, or the file and line it came from. */
  const where = (key: string) => (sources[key]?.includes(':') ? `${sources[key]}: ${key}` : `--${key}`);
  const one = (key: string): string | null => {
    const v = raw(key);
    if (Array.isArray(v)) throw new ConfigError(`${where(key)}: give one value`);
    return v;
  };
  const req = (key: string) => one(key)!;
  return { values, sources, raw, where, one, req };
}

type Settings = ReturnType<typeof settingReader>;

/** Where the data is kept and who this daemon is among those sharing it. */
function storeSettings({ one, req, where }: Settings): Pick<Config, 'dataDir' | 'store' | 'node' | 'watchLimit'> {
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
  return { dataDir, store, node, watchLimit };
}

/** How many good logins the auth cache keeps: 0 (off) to 9,999,999. */
function authCacheSetting({ req, where }: Settings): number {
  const v = req('auth-cache');
  if (!/^\d{1,7}$/.test(v))
    throw new ConfigError(`${where('auth-cache')} ${JSON.stringify(v)}: a count of logins, 0 (off) to 9999999`);
  return Number(v);
}

/** Where forwarded mail goes out, and the spam filter incoming mail passes. */
function relayAndFilterSettings({
  one,
  req,
  where,
}: Settings): Pick<Config, 'relay' | 'relayCaFile' | 'rspamd' | 'rspamdFail'> {
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
  return {
    relay,
    relayCaFile: relayCaFile ? resolve(relayCaFile) : null,
    rspamd: rspamd?.replace(/\/$/, '') ?? null,
    rspamdFail,
  };
}

/** How long a forwarded message's SRS address and the audit log's entries are kept. */
function retentionSettings({
  req,
  where,
}: Settings): Pick<Config, 'srsMaxAgeDays' | 'auditRetentionDays' | 'trailDays'> {
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
  const trail = /^(0|[1-9]\d{0,3})d?$/.exec(req('trail-days'));
  if (!trail || Number(trail[1]) > 3650)
    throw new ConfigError(
      `${where('trail-days')} ${JSON.stringify(req('trail-days'))}: write days like 30 (0: off, at most 3650)`,
    );
  return { srsMaxAgeDays: Number(srsAge[1]), auditRetentionDays: Number(retention[1]), trailDays: Number(trail[1]) };
}

/** The DNS server for the checks made when sealing forwarded mail. */
function resolverSetting({ one, where }: Settings): string | null {
  const resolver = one('resolver');
  if (resolver !== null && !/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\])(:\d{1,5})?$/.test(resolver))
    throw new ConfigError(
      `${where('resolver')} ${JSON.stringify(resolver)}: write an IP address, e.g. 127.0.0.1 or 127.0.0.1:53`,
    );
  return resolver;
}

/** The certificate and key, which go together, and whether logins need TLS (only with them). */
function tlsSettings({ one, where }: Settings): Pick<Config, 'tlsCert' | 'tlsKey' | 'requireTlsAuth'> {
  const tlsCert = one('tls-cert');
  const tlsKey = one('tls-key');
  if (Boolean(tlsCert) !== Boolean(tlsKey))
    throw new ConfigError('tls-cert and tls-key go together: give both or neither');
  const requireTls = one('require-tls-auth');
  if (requireTls !== null && requireTls !== 'yes' && requireTls !== 'no')
    throw new ConfigError(`${where('require-tls-auth')} ${JSON.stringify(requireTls)}: yes or no`);
  if (requireTls === 'yes' && !tlsCert && !one('acme'))
    throw new ConfigError(
      `${where('require-tls-auth')} yes needs tls-cert and tls-key: without them nobody could log in`,
    );
  return {
    tlsCert: tlsCert ? resolve(tlsCert) : null,
    tlsKey: tlsKey ? resolve(tlsKey) : null,
    requireTlsAuth: requireTls === null ? null : requireTls === 'yes',
  };
}

/** Certificates by ACME: the directory, its account's address, the private CA, the names. */
function acmeSettings(
  { one, where }: Settings,
  tlsCert: string | null,
  http: Config['http'],
): Pick<Config, 'acme' | 'acmeEmail' | 'acmeCaFile' | 'acmeNames'> {
  const acme = one('acme');
  const acmeEmail = one('acme-email');
  const acmeCaFile = one('acme-ca-file');
  const names = one('acme-names');
  if (acme === null) {
    for (const [key, v] of [
      ['acme-email', acmeEmail],
      ['acme-ca-file', acmeCaFile],
      ['acme-names', names],
    ] as const)
      if (v !== null) throw new ConfigError(`${where(key)} needs --acme URL`);
    return { acme: null, acmeEmail: null, acmeCaFile: null, acmeNames: [] };
  }
  if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(acme))
    throw new ConfigError(`${where('acme')} ${JSON.stringify(acme)}: write the ACME directory URL, https://HOST/PATH`);
  if (tlsCert) throw new ConfigError(`${where('acme')} and tls-cert: give one, not both`);
  if (!http) throw new ConfigError(`${where('acme')} needs --http (HTTP-01 challenges are answered there)`);
  if (
    acmeEmail === null ||
    !/^[^\s@<>"(),;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(acmeEmail)
  )
    throw new ConfigError(
      `${where('acme-email')}: --acme needs the account's contact address, e.g. --acme-email root@example.com`,
    );
  const acmeNames: string[] = [];
  for (const raw of names === null ? [] : names.split(',')) {
    const name = raw.trim().toLowerCase().replace(/\.$/, '');
    if (!/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/.test(name))
      throw new ConfigError(`${where('acme-names')}: ${JSON.stringify(raw)} is not a host name`);
    if (!acmeNames.includes(name)) acmeNames.push(name);
  }
  return { acme, acmeEmail, acmeCaFile: acmeCaFile ? resolve(acmeCaFile) : null, acmeNames };
}

/** The submission listeners (`0`: off) and the sending limit per account. */
function submissionSettings(
  { req, where, sources }: Settings,
  tlsCert: string | null,
): Pick<Config, 'submission' | 'submissions' | 'sendLimit'> {
  const listen = (key: string) => parseOptionalListen(req(key), where(key));
  const submission = listen('submission');
  let submissions = listen('submissions');
  // Left at its default, implicit TLS waits for a certificate; asked for, it needs one.
  if (submissions && !tlsCert) {
    if (sources.submissions !== 'default')
      throw new ConfigError(`${where('submissions')} needs tls-cert and tls-key (or --acme)`);
    submissions = null;
  }
  const limit = req('send-limit');
  const m = /^([1-9]\d{0,6})\/(\S+)$/.exec(limit);
  if (!m)
    throw new ConfigError(
      `${where('send-limit')} ${JSON.stringify(limit)}: write messages per time, e.g. 500/1d or 50/1h`,
    );
  return { submission, submissions, sendLimit: { count: Number(m[1]), windowMs: duration(m[2], where('send-limit')) } };
}

/** --quota-warn: percentages from 1 to 100, lowest first, or none. */
function quotaWarnSetting({ req, where }: Settings): number[] {
  const v = req('quota-warn').trim().toLowerCase();
  if (v === 'none' || v === 'off') return [];
  const parts = v.split(',').map((p) => p.trim().replace(/%$/, ''));
  if (parts.length > 10 || !parts.every((p) => /^[1-9]\d{0,2}$/.test(p) && Number(p) <= 100))
    throw new ConfigError(
      `${where('quota-warn')} ${JSON.stringify(v.slice(0, 60))}: write percentages from 1 to 100 like 80,95, or none`,
    );
  return [...new Set(parts.map(Number))].sort((a, b) => a - b);
}

/** Where postmaster@ of a domain without its own goes. */
function postmasterSetting({ one, where }: Settings): string | null {
  const postmaster = one('postmaster');
  if (
    postmaster !== null &&
    !/^[^\s@<>"(),;:\\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(postmaster)
  )
    throw new ConfigError(
      `${where('postmaster')} ${JSON.stringify(postmaster)}: write an address like root@mail.example.com`,
    );
  return postmaster;
}

function logLevelSetting({ req, where }: Settings): LogLevel {
  const logLevel = req('log-level') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError(`${where('log-level')} ${JSON.stringify(logLevel)}: one of ${LOG_LEVELS.join(', ')}`);
  return logLevel;
}

/** The hosted domains given in the settings, and the user to run as. */
function domainsAndUser({ raw, one, where }: Settings): Pick<Config, 'domains' | 'user'> {
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
  return { domains: domainList, user };
}

/**
 * The daemon's configuration from its flags (given as strings, by setting key), the
 * environment and the config file, with where each value came from. The settings are checked
 * in one order, so that of several mistakes the same one is always named first.
 */
export function loadConfig(
  flags: Record<string, Value | undefined>,
  configFile: string | null,
  env = process.env,
  /** The file's values as already read (`config check` leaves out the ones it found wrong). */
  fileValues?: ConfigFileValues,
): Loaded {
  const settings = settingReader(flags, configFile, env, fileValues);
  const { values, sources, one, req, where } = settings;
  const { dataDir, store, node, watchLimit } = storeSettings(settings);
  const { relay, relayCaFile, rspamd, rspamdFail } = relayAndFilterSettings(settings);
  const { srsMaxAgeDays, auditRetentionDays, trailDays } = retentionSettings(settings);
  const resolver = resolverSetting(settings);
  const { tlsCert, tlsKey, requireTlsAuth } = tlsSettings(settings);
  const postmaster = postmasterSetting(settings);
  const quotaWarn = quotaWarnSetting(settings);
  const http = parseOptionalListen(req('http'), where('http'));
  const acme = acmeSettings(settings, tlsCert, http);
  // With --acme the TLS listeners are bound at start and serve once the first certificate is in.
  const certificate = tlsCert ?? acme.acme;
  const { submission, submissions, sendLimit } = submissionSettings(settings, certificate);
  // Left at its default, HTTPS waits for a certificate, as submissions does; asked for, it needs one.
  let https = parseOptionalListen(req('https'), where('https'));
  if (https && !certificate) {
    if (settings.sources.https !== 'default')
      throw new ConfigError(`${where('https')} needs tls-cert and tls-key (or --acme)`);
    https = null;
  }
  const pop3s = one('pop3s');
  if (pop3s && !certificate) throw new ConfigError(`${where('pop3s')} needs tls-cert and tls-key (or --acme)`);
  const logLevel = logLevelSetting(settings);
  const { domains, user } = domainsAndUser(settings);
  const config: Config = {
    dataDir,
    store,
    node,
    watchLimit,
    socketPath: '',
    domains,
    postmaster,
    pop3: parseListen(req('pop3'), where('pop3')),
    pop3s: pop3s ? parseListen(pop3s, where('pop3s')) : null,
    smtp: parseListen(req('smtp'), where('smtp')),
    http,
    https,
    submission,
    submissions,
    sendLimit,
    metrics: parseOptionalListen(one('metrics'), where('metrics')),
    applyIntervalMs: duration(req('apply-interval'), where('apply-interval')),
    relay,
    relayCaFile,
    tlsCert,
    tlsKey,
    ...acme,
    requireTlsAuth,
    maxMessageSize: parseSize(req('max-message-size'), where('max-message-size')),
    maxConnections: parseCount(req('max-connections'), where('max-connections')),
    maxConnectionsPerAddress: parseCount(req('max-connections-per-address'), where('max-connections-per-address')),
    authFailureDelayMs: parseMillis(req('auth-failure-delay'), where('auth-failure-delay')),
    authCacheSize: authCacheSetting(settings),
    rescanIntervalMs: duration(req('rescan-interval'), where('rescan-interval')),
    relayTimeoutMs: duration(req('relay-timeout'), where('relay-timeout')),
    pop3IdleTimeoutMs: duration(req('pop3-idle-timeout'), where('pop3-idle-timeout')),
    rspamd,
    rspamdFail,
    rspamdTimeoutMs: duration(req('rspamd-timeout'), where('rspamd-timeout')),
    srsMaxAgeDays,
    auditRetentionDays,
    trailDays,
    quotaWarn,
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
