// The rows the store keeps, one interface per table: hosted domains, accounts, forwards, what
// happened to an account lately, the apply log and the daemon's own meta row. store.ts reads and
// writes them; row-indexes.ts keeps them found fast in memory.
import type { PendingChange, Quota } from '../model/changes.js';

export interface DomainRecord {
  domain: string;
  addedAt: number;
  /** Set once `domains remove` is applied: the row stays, so a config file naming it does not bring it back. */
  removedAt?: number;
  /** The quota new accounts get when their add does not name one. */
  quota?: Quota;
  /** The local account or forward name that gets mail for names the domain does not have. */
  catchall?: string;
}

export interface AccountRecord {
  name: string;
  domain: string;
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
  quota?: Quota;
  /** It cannot log in; with refuseMail its mail is refused too, else kept. */
  suspended?: boolean;
  refuseMail?: boolean;
}

export interface ForwardRecord {
  name: string;
  domain: string;
  destinations: string[];
  createdAt: number;
  updatedAt: number;
  /** A forward left by a rename stops then, and goes at the next apply after it. */
  expiresAt?: number;
}

/** What happened to an account lately: kept apart from its configuration, written often. */
export interface ActivityRecord {
  lastLoginAt?: number;
  lastLoginFrom?: string;
  lastDeliveryAt?: number;
}

export interface AppliedRecord extends Omit<PendingChange, 'passwordHash'> {
  appliedAt: number;
}

export interface Meta {
  lastSeq?: number;
  lastApplyAt?: number;
  /** The settings the daemon last started with (as JSON text by key): a start notes what changed. */
  settings?: Record<string, string>;
  /** The same, by daemon, when several share the store. */
  nodeSettings?: Record<string, Record<string, string>>;
}

/** The apply log's rows for `changes`: what each was, without its password hash. */
export function logRows(changes: PendingChange[], appliedAt: number): [string, AppliedRecord][] {
  return changes.map((c) => {
    const { passwordHash: _hash, ...rest } = c;
    return [c.id, { ...rest, appliedAt }];
  });
}
