// Room held in a Maildir for a message being written, seen by every daemon on a shared mail
// root: an empty file in tmp/ named after the message it holds room for (`NAME,R`), made before
// the quota is checked and removed once the message is in new/, refused, or failed.
//
// Why this bounds a mailbox across daemons without a lock: a delivery makes its file first and
// then reads what the Maildir holds (tmp/ rooms, then new/, then cur/: the way a message moves,
// so one moving meanwhile is seen in one of them, and counted once by its name). Of all the
// deliveries that were let in, the one whose room was made last saw every other one (made
// before it, and still a room or a message when it read), so the mailbox holds at most what
// that one saw plus itself, and it was let in only if that fitted the quota. Two that read at
// the same moment may each count the other and both be refused (452: the sender tries again).
// A room left by a daemon killed mid-delivery counts for STALE_MS, then no more.
import { readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { uidOf } from './maildir.js';
import { sizesOf } from './size-cache.js';

/** A room older than this was left by a delivery that died; a write of 25 MB takes seconds. */
const STALE_MS = 10 * 60_000;
const SUFFIX = ',R';

/** Holds room in `dir` for the message to be named `name`; null when the Maildir has no tmp/. */
export async function holdRoom(dir: string, name: string): Promise<string | null> {
  const path = join(dir, 'tmp', `${name}${SUFFIX}`);
  try {
    await writeFile(path, '', { flag: 'wx', mode: 0o600 });
    return path;
  } catch (err) {
    // No tmp/ (a Maildir removed or being moved): the delivery itself decides what happens.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Gives the room back (the message is in new/, or was not written). */
export async function freeRoom(path: string | null): Promise<void> {
  if (!path) return;
  // Gone already (a Maildir archived meanwhile took it along), or not removable: a room left
  // behind counts only for STALE_MS, while failing a delivery already in new/ would duplicate it.
  await unlink(path).catch(() => {});
}

/**
 * What the Maildir holds and has room held for, read from disk (every daemon's deliveries):
 * sizes from the names (CRLF octets, as POP3 and the quota count them), else remembered or
 * measured. `except` is the caller's own message (its UID), not counted.
 */
export async function usedOnDisk(dir: string, except: string): Promise<{ bytes: number; messages: number }> {
  const seen = new Set<string>([except]);
  let bytes = 0;
  let messages = 0;
  const now = Date.now();
  for (const folder of ['tmp', 'new', 'cur'] as const) {
    let names: string[];
    try {
      names = await readdir(join(dir, folder));
    } catch (err) {
      // A folder that is not there holds nothing.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const f of names) {
      if (f.startsWith('.') || (folder === 'tmp' && !f.endsWith(SUFFIX))) continue;
      const uid = uidOf(f);
      if (seen.has(uid)) continue;
      const path = join(dir, folder, f);
      let size = /,W=(\d+)/.exec(f)?.[1];
      if (folder === 'tmp') {
        // Not there: given back meanwhile (see below).
        const st = await stat(path).catch(() => null);
        // Given back meanwhile (its message is read in new/ next), or left by a dead delivery.
        if (!st || now - st.mtimeMs > STALE_MS) continue;
      } else if (size === undefined) {
        const known = (await sizesOf(dir)).get(uid);
        // Not there: deleted since the listing (see below).
        const st = known ? null : await stat(path).catch(() => null);
        // Deleted since the listing: it holds nothing.
        if (!known && !st) continue;
        size = String(known ? known.w : st!.size);
      }
      seen.add(uid);
      bytes += Number(size ?? 0);
      messages++;
    }
  }
  return { bytes, messages };
}
