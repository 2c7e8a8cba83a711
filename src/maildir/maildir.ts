// One Maildir: durable delivery (tmp -> fsync -> new -> fsync dir), listing in a stable order with
// sizes read from file names, UIDs that survive new/ -> cur/ and flag changes, and deletion.
import { createHash } from 'node:crypto';
import { constants, type Dirent, type Stats, statSync } from 'node:fs';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fsyncDir, renameQuick, sweepTemps, unlinkIfThere, writeNewFile, writeRenamed } from '../support/durable.js';
import { crlfSize } from './crlf-size.js';
import { restoreFolders } from './paths.js';
import { saveSizes, sizesOf } from './size-cache.js';
import { uidlsOf } from './uidl-map.js';

export interface MessageEntry {
  /** Stable across sessions and moves: derived from the file's base name. */
  uid: string;
  /** The UIDL the server it was imported from gave it (see uidl-map.ts); POP3 serves uid when absent. */
  uidl?: string;
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

/**
 * The name a message delivered with `opts` gets in new/ (a copy's own `base`, or a unique one):
 * known before the delivery, so a quota reservation can be named after the message it holds room for.
 */
export function messageName(length: number, wsize: number, base?: string): string {
  return base ? `${base}.${HOST},S=${length},W=${wsize}` : uniqueName(length, wsize);
}

function uniqueName(size: number, wsize: number): string {
  const now = Date.now();
  const secs = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000 + (counter % 1000);
  counter++;
  // Zero-padded so that names sort in delivery order within a second.
  return `${secs}.M${String(usec).padStart(6, '0')}P${process.pid}Q${counter}.${HOST},S=${size},W=${wsize}`;
}

export interface DeliverOptions {
  /**
   * A name unique to this copy (e.g. a queue entry's id): a second delivery of the same copy,
   * after a crash between delivering and recording it, finds the first and writes nothing.
   */
  base?: string;
  /** The CRLF size of the parts, when the caller knows it (it scanned a shared body once). */
  crlfSize?: number;
  /** A file whose bytes follow the parts (a big message spooled to disk), and its length. */
  tail?: { path: string; length: number };
  /** The file's name, made beforehand with messageName() for these parts and options. */
  name?: string;
  /** Told the file name just before the message appears in new/. */
  naming?: (file: string) => void;
  /** Called as the message appears in new/ (a size index counts it there). */
  visible?: (size: number) => void;
}

/** Maildirs an apply is moving or archiving, each with what lifts its hold. */
const held = new Map<string, Promise<void>>();
/** The deliveries writing into each Maildir now. */
const writing = new Map<string, Set<Promise<unknown>>>();

/**
 * Holds deliveries into `dirs` (an apply is about to move or archive them): waits for those
 * under way to finish, and makes new ones wait until the returned release is called (after the
 * apply's commit, once routing knows the new place).
 */
export async function holdMaildirs(dirs: readonly string[]): Promise<() => void> {
  let release = () => {};
  const lifted = new Promise<void>((r) => {
    release = r;
  });
  const before = dirs.map((d) => held.get(d));
  for (const d of dirs) held.set(d, lifted);
  // A hold already there (another apply's) is waited for as well.
  await Promise.all(before);
  await Promise.all(dirs.flatMap((d) => [...(writing.get(d) ?? [])]));
  return () => {
    for (const d of dirs) if (held.get(d) === lifted) held.delete(d);
    release();
  };
}

/** Waits while `dir` is held; true if it was (the caller then asks where the mail goes again). */
export async function heldMaildir(dir: string): Promise<boolean> {
  if (!held.has(dir)) return false;
  while (held.has(dir)) await held.get(dir);
  return true;
}

/**
 * Writes the message (given as parts, written as if joined) into the Maildir so that it
 * survives a crash once this resolves. Never makes the Maildir itself (only its folders
 * removed by hand): one not there throws MaildirGoneError.
 */
export async function deliver(
  dir: string,
  data: Buffer | readonly Buffer[],
  opts: DeliverOptions = {},
): Promise<Delivered> {
  while (held.has(dir)) await held.get(dir);
  // From here to the write's start nothing awaits: a hold begun later waits for this one.
  // Another delivery into this Maildir under way: the two share one fsync of new/.
  const p = write(dir, data, opts, Boolean(writing.get(dir)?.size));
  const set = writing.get(dir) ?? new Set();
  writing.set(dir, set);
  const tracked = p.then(
    () => {},
    // The caller gets the error; a hold only waits for the attempt to end.
    () => {},
  );
  set.add(tracked);
  void tracked.then(() => {
    set.delete(tracked);
    if (!set.size && writing.get(dir) === set) writing.delete(dir);
  });
  return p;
}

async function write(
  dir: string,
  data: Buffer | readonly Buffer[],
  opts: DeliverOptions,
  shareFolderSync: boolean,
): Promise<Delivered> {
  const parts = Buffer.isBuffer(data) ? [data] : data;
  const length = parts.reduce((n, p) => n + p.length, 0) + (opts.tail?.length ?? 0);
  // A tail's size is the caller's to give: it is not read here.
  const size = opts.crlfSize ?? crlfSize(parts);
  const base = opts.base;
  const name = opts.name ?? messageName(length, size, base);
  if (base) {
    const existing = join(dir, 'new', name);
    if (
      await stat(existing).then(
        () => true,
        () => false,
      )
    )
      return { file: existing, size };
  }
  const tmp = join(dir, 'tmp', name);
  // A named copy is delivered by one attempt at a time: a file of its name in tmp/ is what an
  // attempt cut short by a crash left there, and is written again from the start.
  if (base) await unlink(tmp).catch(() => {});
  const file = join(dir, 'new', name);
  if (!opts.tail) {
    opts.naming?.(name);
    // In one trip to the thread pool; false: not this way, and nothing left (the steps below).
    const done = await writeRenamed(tmp, file, parts, { shareFolderSync }).catch((err: Error) => {
      // In new/, but its folder's fsync failed.
      opts.visible?.(size);
      throw err;
    });
    if (done) {
      opts.visible?.(size);
      if (shareFolderSync) await fsyncDir(join(dir, 'new'));
      return { file, size };
    }
  }
  await writeNewFile(tmp, parts, { tail: opts.tail?.path }).catch(async (err: NodeJS.ErrnoException) => {
    // A Maildir whose folders were removed by hand is made whole again, as Dovecot does.
    if (err.code !== 'ENOENT') throw err;
    await restoreFolders(dir);
    await writeNewFile(tmp, parts, { tail: opts.tail?.path });
  });
  try {
    opts.naming?.(name);
    await renameQuick(tmp, file).catch(async (err: NodeJS.ErrnoException) => {
      // new/ removed by hand: made again, as for tmp/ above.
      if (err.code !== 'ENOENT') throw err;
      await restoreFolders(dir);
      await renameQuick(tmp, file);
    });
    // The message is listed from here on: tell whoever counts, before anything else can run.
    opts.visible?.(size);
    await fsyncDir(join(dir, 'new'));
  } catch (err) {
    // The delivery's own error is the one to report; a temp left in tmp/ is swept after 36 hours.
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

function parseName(file: string): { w?: number; s?: number; time: number } {
  const w = /,W=(\d+)/.exec(file);
  const s = /,S=(\d+)/.exec(file);
  const t = /^(\d+)\./.exec(file);
  return {
    w: w ? Number(w[1]) : undefined,
    s: s ? Number(s[1]) : undefined,
    time: t ? Number(t[1]) : Number.MAX_SAFE_INTEGER,
  };
}

/**
 * How a message file is opened: never through a link (a link in new/ or cur/ is not mail, and
 * what it points to may be the daemon's secrets), and never hanging on a FIFO.
 */
export const MESSAGE_OPEN = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

let strayHook: (path: string, what: string) => void = () => {};
const strayTold = new Set<string>();

/** Sets who is told (once per path) of a link or other non-file skipped among a Maildir's messages. */
export function onStrayMessage(hook: (path: string, what: string) => void): void {
  strayHook = hook;
}

/** A link or non-file among the messages: skipped, and told once. */
function strayMessage(path: string, what: string): void {
  if (strayTold.has(path)) return;
  // Bounded: a flood of them is told again rather than remembered forever.
  if (strayTold.size >= 10_000) strayTold.clear();
  strayTold.add(path);
  strayHook(path, what);
}

/**
 * Opens a message file for reading, following no link; a link or non-file is told (once) and
 * refused as ENOENT: it is no message, and the callers treat it as one gone.
 */
async function openPlainMessage(path: string) {
  const notMail = (what: string) => {
    strayMessage(path, what);
    return Object.assign(new Error(`${path} is ${what}, not a message`), { code: 'ENOENT' });
  };
  const fh = await open(path, MESSAGE_OPEN).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' ? notMail('a symbolic link') : err;
  });
  const st = await fh.stat().catch(async (err) => {
    await fh.close();
    throw err;
  });
  if (st.isFile()) return fh;
  await fh.close();
  throw notMail(st.isDirectory() ? 'a folder' : 'not a plain file');
}

/** Files measured at once when a Maildir without size tags is first listed. */
const MEASURE_AT_ONCE = 16;

interface Listed {
  entries: MessageEntry[];
  /** Entries whose name lacks a size: filled from the remembered sizes, or measured. */
  untagged: MessageEntry[];
}

async function listFolder(dir: string, folder: 'new' | 'cur'): Promise<Listed> {
  let found: Dirent[];
  try {
    found = await readdir(join(dir, folder), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], untagged: [] };
    throw err;
  }
  const entries: MessageEntry[] = [];
  const untagged: MessageEntry[] = [];
  for (const e of found) {
    const file = e.name;
    if (file.startsWith('.')) continue;
    // A link (to a secret, say) or anything else that is not a file is no message: never counted.
    if (!e.isFile()) {
      strayMessage(join(dir, folder, file), e.isSymbolicLink() ? 'a symbolic link' : 'not a plain file');
      continue;
    }
    const { w, s, time } = parseName(file);
    const entry: MessageEntry = { uid: uidOf(file), folder, file, size: w ?? -1, time };
    if (s !== undefined) entry.diskSize = s;
    entries.push(entry);
    if (w === undefined || s === undefined) untagged.push(entry);
  }
  return { entries, untagged };
}

