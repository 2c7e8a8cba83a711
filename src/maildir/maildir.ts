// One Maildir: durable delivery (tmp -> fsync -> new -> fsync dir), listing in a stable order with
// sizes read from file names, UIDs that survive new/ -> cur/ and flag changes, and deletion.
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fsyncDir, writeNewFile } from './durable.js';
import { createMaildir } from './paths.js';

export interface MessageEntry {
  /** Stable across sessions and moves: derived from the file's base name. */
  uid: string;
  /** `new` or `cur`. */
  folder: 'new' | 'cur';
  file: string;
  /** Octets as POP3 sends them: CRLF line ends, before dot-stuffing. */
  size: number;
  /** Bytes on disk, when the name says (`,S=`): lets a reader fetch it in one read. */
  diskSize?: number;
  /** Ordering key: delivery time in seconds from the name, when the name has one. */
  time: number;
}

export interface Delivered {
  file: string;
  size: number;
}

const HOST = hostname().replace(/[/:,\\]/g, '_') || 'localhost';
let counter = 0;

/** The number of bytes `data` has once every line ends in CRLF and the last line has an end. */
export function crlfSize(data: Buffer): number {
  let size = data.length;
  let prev = -1;
  for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, i + 1)) {
    if (i === 0 || data[i - 1] !== 13) size++;
    prev = i;
  }
  if (data.length > 0 && prev !== data.length - 1) size += 2;
  return size;
}

function uniqueName(size: number, wsize: number): string {
  const now = Date.now();
  const secs = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000 + (counter % 1000);
  counter++;
  // Zero-padded so that names sort in delivery order within a second.
  return `${secs}.M${String(usec).padStart(6, '0')}P${process.pid}Q${counter}.${HOST},S=${size},W=${wsize}`;
}

/**
 * Writes `data` into the Maildir so that it survives a crash once this resolves. With `base`
 * (a name unique to this copy, e.g. a queue entry's id) a second delivery of the same copy,
 * after a crash between delivering and recording it, finds the first and writes nothing.
 * `onVisible` is called as the message appears in new/ (a size index counts it there).
 */
