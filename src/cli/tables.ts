// How the command line prints what the daemon answers: one line per change queued, and tables
// of domains, accounts, forwards, pending changes and queued messages.
import type {
  AccountView,
  DomainView,
  ForwardView,
  LogEntryView,
  PendingView,
  QueueResult,
  QueueView,
} from '../control/protocol.js';
import {
  accountState,
  changeDetail,
  changeWord,
  clockTime,
  healthNote,
  humanBytes,
  pendingStatus,
  whenApplies,
} from '../model/format.js';
import { visible } from '../model/trail-format.js';

export function describeQueued(r: QueueResult): string {
  if ('cancelled' in r) {
    const c = r.cancelled;
    return `Cancelled the pending ${changeWord(c)} of ${c.address}: nothing will change`;
  }
  const q = r.queued;
  return `Queued: ${changeWord(q)} ${q.address}, ${whenApplies(q.appliesAt)} [id ${q.id}]`;
}

export function domainRows(list: DomainView[]): string {
  if (list.length === 0) return 'No domain is hosted: add one with `vmail domains add DOMAIN`.';
  const rows = list.map((d) => [
    d.domain,
    String(d.accounts),
    String(d.forwards),
    String(d.messages),
    humanBytes(d.bytes),
    String(d.pending),
    d.quota === null ? '-' : humanBytes(d.quota),
    d.catchall ?? '-',
    d.change ? pendingStatus(d.change, d.change.appliesAt) : 'hosted',
  ]);
  return table(
    ['DOMAIN', 'ACCOUNTS', 'FORWARDS', 'MESSAGES', 'SIZE', 'PENDING', 'QUOTA', 'CATCH-ALL', 'STATUS'],
    rows,
    [1, 2, 3, 4, 5],
  );
}

export function accountRows(list: AccountView[]): string {
  if (list.length === 0) return 'No POP3 accounts yet: add one with `vmail accounts add NAME`.';
  const rows = list.map((a) => [
    a.address,
    String(a.messages),
    humanBytes(a.bytes),
    a.quota === null ? '-' : `${humanBytes(a.quota)} ${Math.floor((100 * a.used) / a.quota)}%`,
    a.pending ? pendingStatus(a.pending, a.pending.appliesAt) : accountState(a),
    a.lastLoginAt ? clockTime(a.lastLoginAt) : '-',
    healthNote(a.health) || '-',
  ]);
  return table(['ACCOUNT', 'MESSAGES', 'SIZE', 'QUOTA', 'STATUS', 'LAST LOGIN', 'ATTENTION'], rows, [1, 2]);
}

export function forwardRows(list: ForwardView[]): string {
  if (list.length === 0) return 'No forwarding addresses yet: add one with `vmail forwards add NAME DEST`.';
  const rows = list.map((f) => [
    f.address,
    (f.pending?.destinations ?? f.destinations).join(', '),
    f.pending ? pendingStatus(f.pending.action, f.pending.appliesAt) : 'active',
  ]);
  return table(['FORWARD', 'DESTINATIONS', 'STATUS'], rows);
}

export function queueRows(list: QueueView[]): string {
  if (list.length === 0) return 'The outgoing queue is empty.';
  // With several daemons, each message's row says which one sends it.
  const nodes = list.some((q) => q.node !== undefined);
  const rows = list.map((q) =>
    [
      q.id,
      ...(nodes ? [q.node ?? ''] : []),
      `<${q.from}>`,
      `<${q.to}>`,
      humanBytes(q.size),
      String(q.attempts),
      q.lastError
        ? `next try ${clockTime(q.nextAttemptAt)}: ${q.lastError.slice(0, 100)}`
        : `next try ${clockTime(q.nextAttemptAt)}`,
      // The status holds the remote server's answer (an outsider's text): its control bytes made visible.
    ].map(visible),
  );
  const head = ['ID', ...(nodes ? ['DAEMON'] : []), 'FROM', 'TO', 'SIZE', 'TRIES', 'STATUS'];
  return table(head, rows, nodes ? [4, 5] : [3, 4]);
}

export function pendingRows(list: PendingView[]): string {
  if (list.length === 0) return 'No pending changes.';
  const rows = list.map((p) => [p.id, p.kind, changeWord(p), p.address, whenApplies(p.appliesAt), changeDetail(p)]);
  return table(['ID', 'KIND', 'ACTION', 'ADDRESS', 'WHEN', 'DETAIL'], rows);
}

export function logRows(list: LogEntryView[]): string {
  if (list.length === 0) return 'No entries.';
  const rows = list.map((e) => {
    const { address, ...rest } = e.params;
    const params = Object.entries(rest)
      .filter(([k]) => k !== 'name' || !address)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return [
      e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      `${e.user}[${e.pid}]`,
      e.method,
      address ?? '-',
      params || '-',
      e.outcome,
      // What was asked is as the client sent it (a refused name may hold an ESC): made visible.
    ].map(visible);
  });
  return table(['TIME', 'USER[PID]', 'REQUEST', 'ADDRESS', 'PARAMETERS', 'OUTCOME'], rows);
}

export function table(headers: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
