// Sizes of messages whose file names do not carry them (Maildirs written by qmail, Courier, an
// rsync from the old server): measured once, then remembered in the Maildir's `vmail-sizes`
// file (as Courier keeps `courierpop3dsizelist`), so a restart does not read every file again
// and POP3 serves them by the same one-read path as the files vmail wrote itself.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../support/durable.js';

/** Bytes on disk, and octets as POP3 sends them (CRLF line ends). */
export interface Sizes {
  s: number;
  w: number;
}

const FILE = 'vmail-sizes';
const HEADER = 'vmail-sizes 1';
/** Maildirs whose remembered sizes are kept in memory at once. */
const KEEP = 256;

const loaded = new Map<string, Map<string, Sizes>>();

/** The remembered sizes of one Maildir, by message base name (it survives moves and flags). */
export async function sizesOf(dir: string): Promise<Map<string, Sizes>> {
  let sizes = loaded.get(dir);
  if (sizes) {
    // Used: to the young end.
    loaded.delete(dir);
    loaded.set(dir, sizes);
    return sizes;
  }
  sizes = new Map();
  // A cache: none saved (or unreadable) means sizes are read from the files.
  const text = await readFile(join(dir, FILE), 'utf8').catch(() => '');
  const lines = text.split('\n');
  if (lines[0] === HEADER) {
    for (const line of lines.slice(1)) {
      const [base, s, w] = line.split(' ');
      if (base && /^\d+$/.test(s ?? '') && /^\d+$/.test(w ?? '')) sizes.set(base, { s: Number(s), w: Number(w) });
    }
  }
  loaded.set(dir, sizes);
  for (const old of loaded.keys()) {
    if (loaded.size <= KEEP) break;
    loaded.delete(old);
  }
  return sizes;
}

/**
 * Writes what is remembered for `dir`, keeping only the base names still present. Not fsynced:
 * a lost file only means measuring again.
 */
export async function saveSizes(dir: string, sizes: Map<string, Sizes>, present: Set<string>): Promise<void> {
  for (const base of sizes.keys()) if (!present.has(base)) sizes.delete(base);
  const body = [HEADER, ...[...sizes].map(([base, z]) => `${base} ${z.s} ${z.w}`)].join('\n');
  await writeAtomic(join(dir, FILE), `${body}\n`, { sync: false });
}