/**
 * Gives untagged entries their sizes: remembered ones from the Maildir's size file, the rest
 * measured (a few files at a time) and remembered. Entries that vanished meanwhile, or are not
 * files, are dropped from `entries`.
 */
async function sizeUntagged(dir: string, entries: MessageEntry[], untagged: MessageEntry[]): Promise<MessageEntry[]> {
  const sizes = await sizesOf(dir);
  const unknown = untagged.filter((m) => {
    const known = sizes.get(m.uid);
    if (!known) return true;
    m.size = known.w;
    m.diskSize = known.s;
    return false;
  });
  if (unknown.length === 0) return entries;
  const gone = new Set<MessageEntry>();
  for (let i = 0; i < unknown.length; i += MEASURE_AT_ONCE) {
    await Promise.all(
      unknown.slice(i, i + MEASURE_AT_ONCE).map(async (m) => {
        try {
          const fh = await openPlainMessage(join(dir, m.folder, m.file));
          const data = await fh.readFile().finally(() => fh.close());
          const z = { s: data.length, w: crlfSize(data) };
          sizes.set(m.uid, z);
          m.size = z.w;
          m.diskSize = z.s;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'EISDIR') throw err;
          gone.add(m);
        }
      }),
    );
  }
  const kept = gone.size ? entries.filter((m) => !gone.has(m)) : entries;
  // A cache of sizes: one not saved is read from the files again next time.
  await saveSizes(dir, sizes, new Set(kept.map((m) => m.uid))).catch(() => {});
  return kept;
}

