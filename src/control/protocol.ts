// The control socket's protocol, shared by the daemon and its clients: JSON-RPC 2.0, one JSON
// object per line over a Unix stream socket. Its error codes, each method's parameters (as typed
// from the method table in methods.ts) and results, the notifications, and every view type a
// client sees. Handlers and `ControlClient.call` take their types from here.
import type { ChangeAction, ChangeKind, Quota } from '../model/changes.js';
import type { CheckedRecord, DnsRecord } from '../model/dns-records.js';
import type { METHODS } from './methods.js';

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

/** Which input a refusal is about, sent in `error.data.field` so a form can show it there. */
export type Field = 'name' | 'password' | 'destinations' | 'domain' | 'id' | 'quota' | 'target';

export interface ErrorData {
  field?: Field;
}

export type Method = keyof typeof METHODS;

/** The value a parameter of the method table's type `T` holds. */
type ValueOf<T> = T extends 'string' | 'string?'
  ? string
  : T extends 'string[]'
    ? string[]
    : T extends 'id'
      ? string | number
      : T extends 'boolean?'
        ? boolean
        : T extends 'number?'
          ? number
          : T extends 'object[]'
            ? Record<string, unknown>[]
            : never;
type Spec<M extends Method> = (typeof METHODS)[M];
type Optional<M extends Method> = { [K in keyof Spec<M>]: Spec<M>[K] extends `${string}?` ? K : never }[keyof Spec<M>];

/** The parameters of `method`, as the server has checked them. */
export type Params<M extends Method> = { -readonly [K in Exclude<keyof Spec<M>, Optional<M>>]: ValueOf<Spec<M>[K]> } & {
  -readonly [K in Optional<M>]?: ValueOf<Spec<M>[K]>;
};

/** What each method answers. */
export interface Results {
  status: StatusView;
  subscribe: { subscribed: true };
  'accounts.list': AccountView[];
  'accounts.add': QueueResult;
  'accounts.passwd': QueueResult;
  'accounts.remove': QueueResult;
  'accounts.quota': QueueResult;
  'accounts.suspend': QueueResult;
  'accounts.resume': QueueResult;
  'accounts.rename': QueueResult;
  'accounts.import': ImportResult;
  'accounts.limits': SendLimitView;
  'forwards.list': ForwardView[];
  'forwards.add': QueueResult;
  'forwards.remove': QueueResult;
  'domains.list': DomainView[];
  'domains.add': QueueResult;
  'domains.remove': QueueResult;
  'domains.dkim': DkimView;
  'domains.dns': DnsRecord[];
  'domains.check': CheckedRecord[];
  'domains.quota': QueueResult;
  'domains.catchall': QueueResult;
  'pending.list': PendingView[];
  'pending.cancel': CancelResult;
  'pending.apply': ApplyResult;
  'queue.list': QueueView[];
  'queue.retry': QueueView;
  'log.list': LogEntryView[];
  trace: TraceItemView[];
  'export.passwd': { address: string; passwordHash: string }[];
  'export.uidlists': { maildirs: number; messages: number };
}

/** What the daemon pushes to subscribed clients. */
export interface Notifications {
  'pending.queued': PendingView;
  'pending.cancelled': PendingView;
  'pending.applied': ApplyResult;
  'mailbox.size': MailboxSizeChange;
  'rows.changed': RowsChange;
  'filter.state': SpamFilterView | null;
}

export type NotificationMethod = keyof Notifications;

// The two tables name the same methods: a method added to one and not the other fails to compile.
const sameMethods: [Exclude<Method, keyof Results>, Exclude<keyof Results, Method>] extends [never, never]
  ? true
  : false = true;
void sameMethods;

// ---- The views: what clients see of accounts, forwards, changes and the queue ----

export type { ChangeAction, ChangeKind } from '../model/changes.js';

/** A pending change as clients see it: the password hash stays in the daemon. */
export interface PendingView {
  id: string;
  domain: string;
  kind: ChangeKind;
  action: ChangeAction;
  /**
   * What it will do, part by part: settings queued for one account or domain merge into one
   * change (`['password', 'quota']`); any other change is one part, its action. This daemon
   * always sends it; a client reads its absence as `[action]`.
   */
  parts?: ChangeAction[];
  /** '' for a change to the domain itself. */
  name: string;
  /** The account's or forward's address; the domain for a change to the domain itself. */
  address: string;
  requestedAt: string;
  /** Who asked for it (the OS user of the client); null for changes queued before this was kept. */
  requestedBy: string | null;
  appliesAt: string;
  destinations?: string[];
  /** A domain removal that takes its accounts and forwards with it. */
  withAccounts?: boolean;
  /** What an add or update of an account or domain sets: the quota (null: none), suspension, catch-all. */
  quota?: Quota | null;
  suspended?: boolean;
  refuseMail?: boolean;
  catchall?: string | null;
  /** A rename: the new name, and how long the old name forwards to it (ms; 0: not at all). */
  newName?: string;
  keepForwardMs?: number;
  /** An imported account's mail: the Maildir it comes from, how many messages, whether their UIDLs are kept. */
  importFrom?: ImportSource;
}

