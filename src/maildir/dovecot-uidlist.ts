// Dovecot's `dovecot-uidlist` (the UIDs it gave a Maildir's messages) and the POP3 UIDLs it
// made of them with `pop3_uidl_format`, so an import serves every message under the UIDL
// Dovecot served; and the same file written for a Maildir vmail hands back to Dovecot.
//
// The file (versions 1 and 3): a header `3 V<uidvalidity> N<next uid> G<guid>` (version 1:
// `1 <uidvalidity> <next uid>`), then a line per message: `<uid> [<key><value> ...] :<file>`
// (version 1: `<uid> <file>`). Key P holds a UIDL Dovecot was told to keep (a migration's).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../model/errors.js';
import { writeAtomic } from '../support/durable.js';
import { listMessages } from './maildir.js';

export interface Uidlist {
  uidValidity: number;
  nextUid: number;
  /** Each message's UID, the base of its file name (what survives flag changes), and P if kept. */
  messages: { uid: number; file: string; pop3Uidl?: string }[];
}

export function parseUidlist(text: string): Uidlist {
  const lines = text.split('\n');
  const header = lines[0]?.trim().split(/\s+/) ?? [];
  let uidValidity = Number.NaN;
  let nextUid = Number.NaN;
  if (header[0] === '1') {
    uidValidity = Number(header[1]);
    nextUid = Number(header[2]);
  } else if (header[0] === '2' || header[0] === '3') {
    for (const field of header.slice(1)) {
      if (field[0] === 'V') uidValidity = Number(field.slice(1));
      if (field[0] === 'N') nextUid = Number(field.slice(1));
    }
  }
  if (!Number.isSafeInteger(uidValidity) || !Number.isSafeInteger(nextUid))
    throw new InputError(`not a dovecot-uidlist: its first line is ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`);
  const messages: Uidlist['messages'] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const colon = line.indexOf(' :');
    const head = (colon >= 0 ? line.slice(0, colon) : line).trim().split(/\s+/);
    const file = colon >= 0 ? line.slice(colon + 2) : (head[1] ?? '');
    const uid = Number(head[0]);
    if (!Number.isSafeInteger(uid) || uid <= 0 || !file) continue;
    const p = colon >= 0 ? head.slice(1).find((f) => f[0] === 'P') : undefined;
    messages.push({ uid, file, ...(p && p.length > 1 ? { pop3Uidl: p.slice(1) } : {}) });
  }
  return { uidValidity, nextUid, messages };
}

/** The variables of pop3_uidl_format vmail can fill: %u (UID), %v (UIDVALIDITY), %f (file name), %%. */
const VARIABLE = /%(0?\d*)([Xx]?)([uvf%])|%./g;

/** Refuses a pop3_uidl_format with variables vmail cannot fill (say, %m: a digest of the headers). */
export function checkUidlFormat(format: string): string {
  for (const m of format.matchAll(VARIABLE))
    if (!m[3])
      throw new InputError(
        `--uidl-format ${JSON.stringify(format)}: ${m[0]} is not supported; vmail fills %u, %v, %f and %%, with a width and X for hex (%08Xu%08Xv)`,
      );
  if (!format.includes('%')) throw new InputError(`--uidl-format ${JSON.stringify(format)} has no variable`);
  return format;
}

/** The UIDL Dovecot made of a message with `format` (its pop3_uidl_format; default %08Xu%08Xv). */
export function formatUidl(format: string, v: { uid: number; uidValidity: number; file: string }): string {
  return format.replace(VARIABLE, (_all, width: string, hex: string, name: string) => {
    if (name === '%') return '%';
    const value = name === 'u' ? v.uid : name === 'v' ? v.uidValidity : v.file.split(':', 1)[0];
    let text = typeof value === 'number' && hex ? value.toString(16) : String(value);
    // Dovecot's %X is lower-case hex (what `doveadm` and its POP3 server print).
    if (width) text = text.padStart(Number(width), width.startsWith('0') ? '0' : ' ');
    return text;
  });
}

/**
 * The UIDL of each message in a Maildir as Dovecot would serve it: from the uidlist (its P, or
 * the format), and for files the uidlist does not know yet, the next UIDs in the Maildir's order
 * (as Dovecot numbers them the first time it looks). Keyed by `keyOf(file)`.
 */
export function dovecotUidls(
  list: Uidlist,
  files: readonly string[],
  format: string,
  keyOf: (file: string) => string,
): Map<string, string> {
  const known = new Map(list.messages.map((m) => [keyOf(m.file), m]));
  const out = new Map<string, string>();
  let next = list.nextUid;
  for (const file of files) {
    const key = keyOf(file);
    if (out.has(key)) continue;
    const m = known.get(key);
    const uid = m?.uid ?? next++;
    out.set(key, m?.pop3Uidl ?? formatUidl(format, { uid, uidValidity: list.uidValidity, file: m?.file ?? file }));
  }
  return out;
}

/**
 * A dovecot-uidlist for a Maildir vmail serves, so Dovecot serves the same UIDLs: every
 * message under a UID of its own, its UIDL kept in P.
 */
export function uidlistText(messages: readonly { file: string; uidl: string }[], uidValidity: number): string {
  const lines = messages.map((m, i) => `${i + 1} P${m.uidl} :${m.file.split(':', 1)[0]}`);
  return `3 V${uidValidity} N${messages.length + 1}\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

/**
 * Writes `dir`'s dovecot-uidlist (in one rename) with the UIDL vmail serves for each message,
 * keeping the UIDVALIDITY of one already there. Returns how many messages it lists.
 */
export async function writeDovecotUidlist(dir: string): Promise<number> {
  const entries = await listMessages(dir);
  // None yet (or unreadable): a new UIDVALIDITY, so IMAP clients list the mailbox afresh; no message is touched.
  const old = await readFile(join(dir, 'dovecot-uidlist'), 'utf8').catch(() => null);
  let validity = Math.floor(Date.now() / 1000);
  if (old !== null)
    try {
      validity = parseUidlist(old).uidValidity;
    } catch {
      // not Dovecot's: a new one
    }
  await writeAtomic(
    join(dir, 'dovecot-uidlist'),
    uidlistText(
      entries.map((m) => ({ file: m.file, uidl: m.uidl ?? m.uid })),
      validity,
    ),
    { mode: 0o666 },
  );
  return entries.length;
}
