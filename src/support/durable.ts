// Files that survive a crash (kill -9, a power cut) once the call that wrote them returns.
// Every write and rename vmail's crash ordering depends on goes through this file; plain file
// descriptors through the callback API (a FileHandle object per message costs more CPU than the
// write itself on a busy intake).
//
// A small file (QUICK_BYTES) is written in one trip to libuv's thread pool where the addon in
// native/durable is built (writeRenamed: create, write, fsync, rename, and the folder's fsync
// unless shared): each step as an async call of its own is a trip through the pool and back
// (a worker woken, then the event loop), which on a busy machine waits for a core twice; and
// done on the main thread, a create or a rename waits out any journal commit under way, which
// under many fsyncs is most of the time. Without the addon, the quick calls on the main thread
// (open, write, close, rename) with only the fsyncs in the pool. Bigger writes and copies from
// a spool file stay async, so a big message never holds the event loop.
//
// The crash ordering, written once:
//  1. A file gets its real name only whole: its data is written under a temp name of its own
//     in the same folder, fsynced, then renamed over the name (writeAtomic). A reader sees the
//     old file or the new one, never a torn one; a write cut short leaves at most a hidden
//     `.NAME.PID.N.tmp`, which a failed write removes itself and a kill -9 leaves to the
//     owner's sweep (the queue's load, a Maildir's cleanTmp for its tmp/).
//  2. A rename is durable only once the folders that lost and gained the name are fsynced
//     (renameDurable; once when they are the same): nothing is acknowledged before that
//     (SMTP 250, POP3 +OK after QUIT, an apply logged, an import reported).
//  3. A folder made is durable once its parent is fsynced (mkdirDurable).
//  4. Maildir delivery: tmp/NAME written and fsynced, renamed to new/NAME, new/ fsynced, then
//     250 (tmp/ is not fsynced: a name a crash leaves there too is swept by cleanTmp). A small
//     message takes these steps in one trip to the thread pool (writeRenamed, by the addon in
//     native/durable), in the same order. A POP3 deletion: the files unlinked, new/ and cur/ fsynced, then +OK (an fsync that
//     fails answers -ERR: the deletion may not last).
//  5. Forward queue: the message file (.eml) durable before its description (.json); the
//     description is what makes a message queued, and an .eml without one is a write cut short.
//     Both are renamed into the spool before one directory fsync that makes both names durable
//     (each file's data is fsynced before its rename): a crash before it may keep either name or
//     neither, and nothing was acknowledged yet (a description without its .eml is set aside).
//     An attempt is recorded (attempts + 1) before it is made, so a crash during one counts.
//  6. Apply: a Maildir moved (rename) or archived is durable before the store commits the
//     change; done again after a crash, each step finds its work done.
//  7. Import: the work folder's files, folders and vmail-uidls are durable before the work
//     folder is renamed to the account's Maildir, and that rename before the change commits.
//  8. Caches (a Maildir's vmail-sizes, the mailbox index's saved sizes) are written whole
//     (rule 1) but not fsynced: losing one only means reading the Maildirs again. So is
//     Maildir++'s maildirsize, which vmail keeps for other programs and writes again at start.
//  9. A new Maildir's stamp (maildir/paths.ts: which add made it) is written in place, not
//     fsynced: the Maildir's own fsync (rule 3) makes its name last before the add commits,
//     and a stamp a crash left empty or torn names no change, so the Maildir, bare, is kept
//     for the add anyway. One fsync fewer per add (10,000 adds applied at once).
// 10. An apply's new Maildirs, a chunk of up to 500 at once, are made durable by one syncfs(2)
//     per file system that holds them (syncFileSystems), after all of them are made and before
//     the chunk commits, in place of an fsync of each Maildir and of its parent (rule 3). The
//     same guarantee: syncfs returns once everything the file system had cached when it was
//     called is on disk (file data, folder entries, and the journal commit that holds them),
//     so every folder and stamp the chunk made before it is there when the commit starts, as
//     the fsyncs made them; it does more than they did (other files' pages too), never less.
//     One call instead of ~1,000 (10,000 adds: some 2 s of fsyncs on ext4). Where it cannot
//     be done (the addon in native/durable not built, a syncfs that fails: a write-back error
//     it reports may be anyone's) the caller fsyncs each Maildir and its parent as before.
//     A Maildir made ahead (DOMAIN/.add-ID, not durable) and renamed into place by the apply
//     is one of the chunk's new Maildirs like any other: the syncfs (or the fsyncs of it and
//     its parent) makes the rename and all it holds durable before the commit.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from './package-root.js';

