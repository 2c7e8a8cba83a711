// Flags + environment + defaults -> one typed Config for the daemon, and the socket path for clients.
import { join, resolve } from 'node:path';
import { InputError } from './model/errors.js';
import { normalizeDomain } from './model/names.js';
import { parseDuration } from './model/schedule.js';

export interface Listen {
  host: string;
  port: number;
}

export interface Config {
  dataDir: string;
  socketPath: string;
  domains: string[];
  pop3: Listen;
  pop3s: Listen | null;
  smtp: Listen;
  applyIntervalMs: number;
  relay: string | null;
  tlsCert: string | null;
  tlsKey: string | null;
  maxMessageSize: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  authFailureDelayMs: number;
  rescanIntervalMs: number;
  relayTimeoutMs: number;
  pop3IdleTimeoutMs: number;
}

export interface DaemonFlags {
  'data-dir'?: string;
  socket?: string;
  domain?: string[];
  pop3?: string;
  pop3s?: string;
  smtp?: string;
  'apply-interval'?: string;
  relay?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'max-message-size'?: string;
  'max-connections'?: string;
  'max-connections-per-address'?: string;
  'auth-failure-delay'?: string;
  'rescan-interval'?: string;
  'relay-timeout'?: string;
  'pop3-idle-timeout'?: string;
}

function dataDirFrom(flag: string | undefined, env = process.env): string {
  return resolve(flag ?? env.VMAIL_DATA_DIR ?? '/var/lib/vmail');
}

/** The control socket: `--socket`, else `$VMAIL_SOCKET`, else DATA_DIR/control.sock. */
export function socketPathFrom(flags: { socket?: string; 'data-dir'?: string }, env = process.env): string {
  if (flags.socket) return resolve(flags.socket);
  if (env.VMAIL_SOCKET) return resolve(env.VMAIL_SOCKET);
  return join(dataDirFrom(flags['data-dir'], env), 'control.sock');
}

function parseListen(input: string, flag: string): Listen {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(input);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new InputError(
      `--${flag} ${JSON.stringify(input)}: write HOST:PORT, e.g. 127.0.0.1:110 (port 0 picks a free one)`,
    );
  return { host: m[1] ?? m[2], port };
}

function parseSize(input: string, flag: string): number {
  const m = /^(\d+)\s*([kmg]?)b?$/i.exec(input.trim());
  if (!m) throw new InputError(`--${flag} ${JSON.stringify(input)}: write a size like 25M, 512K or 1048576`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

function parseCount(input: string, flag: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(input))
    throw new InputError(`--${flag} ${JSON.stringify(input)}: write a whole number from 1`);
  return Number(input);
}

function parseMillis(input: string, flag: string): number {
  const m = /^(\d+)(ms|s)$/.exec(input);
  if (!m || Number(m[1]) > 60_000)
    throw new InputError(`--${flag} ${JSON.stringify(input)}: write a delay like 500ms or 2s`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export function daemonConfig(flags: DaemonFlags, env = process.env): Config {
  const dataDir = dataDirFrom(flags['data-dir'], env);
  const relay = flags.relay ?? null;
  if (relay !== null && !/^smtps?:\/\/[^/\s]+(:\d+)?\/?$/.test(relay)) {
    throw new InputError(`--relay ${JSON.stringify(relay)}: write smtp://HOST:PORT`);
  }
  if (Boolean(flags['tls-cert']) !== Boolean(flags['tls-key'])) {
    throw new InputError('--tls-cert and --tls-key go together: give both or neither');
  }
  if (flags.pop3s && !flags['tls-cert']) throw new InputError('--pop3s needs --tls-cert and --tls-key');
  return {
    dataDir,
    socketPath: socketPathFrom(flags, env),
    domains: (flags.domain ?? []).map(normalizeDomain),
    pop3: parseListen(flags.pop3 ?? '0.0.0.0:110', 'pop3'),
    pop3s: flags.pop3s ? parseListen(flags.pop3s, 'pop3s') : null,
    smtp: parseListen(flags.smtp ?? '0.0.0.0:25', 'smtp'),
    applyIntervalMs: parseDuration(flags['apply-interval'] ?? '1h'),
    relay,
    tlsCert: flags['tls-cert'] ?? null,
    tlsKey: flags['tls-key'] ?? null,
    maxMessageSize: parseSize(flags['max-message-size'] ?? '25M', 'max-message-size'),
    maxConnections: parseCount(flags['max-connections'] ?? '1000', 'max-connections'),
    maxConnectionsPerAddress: parseCount(flags['max-connections-per-address'] ?? '20', 'max-connections-per-address'),
    authFailureDelayMs: parseMillis(flags['auth-failure-delay'] ?? '500ms', 'auth-failure-delay'),
    rescanIntervalMs: parseDuration(flags['rescan-interval'] ?? '30s', '--rescan-interval'),
    relayTimeoutMs: parseDuration(flags['relay-timeout'] ?? '30s', '--relay-timeout'),
    pop3IdleTimeoutMs: parseDuration(flags['pop3-idle-timeout'] ?? '10m', '--pop3-idle-timeout'),
  };
}
