// The control socket's protocol, shared by the daemon and its clients: JSON-RPC 2.0, one JSON
// object per line over a Unix stream socket. Methods, their parameters, and the error codes.

export const MAX_LINE = 1024 * 1024;

export const ErrorCode = {
  Parse: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  /** The request was understood but refused by the rules (bad name, exists, loop, ...). */
  Rejected: -32000,
  NotFound: -32001,
} as const;

/** A parameter's type: `?` marks an optional one. */
type ParamType = 'string' | 'string?' | 'string[]' | 'id' | 'boolean?';

/** Every method and its parameters, checked in one place by the server before dispatch. */
export const METHODS = {
  'status': {},
  'subscribe': {},
  'accounts.list': { domain: 'string?' },
  'accounts.add': { name: 'string', password: 'string', domain: 'string?' },
  'accounts.passwd': { name: 'string', password: 'string', domain: 'string?' },
  'accounts.remove': { name: 'string', domain: 'string?' },
  'forwards.list': { domain: 'string?' },
  'forwards.add': { name: 'string', destinations: 'string[]', domain: 'string?' },
  'forwards.remove': { name: 'string', domain: 'string?' },
  'pending.list': {},
  'pending.cancel': { id: 'id' },
  'pending.apply': {},
  'queue.list': {},
  'queue.retry': { id: 'id' },
} as const satisfies Record<string, Record<string, ParamType>>;

export type Method = keyof typeof METHODS;

/** Returns what is wrong with `params` for `method`, or null. */
export function paramsProblem(method: Method, params: unknown): string | null {
  const spec: Record<string, ParamType> = METHODS[method];
  if (params === undefined) params = {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return 'params must be an object';
  const p = params as Record<string, unknown>;
  for (const key of Object.keys(p)) if (!(key in spec)) return `unknown parameter ${JSON.stringify(key).slice(0, 60)}`;
  for (const [key, type] of Object.entries(spec)) {
    const v = p[key];
    const optional = type.endsWith('?');
    if (v === undefined) {
      if (optional) continue;
      return `missing parameter ${key}`;
    }
    const ok =
      type === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string')
      : type === 'id' ? typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v))
      : typeof v === type.replace('?', '');
    if (!ok) return `parameter ${key} must be ${type === 'id' ? 'a string or integer' : type.replace('?', '')}`;
  }
  return null;
}

export interface MailboxSize {
  messages: number;
  bytes: number;
}

export interface PendingRef {
  id: string;
  action: string;
  appliesAt: string;
}

export interface AccountView extends MailboxSize {
  name: string;
  domain: string;
  address: string;
  /** false while its add is pending: it cannot log in or receive mail yet. */
  active: boolean;
  pending: PendingRef | null;
  createdAt: string | null;
  lastLoginAt: string | null;
  lastLoginFrom: string | null;
  lastDeliveryAt: string | null;
}

export interface ForwardView {
  name: string;
  domain: string;
  address: string;
  active: boolean;
  destinations: string[];
  pending: (PendingRef & { destinations?: string[] }) | null;
}

export interface StatusView {
  version: string;
  domains: string[];
  now: string;
  nextApplyAt: string;
  applyIntervalSeconds: number;
  lastApplyAt: string | null;
  lastApplyError: string | null;
  pending: number;
  accounts: number;
  forwards: number;
  dataDir: string;
  /** This server's host name, for mail client settings. */
  hostname: string;
  pop3: { port: number | null };
  pop3s: { port: number } | null;
  smtp: { port: number | null };
  relay: string | null;
  /** Forwarded mail waiting in DATA_DIR/queue, and why it waits when something stops it. */
  queue: { messages: number; problem: string | null };
}

/** Notifications sent to subscribed clients. */
export type NotificationMethod = 'pending.queued' | 'pending.cancelled' | 'pending.applied' | 'mailbox.size';
