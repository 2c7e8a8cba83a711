// How sizes, times and pending actions read to a person, shared by the CLI and the console.
import type { Quota } from './changes.js';
import { formatCountdown } from './schedule.js';

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** `14:00` (or `14:00:30` off the minute), with the date when it is not today. */
export function clockTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  let t = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.getSeconds()) t += `:${pad(d.getSeconds())}`;
  if (d.toDateString() !== now.toDateString())
    t = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
  return t;
}

/** At most 12 characters, for a table: `14:05` today, `Nov 25 14:05` this year, else the date. */
export function shortTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) return hm;
  if (d.getFullYear() === now.getFullYear())
    return `${d.toLocaleString('en', { month: 'short' })} ${d.getDate()} ${hm}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** How often changes apply, after "Changes apply": `on the hour`, `every 2 hours`, `every minute`. */
export function applyCadence(seconds: number): string {
  if (seconds === 3600) return 'on the hour';
  const every = (n: number, unit: string) => (n === 1 ? `every ${unit}` : `every ${n} ${unit}s`);
  if (seconds % 86_400 === 0) return every(seconds / 86_400, 'day');
  if (seconds % 3600 === 0) return every(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return every(seconds / 60, 'minute');
  return every(seconds, 'second');
}

export function whenApplies(iso: string, now = Date.now()): string {
  return `applies at ${clockTime(iso, new Date(now))} (in ${formatCountdown(Date.parse(iso) - now)})`;
}

const ACTION_WORDS: Record<string, string> = {
  add: 'add',
  password: 'password change',
  remove: 'removal',
  update: 'destination change',
  quota: 'quota change',
  suspend: 'suspension',
  resume: 'resumption',
  catchall: 'catch-all change',
  rename: 'rename',
};

/** `password change`, `removal`: how a pending action reads in a sentence. */
export function actionWord(action: string): string {
  return ACTION_WORDS[action] ?? action;
}

/**
 * `password change + quota change`: every part of a pending change (settings queued for one
 * account or domain merge into one change), each as a sentence reads it.
 */
export function changeWord(c: { action: string; parts?: readonly string[] }): string {
  return (c.parts?.length ? c.parts : [c.action]).map(actionWord).join(' + ');
}

/** `password change in 37:12`: a pending change (an action, or every part of it) with its live countdown. */
export function pendingStatus(
  change: string | { action: string; parts?: readonly string[] },
  appliesAt: string,
  now = Date.now(),
): string {
  const word = typeof change === 'string' ? actionWord(change) : changeWord(change);
  return `${word} in ${formatCountdown(Date.parse(appliesAt) - now)}`;
}

/** `25 MB`, `25 MB / 1000 messages`, or `none`. */
export function formatQuota(q: Quota | null | undefined): string {
  if (!q) return 'none';
  return q.messages === null ? humanBytes(q.bytes) : `${humanBytes(q.bytes)} / ${q.messages} messages`;
}

/** What a pending change sets, beyond its action: `quota 25 MB, suspended`, `to a@x, b@y`. */
export function changeDetail(p: {
  parts?: readonly string[];
  destinations?: string[];
  quota?: Quota | null;
  suspended?: boolean;
  refuseMail?: boolean;
  catchall?: string | null;
  withAccounts?: boolean;
  newName?: string;
  keepForwardMs?: number;
  importFrom?: { maildir: string; messages: number; uidlsKept: boolean; move: boolean; uidls: 'dovecot' | 'names' };
}): string {
  const parts: string[] = [];
  if (p.importFrom)
    parts.push(
      `with ${p.importFrom.messages} message(s) ${p.importFrom.move ? 'moved' : 'copied'} from ${p.importFrom.maildir}${p.importFrom.uidls === 'names' ? ', UIDLs kept (file names)' : p.importFrom.uidlsKept ? ', UIDLs kept' : ', no dovecot-uidlist: clients fetch them again'}`,
    );
  if (p.newName !== undefined)
    parts.push(
      `to ${p.newName}${p.keepForwardMs ? `; the old name forwards to it for ${Math.round(p.keepForwardMs / 86_400_000)} days` : ''}`,
    );
  if (p.destinations) parts.push(`to ${p.destinations.join(', ')}`);
  if (p.quota !== undefined) parts.push(`quota ${formatQuota(p.quota)}`);
  if (p.suspended !== undefined)
    parts.push(p.suspended ? (p.refuseMail ? 'suspended, mail refused' : 'suspended') : 'not suspended');
  if (p.catchall !== undefined) parts.push(`catch-all ${p.catchall ?? 'none'}`);
  if (p.withAccounts) parts.push('with its accounts and forwards');
  if (p.parts?.includes('password')) parts.push('new password');
  return parts.join('; ');
}

/** `active`, `suspended` (its mail kept) or `suspended, mail refused`. */
export function accountState(a: { suspended: boolean; refuseMail: boolean; sendLimitReached?: boolean }): string {
  const state = a.suspended ? (a.refuseMail ? 'suspended, mail refused' : 'suspended') : 'active';
  return a.sendLimitReached ? `${state}, sending limit reached` : state;
}

/** Why an account's mail needs attention, in a few words (`never fetched`, `mail 45d old`), or ''. */
export function healthNote(h: {
  neverFetched: boolean;
  piling: boolean;
  oldestDays: number | null;
  clients?: number;
  clientsNote?: string | null;
}): string {
  if (h.neverFetched) return 'never fetched';
  if (h.clientsNote) return `${h.clients} clients fight`;
  if (h.piling) return `mail ${h.oldestDays}d old`;
  return '';
}