/** Every message in the Maildir, oldest first, in an order that is the same on every call. */
export async function listMessages(dir: string): Promise<MessageEntry[]> {
  return (await listStamped(dir)).entries;
}

/**
 * The listing, and the stamp of new/ and cur/ taken before it (null if they are missing);
 * settled: the folders had not changed for a while, so no change can share the stamp's times.
 */
export async function listStamped(
  dir: string,
): Promise<{ entries: MessageEntry[]; stamp: string | null; settled: boolean }> {
  const stamp = await folderStamp(dir);
  const cached = listings.get(dir);
  if (stamp && cached && cached.stamp === stamp.key) {
    // Used: move it to the young end of the cache.
    listings.delete(dir);
    listings.set(dir, cached);
    return { entries: cached.entries.slice(), stamp: stamp.key, settled: stamp.settled };
  }
  const [fresh, seen] = await Promise.all([listFolder(dir, 'new'), listFolder(dir, 'cur')]);
  let all = [...seen.entries, ...fresh.entries];
  if (seen.untagged.length || fresh.untagged.length)
    all = await sizeUntagged(dir, all, [...seen.untagged, ...fresh.untagged]);
  all.sort((a, b) => a.time - b.time || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  // Two files with one base name (a copy left in both folders): keep the first, so UIDs stay unique.
  const uids = new Set<string>();
  const entries = all.filter((m) => {
    if (uids.has(m.uid)) return false;
    uids.add(m.uid);
    return true;
  });
  // An imported Maildir's messages keep the UIDLs their old server gave them.
  const kept = await uidlsOf(dir);
  if (kept.size)
    for (const m of entries) {
      const uidl = kept.get(m.uid);
      if (uidl) m.uidl = uidl;
    }
  if (stamp?.settled && entries.length >= CACHE_FROM) {
    listings.set(dir, { stamp: stamp.key, entries });
    for (const old of listings.keys()) {
      if (listings.size <= CACHE_MAILDIRS) break;
      listings.delete(old);
    }
  }
  return { entries: entries.slice(), stamp: stamp?.key ?? null, settled: stamp?.settled ?? false };
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
    return stampOf(n, c);
  } catch {
    // No new/ or cur/ to look at (the Maildir is gone or not made yet): no stamp to compare.
    return null;
  }
}