/** Where an imported account's mail comes from (see `vmail import dovecot`). */
export interface ImportSource {
  maildir: string;
  messages: number;
  /** The old server's POP3 UIDLs are kept (a dovecot-uidlist was found, or they are file names): mail clients download nothing again. */
  uidlsKept: boolean;
  uidls: 'dovecot' | 'names';
  /** Moved in one rename when on the same file system, else copied. */
  move: boolean;
}

/**
 * What a cancel took away: the whole change, or with `part` one part of it (`kept`: the rest
 * of the change, still pending under the same id).
 */
export type CancelResult = PendingView & { kept?: PendingView };

/** What a request to change something came to: a change queued, or a pending one cancelled. */
export type QueueResult = { queued: PendingView } | { cancelled: PendingView };

export interface ApplyResult {
  applied: PendingView[];
  /** The changes that could not be applied (they stay pending), with the account, forward or domain each is about. */
  failed: { id: string; address: string; error: string }[];
  at: string;
  /** Changes of other domains still pending after an apply of one domain's changes. */
  left?: number;
}

export interface MailboxSize {
  messages: number;
  bytes: number;
}

/**
 * The rows a moment's changes touched (a change queued, cancelled or applied): each row as the
 * lists show it now, to put in place by address (pending changes by id); the gone ones to take
 * out; and the status, with its counts and domain totals. A client keeps its lists current with
 * these instead of asking for them again.
 */
export interface RowsChange {
  accounts: AccountView[];
  forwards: ForwardView[];
  pending: PendingView[];
  goneAccounts: string[];
  goneForwards: string[];
  gonePending: string[];
  status: StatusView;
}

/** A daemon sharing the store, as `status` shows it. */
export interface NodeView {
  id: string;
  host: string;
  /** Connected to the store, with a heartbeat in the last 15 seconds. */
  alive: boolean;
  /** It applies the queue on the hour. */
  applyLease: boolean;
  version: string;
  seenAt: string;
}

export interface MailboxSizeChange extends MailboxSize {
  address: string;
  /** When mail last arrived (a POP3 deletion moves the size, not this). */
  lastDeliveryAt: string | null;
  /** The mail in all of the address's domain's mailboxes, after this change. */
  domainTotal: MailboxSize;
  /** The account's mail collection with this size (mail waiting since when, never fetched). */
  health: AccountHealth;
}

export interface PendingRef {
  id: string;
  action: ChangeAction;
  /** Every part of the change (settings queued one after another merge into one change); absent: one part, the action. */
  parts?: ChangeAction[];
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
  /** Its limit in bytes (null: none), and on the number of messages (null: none). */
  quota: number | null;
  quotaMessages: number | null;
  /** Bytes stored, as the quota counts them (the same as `bytes`). */
  used: number;
  /** It cannot log in; refuseMail: its mail is refused too (else kept). */
  suspended: boolean;
  refuseMail: boolean;
  /** Whether its mail is being collected. */
  health: AccountHealth;
  /** It has submitted --send-limit's messages within the window (told by accounts.list). */
  sendLimitReached?: boolean;
}

/** What an account submitted within --send-limit's window (`vmail accounts limits`). */
export interface SendLimitView {
  address: string;
  /** The limit: this many messages within windowSeconds. */
  limit: number;
  windowSeconds: number;
  sent: number;
  reached: boolean;
  /** When the oldest counted message leaves the window; null when none is counted. */
  freesAt: string | null;
}

/**
 * Whether an account's mail is collected: days since its last POP3 login (null: never) and
 * since its oldest message arrived (null: empty); `piling`: mail has waited on the server 30
 * days or more (nobody fetches it, or the client leaves it there); `neverFetched`: it has mail
 * and has never been logged in to. `clients`: POP3 client addresses that fetched it within 30
 * days; `clientsNote`: how they fight, when they do ("fetched by 2 clients; 14 messages deleted
 * before 127.0.0.2 saw them"), else null; `deletedUnseen`: per client address, messages another
 * client deleted before it fetched them.
 */
export interface AccountHealth {
  lastLoginDays: number | null;
  oldestDays: number | null;
  piling: boolean;
  neverFetched: boolean;
  clients: number;
  clientsNote: string | null;
  deletedUnseen: Record<string, number>;
}

export interface ForwardView {
  name: string;
  domain: string;
  address: string;
  active: boolean;
  destinations: string[];
  pending: (PendingRef & { destinations?: string[] }) | null;
  /** A forward left by a rename stops at this time; null: it stays. */
  expiresAt: string | null;
}

/** A forwarded message waiting in DATA_DIR/queue for the relay or a local mailbox. */
export interface QueueView {
  id: string;
  /** Envelope sender; '' is the null sender of a bounce. */
  from: string;
  to: string;
  createdAt: string;
  attempts: number;
  nextAttemptAt: string;
  lastAttemptAt: string | null;
  lastError: string | null;
  size: number;
  /** With a shared store: the daemon whose spool holds it (it sends it). */
  node?: string;
}