const openFd = promisify(fs.open);
const writevFd = promisify(fs.writev);
const fsyncFd = promisify(fs.fsync);
const closeFd = promisify(fs.close);
const renameFile = promisify(fs.rename);
const unlinkFile = promisify(fs.unlink);
const mkdirPath = promisify(fs.mkdir);
const linkFile = promisify(fs.link);
const readDir = promisify(fs.readdir);
const readFd = promisify(fs.read);
const writeFd = promisify(fs.write);

/** What a copy from a file reads and writes at a time: memory per copy stays this. */
const COPY_CHUNK = 256 * 1024;

/** Appends the bytes of the file at `source` to `fd` from offset `at`. */
async function copyInto(fd: number, source: string, at: number): Promise<void> {
  const from = await openFd(source, 'r');
  try {
    const buf = Buffer.allocUnsafe(COPY_CHUNK);
    for (let read = 0; ; ) {
      const { bytesRead } = await readFd(from, buf, 0, COPY_CHUNK, read);
      if (bytesRead === 0) return;
      read += bytesRead;
      for (let done = 0; done < bytesRead; ) {
        const { bytesWritten } = await writeFd(fd, buf, done, bytesRead - done, at);
        done += bytesWritten;
        at += bytesWritten;
      }
    }
  } finally {
    await closeFd(from);
  }
}
const lstatPath = promisify(fs.lstat);

/** A file of at most this many bytes is written on the main thread, before its fsync (see the top). */
const QUICK_BYTES = 256 * 1024;

