// The POP3 UIDLs a Maildir's messages had on the server they came from, kept in its
// `vmail-uidls` file (written when an import applies) and served instead of vmail's own, so a
// mail client that leaves mail on the server downloads nothing again after the move. Messages
// delivered later have no line and get vmail's UIDL (their base name).
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../support/durable.js';

const FILE = 'vmail-uidls';
const HEADER = 'vmail-uidls 1';
/** Maildirs whose maps are kept in memory at once. */
const KEEP = 256;

/** By Maildir: the file's change time when read, and its map (message uid -> UIDL). */
const loaded = new Map<string, { mtimeMs: number; map: Map<string, string> }>();

/** A UIDL as RFC 1939 allows: 1-70 characters 0x21-0x7E. */
export function isUidl(s: string): boolean {
  return s.length >= 1 && s.length <= 70 && /^[\x21-\x7e]+$/.test(s);
}

/** The UIDLs kept for `dir`'s messages (empty for a Maildir that was not imported). */
export async function uidlsOf(dir: string): Promise<Map<string, string>> {
  // No map (a Maildir that was not imported, or the map unreadable now): the UIDLs are vmail's own.
  const st = await stat(join(dir, FILE)).catch(() => null);
  if (!st) {
    loaded.delete(dir);
    return new Map();
  }
  const cached = loaded.get(dir);
  if (cached && cached.mtimeMs === st.mtimeMs) {
    loaded.delete(dir);
    loaded.set(dir, cached);
    return cached.map;
  }
  const map = new Map<string, string>();
  // Removed since the stat above: no map, as for a Maildir that was not imported.
  const lines = (await readFile(join(dir, FILE), 'utf8').catch(() => '')).split('\n');
  if (lines[0] === HEADER) {
    for (const line of lines.slice(1)) {
      const [uid, uidl] = line.split(' ');
      if (uid && uidl && isUidl(uidl)) map.set(uid, uidl);
    }
  }
  loaded.set(dir, { mtimeMs: st.mtimeMs, map });
  for (const old of loaded.keys()) {
    if (loaded.size <= KEEP) break;
    loaded.delete(old);
  }
  return map;
}

/**
 * Writes `dir`'s UIDL map (message uid -> UIDL), replacing any, whole and durably (a map lost
 * in a power cut would make every client download the mailbox again).
 */
export async function saveUidls(dir: string, map: Map<string, string>): Promise<void> {
  const body = [HEADER, ...[...map].map(([uid, uidl]) => `${uid} ${uidl}`)].join('\n');
  await writeAtomic(join(dir, FILE), `${body}\n`);
  loaded.delete(dir);
}
