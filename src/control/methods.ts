// The control socket's method table: every method a client may call and its parameters (each
// with its type, `?` for an optional one), which methods only read, and the check the server
// runs on a request's parameters before dispatch. The types a program compiles against (each
// method's parameters and results) are derived from it in protocol.ts.

/** A parameter's type: `?` marks an optional one. */
type ParamType = 'string' | 'string?' | 'string[]' | 'id' | 'boolean?' | 'number?' | 'object[]';

/** Every method and its parameters, checked in one place by the server before dispatch. */
export const METHODS = {
  status: {},
  subscribe: {},
  /**
   * stale: only the accounts that need attention at this age, like 30d (see AccountHealth).
   * offset, limit: one page of the list (in its order), for a client that shows part of it;
   * after: the page that follows this address (steady while rows come and go before it).
   */
  'accounts.list': { domain: 'string?', stale: 'string?', offset: 'number?', limit: 'number?', after: 'string?' },
  'accounts.add': { name: 'string', password: 'string', domain: 'string?' },
  'accounts.passwd': { name: 'string', password: 'string', domain: 'string?' },
  'accounts.remove': { name: 'string', domain: 'string?' },
  /** quota: a size like 25M, or none; messages: an optional limit on the count. */
  'accounts.quota': { name: 'string', quota: 'string', messages: 'string?', domain: 'string?' },
  'accounts.suspend': { name: 'string', refuseMail: 'boolean?', domain: 'string?' },
  'accounts.resume': { name: 'string', domain: 'string?' },
  /** What the account submitted within --send-limit's window. */
  'accounts.limits': { name: 'string', domain: 'string?' },
  /**
   * Accounts and forwards from a spreadsheet, one pending change per row, queued together or
   * not at all. rows: ImportRow objects. more: keep these rows on this connection and wait for
   * the rest (a closed connection drops them); the call without it checks and queues them all.
   * dryRun: check only; skipBad: queue the good rows even when some are refused. total: the
   * rows of the whole import, checked on the last call (a connection replaced midway lost some).
   */
  'accounts.import': {
    rows: 'object[]',
    domain: 'string?',
    more: 'boolean?',
    dryRun: 'boolean?',
    skipBad: 'boolean?',
    total: 'number?',
    /**
     * Rows with a maildir: move it rather than copy it. uidls: where the old server's UIDLs come
     * from: dovecot (its dovecot-uidlist, with uidlFormat its pop3_uidl_format) or names (the
     * file name up to the colon, as qmail-pop3d serves them).
     */
    move: 'boolean?',
    uidlFormat: 'string?',
    uidls: 'string?',
  },
  /** keepForward: how long the old name forwards to the new one, like 30d (default: not at all). */
  'accounts.rename': { name: 'string', newName: 'string', keepForward: 'string?', domain: 'string?' },
  'forwards.list': { domain: 'string?' },
  'forwards.add': { name: 'string', destinations: 'string[]', domain: 'string?' },
  'forwards.remove': { name: 'string', domain: 'string?' },
  'domains.list': {},
  'domains.add': { domain: 'string' },
  'domains.remove': { domain: 'string', withAccounts: 'boolean?' },
  'domains.dkim': { domain: 'string', selector: 'string?', algorithm: 'string?' },
  /** Every DNS record the domain needs; check: each one looked up (through --resolver). */
  'domains.dns': { domain: 'string' },
  'domains.check': { domain: 'string' },
  'domains.quota': { domain: 'string', quota: 'string', messages: 'string?' },
  /** target: an account or forward name of the domain, or none. */
  'domains.catchall': { domain: 'string', target: 'string' },
  'pending.list': { domain: 'string?' },
  'pending.cancel': { id: 'id', part: 'string?' },
  'pending.apply': { domain: 'string?' },
  'queue.list': {},
  'queue.retry': { id: 'id' },
  /** Each account's password hash, for a Dovecot passwd-file (vmail export dovecot-passwd). */
  'export.passwd': { domain: 'string?' },
  /** Writes a dovecot-uidlist into each Maildir, so Dovecot serves vmail's UIDLs unchanged. */
  'export.uidlists': { domain: 'string?' },
  /** The audit log: since like 2d or an ISO time; user: a name or uid; address: name@domain. */
  'log.list': { since: 'string?', user: 'string?', address: 'string?', limit: 'number?' },
  /** One address's trail: since like 2d or an ISO time; from: the envelope sender; messageId: with or without <>. */
  trace: { address: 'string', since: 'string?', from: 'string?', messageId: 'string?' },
} as const satisfies Record<string, Record<string, ParamType>>;

type MethodName = keyof typeof METHODS;

/** The methods that only read: every other request is recorded in the audit log. */
export const READS: ReadonlySet<MethodName> = new Set<MethodName>([
  'status',
  'subscribe',
  'accounts.list',
  'accounts.limits',
  'forwards.list',
  'domains.list',
  'domains.dns',
  'domains.check',
  'pending.list',
  'queue.list',
  'log.list',
  'trace',
]);

/** Returns what is wrong with `params` for `method`, or null. */
export function paramsProblem(method: MethodName, params: unknown): string | null {
  const spec: Record<string, ParamType> = METHODS[method];
  if (params === undefined) params = {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return 'params must be an object';
  const p = params as Record<string, unknown>;
  for (const key of Object.keys(p))
    if (!Object.hasOwn(spec, key)) return `unknown parameter ${JSON.stringify(key).slice(0, 60)}`;
  for (const [key, type] of Object.entries(spec)) {
    const v = p[key];
    const optional = type.endsWith('?');
    if (v === undefined) {
      if (optional) continue;
      return `missing parameter ${key}`;
    }
    const ok =
      type === 'string[]'
        ? Array.isArray(v) && v.every((x) => typeof x === 'string')
        : type === 'object[]'
          ? Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))
          : type === 'id'
            ? typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v))
            : typeof v === type.replace('?', '');
    if (!ok)
      return `parameter ${key} must be ${type === 'id' ? 'a string or integer' : type === 'object[]' ? 'an array of objects' : type.replace('?', '')}`;
  }
  return null;
}