/** Opens, fsyncs and closes `path`: a folder now, or a file written by other means (a copy). */
export async function fsyncPath(path: string): Promise<void> {
  // Open and close are quick calls (see the top); the fsync waits for the disk in the pool.
  const fd = fs.openSync(path, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Renames `from` to `to` as a quick call (see the top); a failure rejects, as fs.promises' would. */
export async function renameQuick(from: string, to: string): Promise<void> {
  fs.renameSync(from, to);
}

/** Per directory: the fsync running, and the one that callers arriving meanwhile share. */
const dirSyncs = new Map<string, { running: Promise<void>; next: Promise<void> | null }>();

function startSync(dir: string): Promise<void> {
  const running = fsyncPath(dir).finally(() => {
    const s = dirSyncs.get(dir);
    if (s?.running === running && !s.next) dirSyncs.delete(dir);
  });
  const s = dirSyncs.get(dir);
  if (s) s.running = running;
  else dirSyncs.set(dir, { running, next: null });
  return running;
}

/**
 * Makes every change made in `dir` before the call durable (group commit). An fsync already
 * running may have started before the caller's change, so the caller waits for the next one,
 * which every caller arriving meanwhile shares: 20 deliveries finishing together in one
 * Maildir cost one directory fsync after the current one, not 20 in a row.
 */
export function fsyncDir(dir: string): Promise<void> {
  const s = dirSyncs.get(dir);
  if (!s) return startSync(dir);
  s.next ??= s.running
    // The running fsync's failure is its own callers'; this one makes a new fsync either way.
    .catch(() => {})
    .then(() => {
      s.next = null;
      return startSync(dir);
    });
  return s.next;
}

/**
 * Creates `path` (it must not exist) with `data`, fsynced. On failure nothing is left. Given
 * as parts (a recipient's own header lines and the body every recipient shares), they are
 * written with one vectored write, without joining them into one more copy. `tail` names a
 * file whose bytes follow them (a big message spooled to disk), copied a chunk at a time.
 */
export async function writeNewFile(
  path: string,
  data: Buffer | readonly Buffer[],
  opts: { mode?: number; sync?: boolean; tail?: string } = {},
): Promise<void> {
  const parts = partsOf(data);
  if (!opts.tail && parts.reduce((n, p) => n + p.length, 0) <= QUICK_BYTES) return writeQuick(path, parts, opts);
  const fd = await openFd(path, 'wx', opts.mode ?? 0o600);
  try {
    let rest = parts;
    let at = 0;
    while (rest.length) {
      const written = (await writevFd(fd, rest, at)).bytesWritten;
      at += written;
      rest = unwritten(rest, written);
    }
    if (opts.tail) await copyInto(fd, opts.tail, at);
    if (opts.sync !== false) await fsyncFd(fd);
  } catch (err) {
    // The write's error is the one to report; what closing and removing the part would say adds nothing.
    await closeFd(fd).catch(() => {});
    // The part is unlinked whether or not it closed; its write's error is the one reported.
    await unlinkFile(path).catch(() => {});
    throw err;
  }
  await closeFd(fd);
}

/** A file's bytes as the parts one vectored write takes (empty ones left out). */
function partsOf(data: Buffer | readonly Buffer[]): Buffer[] {
  return Buffer.isBuffer(data) ? [data] : data.filter((p) => p.length > 0);
}

/** What is left of `parts` after a vectored write of `written` bytes (a short write goes on from there). */
function unwritten(parts: Buffer[], written: number): Buffer[] {
  let i = 0;
  while (i < parts.length && written >= parts[i].length) written -= parts[i++].length;
  if (i === parts.length) return [];
  return written > 0 ? [parts[i].subarray(written), ...parts.slice(i + 1)] : parts.slice(i);
}

/** writeNewFile for a small file: the same steps, all but the fsync as quick calls (see the top). */
async function writeQuick(path: string, parts: Buffer[], opts: { mode?: number; sync?: boolean }): Promise<void> {
  const fd = fs.openSync(path, 'wx', opts.mode ?? 0o600);
  try {
    let rest = parts;
    for (let at = 0; rest.length; ) {
      const written = fs.writevSync(fd, rest, at);
      at += written;
      rest = unwritten(rest, written);
    }
    if (opts.sync !== false) await fsyncFd(fd);
  } catch (err) {
    // The write's error is the one to report; what closing and removing the part would say adds nothing.
    for (const undo of [() => fs.closeSync(fd), () => fs.unlinkSync(path)]) {
      try {
        undo();
      } catch {
        // Not closed or not removed: the write's error is still the one reported.
      }
    }
    throw err;
  }
  fs.closeSync(fd);
}

/** Temp names this process made: unique per write, so two writes of one file never share one. */
let temps = 0;
/** `.NAME.PID.N.tmp`: the temp of a write of NAME (rule 1). */
const TEMP = /^\..+\.\d+\.\d+\.tmp$/;

/**
 * Removes from `dir` the temps of writes a kill -9 cut short (rule 1) that are older than
 * `olderThanMs` (a write under way is younger). Returns how many went.
 */
export async function sweepTemps(dir: string, olderThanMs: number, now = Date.now()): Promise<number> {
  let removed = 0;
  const names = await readDir(dir).catch((err: NodeJS.ErrnoException) => {
    // A folder that is gone holds no temps.
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  for (const name of names) {
    if (!TEMP.test(name)) continue;
    const path = join(dir, name);
    // Not there to look at (removed meanwhile): nothing to sweep.
    const st = await lstatPath(path).catch(() => null);
    if (!st?.isFile() || now - st.mtimeMs < olderThanMs) continue;
    // Gone meanwhile (its write finished, or another sweep took it): nothing to remove.
    await unlinkFile(path).then(
      () => removed++,
      () => {},
    );
  }
  return removed;
}

/**
 * Replaces (or creates) `path` with `data`, whole or not at all (rule 1): written to a temp of
 * its own, fsynced, renamed over `path`, the folder fsynced. `sync: false` is for caches: the
 * same rename, no fsync. `syncDir: false` leaves the folder's fsync to the caller (a later
 * write in the same folder, or fsyncDir), for files that are only reached through another.
 */
export async function writeAtomic(
  path: string,
  data: Buffer | readonly Buffer[] | string,
  opts: { mode?: number; sync?: boolean; syncDir?: boolean; tail?: string } = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++temps}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  // A small file to keep: written, fsynced and renamed over `path` in one trip to the thread
  // pool. On the main thread, a create or a rename waits whenever the file system is committing
  // its journal: under 20 senders' fsyncs the forward queue's spool writes held the event loop
  // 1.1 s of the 5 s that 1,000 submissions took (a CPU profile; open and rename on top).
  if (opts.sync !== false && !opts.tail) {
    if (await writeRenamed(tmp, path, partsOf(bytes), { shareFolderSync: true, mode: opts.mode })) {
      if (opts.syncDir !== false) await fsyncDir(dir);
      return;
    }
  }
  await writeNewFile(tmp, bytes, { mode: opts.mode, sync: opts.sync !== false, tail: opts.tail });
  try {
    await renameQuick(tmp, path);
  } catch (err) {
    // The rename's error is the one to report; the temp goes, or a sweep takes it.
    await unlinkFile(tmp).catch(() => {});
    throw err;
  }
  if (opts.sync !== false && opts.syncDir !== false) await fsyncDir(dir);
}

/**
 * Creates `path` with `data` unless it exists, whole and durably (rule 1, with link(2) in place
 * of the rename, which would replace). Returns false when `path` was there already: of several
 * processes making it at once, one wins and the others read what it wrote.
 */
export async function createAtomic(
  path: string,
  data: Buffer | string,
  opts: { mode?: number } = {},
): Promise<boolean> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++temps}.tmp`);
  await writeNewFile(tmp, typeof data === 'string' ? Buffer.from(data) : data, opts);
  let made = true;
  try {
    await linkFile(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    made = false;
  } finally {
    await unlinkFile(tmp);
  }
  await fsyncDir(dir);
  return made;
}

/** writeAtomic for a program that runs alone and waits anyway (`vmail setup`): the same steps, synchronous. */
export function writeAtomicSync(path: string, data: string, opts: { mode?: number } = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++temps}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'wx', opts.mode ?? 0o600);
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (err) {
    // The write's or rename's error is the one to report; the temp goes (or never was).
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes `path`: one already gone is as good as removed; any other failure is thrown. */
export async function unlinkIfThere(path: string): Promise<void> {
  await unlinkFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Renames `from` to `to` and fsyncs the folder(s) the name left and joined (rule 2). */
export async function renameDurable(from: string, to: string): Promise<void> {
  await renameFile(from, to);
  const [a, b] = [dirname(from), dirname(to)];
  await (a === b ? fsyncDir(a) : Promise.all([fsyncDir(a), fsyncDir(b)]));
}

/** `mkdir -p` whose new folders last: the parent of each one made is fsynced (rule 3). */
export async function mkdirDurable(path: string, mode = 0o700): Promise<void> {
  const first = await mkdirPath(path, { recursive: true, mode });
  if (!first) return;
  // From the deepest new folder up to the first one made: each one's parent.
  for (let d = path; ; d = dirname(d)) {
    await fsyncDir(dirname(d));
    if (d === first || dirname(d) === d) break;
  }
}

/** The addon of native/durable (built at install): syncfs(2), and rule 4's steps in one trip. */
interface DurableAddon {
  syncfs(dir: string): Promise<void>;
  writeRename(tmp: string, final: string, parts: Buffer[], mode: number, syncFolder: boolean): Promise<void>;
}

let addon: DurableAddon | null | undefined;

/** The addon, or null when it was not built (no compiler at install): the callers then take each step in JavaScript. */
function durableAddon(): DurableAddon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(join(PACKAGE_ROOT, 'native/durable/build/Release/durable.node'));
  } catch {
    // Not built: every caller takes the steps one by one (rules 4 and 10).
    addon = null;
  }
  return addon ?? null;
}

/** An error number's name (ENOSPC), as Node's own errors give it in `code`. */
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * Rule 4 for a small file in one trip to the thread pool: `tmp` created with `parts` and
 * fsynced, renamed to `final`, and final's folder fsynced unless `shareFolderSync` (the caller
 * then calls fsyncDir, one fsync shared with the writes beside it). True once done. False when
 * it was not done this way and nothing is left: no addon (or VMAIL_NO_WRITE_RENAME=1, the tests
 * of the other way), too big, or a call before the rename failed (a rename that failed has its
 * tmp removed here); the caller then takes the steps one by one, which make a missing folder
 * again and report what fails. Rejects only when the file reached `final` and its folder's fsync
 * failed (it is there, but maybe not after a crash).
 */
export async function writeRenamed(
  tmp: string,
  final: string,
  parts: readonly Buffer[],
  opts: { shareFolderSync: boolean; mode?: number },
): Promise<boolean> {
  const a = process.env.VMAIL_NO_WRITE_RENAME ? null : durableAddon();
  // A path with a NUL byte would end there in C: it goes the way of Node's calls, which refuse it.
  if (!a || parts.length > 16 || parts.reduce((n, p) => n + p.length, 0) > QUICK_BYTES) return false;
  if (tmp.includes('\0') || final.includes('\0')) return false;
  try {
    // A new array the addon holds until it is done: the parts stay alive while the pool reads them.
    await a.writeRename(tmp, final, [...parts], opts.mode ?? 0o600, !opts.shareFolderSync);
    return true;
  } catch (e) {
    const err = e as Error & { errno: number; syscall: string; renamed: boolean };
    if (err.renamed) {
      const code = errnoNames.get(err.errno) ?? 'EIO';
      throw Object.assign(new Error(`${code}: ${err.message}, ${err.syscall} '${dirname(final)}'`), {
        code,
        errno: -err.errno,
        syscall: err.syscall,
        path: dirname(final),
      });
    }
    // The rename failed: tmp is whole, and goes, so the steps one by one start from nothing.
    // Not removed: the steps' own write of tmp fails on it ('wx') and reports that.
    if (err.syscall === 'rename') await unlinkFile(tmp).catch(() => {});
    return false;
  }
}

/**
 * Makes durable everything made so far on the file systems that hold the folders `dirs`: one
 * syncfs(2) per file system (rule 10). False when that could not be done (no addon, or a
 * syncfs failed): the caller then fsyncs what it made, folder by folder.
 */
export async function syncFileSystems(dirs: Iterable<string>): Promise<boolean> {
  // VMAIL_NO_SYNCFS=1 (the tests of the fallback) takes the fsync path, as without the addon.
  const a = process.env.VMAIL_NO_SYNCFS ? null : durableAddon();
  if (!a) return false;
  const byDevice = new Map<number, string>();
  for (const dir of new Set(dirs)) {
    const dev = fs.statSync(dir).dev;
    if (!byDevice.has(dev)) byDevice.set(dev, dir);
  }
  try {
    await Promise.all([...byDevice.values()].map((dir) => a.syncfs(dir)));
    return true;
  } catch {
    // A write-back error syncfs reports may be any file's on that file system: the fsyncs the
    // caller falls back to tell whether its own folders are on disk (and fail if not).
    return false;
  }
}
