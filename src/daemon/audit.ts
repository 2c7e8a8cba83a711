// What the audit log records of each request that changes something, and of each change
// applied: the user the kernel named, the request's parameters as text (never a password or a
// hash), and its outcome in a few words. The same description goes to the daemon's own log.
import { userInfo } from 'node:os';
import type { Peer } from '../control/peer.js';
import type { ApplyResult, ImportResult, PendingView, QueueView } from '../control/protocol.js';
import type { ChangeRequestRecord } from '../control/server.js';
import type { AuditEntry } from '../store/audit-log.js';
import { withoutPassword } from '../store/location.js';
import type { Logger } from '../support/log.js';

/** The daemon itself, for what it does on its own (the hourly apply, a reload). */
export function selfPeer(): Peer {
  const { uid, gid, username } = userInfo();
  return { pid: process.pid, uid, gid, user: username || `uid ${uid}` };
}

const SECRET = /password|hash/i;

/** A request's parameters as the log shows them. */
function describe(params: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (SECRET.test(k) || v === undefined) continue;
    if (k === 'rows' && Array.isArray(v)) out.rows = String(v.length);
    else if (Array.isArray(v)) out[k] = v.map(String).join(' ').slice(0, 300);
    else out[k] = String(v).slice(0, 200);
  }
  // The address the request is about, as the daemon resolved it (name alone means the one domain).
  if (typeof params.name === 'string' && typeof params.domain === 'string' && !params.name.includes('@'))
    out.address = `${params.name}@${params.domain}`.toLowerCase();
  else if (typeof params.name === 'string' && params.name.includes('@')) out.address = params.name.toLowerCase();
  return out;
}

function outcome(method: string, result: unknown, error?: Error): { text: string; about?: PendingView } {
  if (error) return { text: `refused: ${error.message}`.slice(0, 500) };
  const r = result as {
    queued?: PendingView;
    cancelled?: PendingView;
    applied?: PendingView[];
    failed?: unknown[];
    selector?: string;
    created?: boolean;
  } | null;
  if (method === 'accounts.import') {
    const i = result as ImportResult;
    const what = `${i.queued.length} ok, ${i.refused.length} refused of ${i.rows}`;
    return { text: i.dryRun ? `dry run: ${what}` : i.done ? `queued ${what}` : `nothing queued: ${what}` };
  }
  if (r?.queued) return { text: `queued ${r.queued.action} (change ${r.queued.id})`, about: r.queued };
  if (r?.cancelled) return { text: `cancelled ${r.cancelled.action} (change ${r.cancelled.id})`, about: r.cancelled };
  if (method === 'pending.cancel') {
    const v = result as PendingView;
    return { text: `cancelled ${v.action} (change ${v.id})`, about: v };
  }
  if (r?.applied) return { text: `applied ${r.applied.length}, failed ${r.failed?.length ?? 0}` };
  if (r?.selector) return { text: r.created ? `key made: ${r.selector}` : `key shown: ${r.selector}` };
  if (method === 'queue.retry') return { text: `retry at ${(result as QueueView).nextAttemptAt}` };
  return { text: 'done' };
}

/** The entry for one request, or null for one that only hands rows ahead (an import's chunks). */
export function requestEntry(r: ChangeRequestRecord, at = Date.now()): AuditEntry | null {
  if (r.method === 'accounts.import' && r.params.more === true && !r.error) return null;
  const params = describe(r.params);
  const { text, about } = outcome(r.method, r.result, r.error);
  if (about && about.kind !== 'domain') params.address = about.address;
  return { at, user: r.peer.user, uid: r.peer.uid, pid: r.peer.pid, method: r.method, params, outcome: text };
}

/** One entry per change applied, naming who made the apply happen and who asked for the change. */
export function appliedEntries(applied: readonly PendingView[], by: Peer, at: number): AuditEntry[] {
  return applied.map((c) => {
    const params: Record<string, string> = { id: c.id, kind: c.kind, action: c.action, domain: c.domain };
    if (c.kind !== 'domain') params.address = c.address;
    if (c.newName) params.newAddress = `${c.newName}@${c.domain}`;
    if (c.requestedBy) params.requestedBy = c.requestedBy;
    return entry(by, at, params, `applied ${c.action} (change ${c.id})`);
  });
}

/** One entry per change that could not be applied (it stays queued). */
export function failedEntries(failed: ApplyResult['failed'], by: Peer, at: number): AuditEntry[] {
  return failed.map((f) => entry(by, at, { id: f.id }, `failed: ${f.error}`.slice(0, 500)));
}

/** One entry per forward a rename left that has run its time and goes. */
export function expiredEntries(addresses: string[], by: Peer, at: number): AuditEntry[] {
  return addresses.map((address) =>
    entry(by, at, { kind: 'forward', action: 'expire', address }, 'forward left by a rename expired'),
  );
}

function entry(by: Peer, at: number, params: Record<string, string>, outcome: string): AuditEntry {
  return { at, user: by.user, uid: by.uid, pid: by.pid, method: 'apply', params, outcome };
}

/** The daemon's own log line for a request that changes something (journald, fail2ban, grep). */
export function logRequest(log: Logger, e: AuditEntry): void {
  log.info('admin request', { method: e.method, user: e.user, pid: e.pid, ...e.params, outcome: e.outcome });
}

/** A setting's value as the audit log keeps it: a password in a URL (smtp://user:pass@host) is hidden. */
export function settingText(value: unknown): string {
  return withoutPassword(JSON.stringify(value), '***');
}