/** A domain's DKIM key: the TXT record to publish for it. */
/** A DKIM key's algorithm: rsa (rsa-sha256) or ed25519 (ed25519-sha256, RFC 8463). */
export type DkimAlgorithm = 'rsa' | 'ed25519';

export interface DkimView {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** The record's name, e.g. vmail202611._domainkey.example.com */
  name: string;
  /** The record's value: v=DKIM1; k=rsa; p=... (k=ed25519 for an ed25519 key) */
  value: string;
  /** The record as a zone file line, split into strings of at most 255 octets. */
  zone: string;
  /** Whether this request made the key (false: it shows the key that signs now). */
  created: boolean;
}

export interface DomainView extends MailboxSize {
  domain: string;
  /** false while its add is pending: no mail is taken for it yet. */
  hosted: boolean;
  accounts: number;
  forwards: number;
  /** Its pending changes, its own add or removal included. */
  pending: number;
  /** Its own pending add, removal or setting. */
  change: PendingRef | null;
  /** The account or forward name that gets mail for unknown names; null: they are refused. */
  catchall: string | null;
  /** The quota new accounts get, in bytes; null: none. */
  quota: number | null;
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
  /** The plain POP3 port; stls: it offers STLS (a certificate is configured). */
  pop3: { port: number | null; stls: boolean };
  /** The POP3S port: TLS from the first byte (implicit TLS). */
  pop3s: { port: number } | null;
  /** Passwords only over TLS (STLS or POP3S), as require-tls-auth resolves; loopback excepted when unset. */
  tlsLogins: boolean;
  smtp: { port: number | null };
  /** Autoconfig and autodiscover (--http), or null when off. */
  http: { port: number } | null;
  /** The MTA-STS policy and autoconfig over TLS (--https), or null when off. */
  https?: { port: number } | null;
  /** Submission: STARTTLS then AUTH (587), and implicit TLS (465); null when off. */
  submission?: { port: number } | null;
  submissions?: { port: number } | null;
  /** The Prometheus metrics port (--metrics), or null when off. */
  metrics: { port: number } | null;
  relay: string | null;
  /** Forwarded mail waiting in DATA_DIR/queue, and why it waits when something stops it. */
  queue: { messages: number; problem: string | null };
  /** Why changes cannot be stored right now (the store file vanished), or null. */
  storeProblem: string | null;
  /** The spam filter (rspamd), or null when none is configured. */
  spamFilter: SpamFilterView | null;
  /** Per domain: accounts, forwards, mail stored, pending changes, quota and catch-all (as domains.list). */
  domainTotals: DomainView[];
  /** With a shared (PostgreSQL) store: this daemon's name, and every daemon's heartbeat. */
  node?: string;
  nodes?: NodeView[];
}

/** Whether rspamd answers, and what it has decided since the daemon started. */
export interface SpamFilterView {
  url: string;
  fail: 'open' | 'tempfail';
  /** up: it answered last time; down: it did not (lastError says why); unknown: not asked yet. */
  state: 'up' | 'down' | 'unknown';
  lastError: string | null;
  checked: number;
  rejected: number;
  deferred: number;
  /** Accepted without a check because rspamd did not answer (fail open). */
  unchecked: number;
}

/**
 * One row of an import: an account (password or passwordHash, optional quota) or, without a
 * password, a forward (forward: its destinations). row: its line in the file, for messages.
 */
export interface ImportRow {
  row: number;
  name: string;
  password?: string;
  /** In Dovecot's form: {ARGON2ID}, {ARGON2I}, {SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}; or vmail's older scrypt$... */
  passwordHash?: string;
  quota?: string;
  forward?: string[];
  /** An account's mail on the old server: a Maildir the daemon can read (see `vmail import dovecot`). */
  maildir?: string;
}

export interface ImportResult {
  /** Rows checked. */
  rows: number;
  /** The changes queued (or, in a dry run, that would be). */
  queued: PendingView[];
  /** Each refused row, with its line and why. */
  refused: { row: number; name: string; error: string }[];
  dryRun: boolean;
  /** false: nothing was queued because rows were refused (and skipBad was not given). */
  done: boolean;
}

/** One audit log entry: who (as the kernel reported the client) did what, and what came of it. */
export interface LogEntryView {
  at: string;
  user: string;
  uid: number;
  pid: number;
  method: string;
  /** The request's parameters; never a password or a hash. */
  params: Record<string, string>;
  outcome: string;
}

/** One event of an address's trail (vmail trace --json), newest first. */
export interface TraceItemView {
  at: string;
  /** The daemon that saw it. */
  node: string;
  event: string;
  address: string;
  messageId: string | null;
  queueId: string | null;
  client: string | null;
  detail: Record<string, string | number | boolean>;
}