/**
 * The same, read at once: for a sweep over 100,000 Maildirs, where a trip through the thread
 * pool per folder costs several times the stat itself.
 */
export function folderStampNow(dir: string): { key: string; settled: boolean } | null {
  const n = statSync(join(dir, 'new'), { throwIfNoEntry: false });
  const c = n && statSync(join(dir, 'cur'), { throwIfNoEntry: false });
  return n && c ? stampOf(n, c) : null;
}

function stampOf(n: Stats, c: Stats): { key: string; settled: boolean } {
  return {
    key: `${n.ino}:${n.mtimeMs}/${c.ino}:${c.mtimeMs}`,
    settled: Date.now() - Math.max(n.mtimeMs, c.mtimeMs) > STALE_MS,
  };
}

function messagePath(dir: string, m: MessageEntry): string {
  return join(dir, m.folder, m.file);
}

/** Opens a listed message; if it has moved between new/ and cur/ or gained flags, finds it again. */
export async function openMessage(dir: string, m: MessageEntry) {
  try {
    return await openPlainMessage(messagePath(dir, m));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    for (const folder of ['cur', 'new'] as const) {
      // A folder not there holds no renamed copy: the message is reported gone below.
      const names = await readdir(join(dir, folder)).catch(() => [] as string[]);
      const found = names.find((f) => uidOf(f) === m.uid);
      if (found) return openPlainMessage(join(dir, folder, found));
    }
    throw err;
  }
}

/**
 * Removes files a crash left in tmp/ (a delivery that never reached new/), and the temps of
 * the Maildir's own files (vmail-uidls, maildirsize ...) a kill -9 left beside them, once they
 * are older than `olderThanMs` (the Maildir convention says 36 hours). Returns how many went.
 */
export async function cleanTmp(dir: string, olderThanMs: number, now = Date.now()): Promise<number> {
  const tmp = join(dir, 'tmp');
  // No tmp/ (or none readable): no leftovers to remove this time.
  const names = await readdir(tmp).catch(() => [] as string[]);
  let removed = await sweepTemps(dir, olderThanMs, now);
  for (const name of names) {
    const path = join(tmp, name);
    // Gone meanwhile (its delivery finished): nothing to remove.
    const st = await stat(path).catch(() => null);
    if (!st?.isFile() || now - st.mtimeMs < olderThanMs) continue;
    await unlink(path).then(
      () => removed++,
      () => {},
    );
  }
  return removed;
}

/** The messages were deleted, but the folders' fsync failed: the deletions may not last a crash. */
export class DeletionNotDurable extends Error {}

/**
 * Deletes messages (a file already gone counts as deleted) and makes the deletion durable;
 * throws DeletionNotDurable when new/ or cur/ cannot be fsynced (rule 4 in support/durable.ts).
 */
export async function deleteMessages(dir: string, messages: MessageEntry[]): Promise<void> {
  for (const m of messages) {
    try {
      await unlink(messagePath(dir, m));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // It may have been renamed (flags, new/ -> cur/) since it was listed.
      for (const folder of ['cur', 'new'] as const) {
        // A folder not there holds no renamed copy to delete.
        const names = await readdir(join(dir, folder)).catch(() => [] as string[]);
        // Gone meanwhile is deleted; any other failure keeps the message, and the client is told.
        for (const f of names) if (uidOf(f) === m.uid) await unlinkIfThere(join(dir, folder, f));
      }
    }
  }
  try {
    await Promise.all([fsyncDir(join(dir, 'new')), fsyncDir(join(dir, 'cur'))]);
  } catch (err) {
    throw new DeletionNotDurable(`deleted, but not made durable: ${(err as Error).message}`);
  }
}