export async function deliver(dir: string, data: Buffer, base?: string, onVisible?: (size: number) => void): Promise<Delivered> {
  const size = crlfSize(data);
  const name = base ? `${base}.${HOST},S=${data.length},W=${size}` : uniqueName(data.length, size);
  if (base) {
    const existing = join(dir, 'new', name);
    if (await stat(existing).then(() => true, () => false)) return { file: existing, size };
  }
  const tmp = join(dir, 'tmp', name);
  await writeNewFile(tmp, data).catch(async (err: NodeJS.ErrnoException) => {
    // A Maildir whose folders were removed by hand is made whole again, as Dovecot does.
    if (err.code !== 'ENOENT') throw err;
    await createMaildir(dir);
    await writeNewFile(tmp, data);
  });
  const file = join(dir, 'new', name);
  try {
    await rename(tmp, file);
    // The message is listed from here on: tell whoever counts, before anything else can run.
    onVisible?.(size);
    await fsyncDir(join(dir, 'new'));
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  return { file, size };
}

/** The UID for a Maildir file name: its base name, or a digest when that is not POP3-safe. */
export function uidOf(file: string): string {
  const base = file.split(/[,:]/, 1)[0];
  if (base.length >= 1 && base.length <= 70 && /^[\x21-\x7e]+$/.test(base)) return base;
  return createHash('sha1').update(base).digest('hex');
}

/** Sizes of files dropped in without `,W=`: measured once per file version, then remembered. */
const measured = new Map<string, number>();

async function measure(path: string): Promise<number> {
  const st = await stat(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}`;
  let size = measured.get(key);
  if (size === undefined) {
    size = crlfSize(await readFile(path));
    measured.set(key, size);
  }
  return size;
}

function parseName(file: string): { w?: number; s?: number; time: number } {
  const w = /,W=(\d+)/.exec(file);
  const s = /,S=(\d+)/.exec(file);
  const t = /^(\d+)\./.exec(file);
  return { w: w ? Number(w[1]) : undefined, s: s ? Number(s[1]) : undefined, time: t ? Number(t[1]) : Number.MAX_SAFE_INTEGER };
}

async function listFolder(dir: string, folder: 'new' | 'cur'): Promise<MessageEntry[]> {
  let names: string[];
  try {
    names = await readdir(join(dir, folder));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: MessageEntry[] = [];
  for (const file of names) {
    if (file.startsWith('.')) continue;
    const { w, s, time } = parseName(file);
    let size = w;
    if (size === undefined) {
      try {
        size = await measure(join(dir, folder, file));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        if ((err as NodeJS.ErrnoException).code === 'EISDIR') continue;
        throw err;
      }
    }
    const entry: MessageEntry = { uid: uidOf(file), folder, file, size, time };
    if (s !== undefined) entry.diskSize = s;
    out.push(entry);
  }
  return out;
}

/** Every message in the Maildir, oldest first, in an order that is the same on every call. */
export async function listMessages(dir: string): Promise<MessageEntry[]> {
  return (await listStamped(dir)).entries;
}

/** The listing, and the stamp of new/ and cur/ taken before it (null if they are missing). */
export async function listStamped(dir: string): Promise<{ entries: MessageEntry[]; stamp: string | null }> {
  const stamp = await folderStamp(dir);
  const cached = listings.get(dir);
  if (stamp && cached && cached.stamp === stamp.key) {
    // Used: move it to the young end of the cache.
    listings.delete(dir);
    listings.set(dir, cached);
    return { entries: cached.entries.slice(), stamp: stamp.key };
  }
  const [fresh, seen] = await Promise.all([listFolder(dir, 'new'), listFolder(dir, 'cur')]);
  const all = [...seen, ...fresh];
  all.sort((a, b) => a.time - b.time || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  // Two files with one base name (a copy left in both folders): keep the first, so UIDs stay unique.
  const uids = new Set<string>();
  const entries = all.filter((m) => (uids.has(m.uid) ? false : (uids.add(m.uid), true)));
  if (stamp?.settled && entries.length >= CACHE_FROM) {
    listings.set(dir, { stamp: stamp.key, entries });
    for (const old of listings.keys()) {
      if (listings.size <= CACHE_MAILDIRS) break;
      listings.delete(old);
    }
  }
  return { entries: entries.slice(), stamp: stamp?.key ?? null };
}

/**
 * Listings of big Maildirs, reused while new/ and cur/ are unchanged: logging in to a mailbox
 * of 50,000 messages then costs two stats instead of a directory read and 50,000 names parsed.
 * Only a listing whose folders had not changed for STALE_MS is kept, so a change that lands
 * within the file system's timestamp granularity of the listing is never hidden by it.
 */
const listings = new Map<string, { stamp: string; entries: MessageEntry[] }>();
const CACHE_MAILDIRS = 64;
const CACHE_FROM = 1000;
const STALE_MS = 2000;

/** What new/ and cur/ look like now: changes when a file is added, removed or renamed there. */
export async function folderStamp(dir: string): Promise<{ key: string; settled: boolean } | null> {
  try {
    const [n, c] = await Promise.all([stat(join(dir, 'new')), stat(join(dir, 'cur'))]);
    return { key: `${n.ino}:${n.mtimeMs}/${c.ino}:${c.mtimeMs}`, settled: Date.now() - Math.max(n.mtimeMs, c.mtimeMs) > STALE_MS };
  } catch {
    return null;
  }
}

export function messagePath(dir: string, m: MessageEntry): string {
  return join(dir, m.folder, m.file);
}

/** Opens a listed message; if it has moved between new/ and cur/ or gained flags, finds it again. */
export async function openMessage(dir: string, m: MessageEntry) {
  try {
    return await open(messagePath(dir, m), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    for (const folder of ['cur', 'new'] as const) {
      const names = await readdir(join(dir, folder)).catch(() => [] as string[]);
      const found = names.find((f) => uidOf(f) === m.uid);
      if (found) return open(join(dir, folder, found), 'r');
    }
    throw err;
  }
}

/** Deletes messages (a file already gone counts as deleted) and makes the deletion durable. */
export async function deleteMessages(dir: string, messages: MessageEntry[]): Promise<void> {
  for (const m of messages) {
    try {
      await unlink(messagePath(dir, m));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // It may have been renamed (flags, new/ -> cur/) since it was listed.
      for (const folder of ['cur', 'new'] as const) {
        const names = await readdir(join(dir, folder)).catch(() => [] as string[]);
        for (const f of names) if (uidOf(f) === m.uid) await unlink(join(dir, folder, f)).catch(() => {});
      }
    }
  }
  await Promise.all([fsyncDir(join(dir, 'new')), fsyncDir(join(dir, 'cur'))]).catch(() => {});
}

