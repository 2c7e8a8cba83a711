// `vmail backup DIR`: a copy of everything a data dir needs, made while the daemon runs.
//
// It works on the files, not through the daemon: the store is read in one snapshot transaction
// (SQLite's WAL lets a reader in another process keep one view while the daemon writes; on
// PostgreSQL a REPEATABLE READ transaction) and copied with `store migrate`'s code into
// DIR/store.sqlite; then the Maildirs are listed. Delivery renames a whole, fsynced file into
// new/ before SMTP answers 250, so every message acknowledged before the backup began is in new/
// or cur/ by then, and a file seen there is whole: a message arriving meanwhile is in the backup
// whole or not at all. Messages are hard-linked (never changed in place; a flag change renames),
// or copied where DIR is on another file system; the other files (UIDL lists, quota files, the
// SRS secret, DKIM keys) are copied. Going through the daemon would add nothing to that, and
// would make the daemon (its user) write wherever a socket client names.
//
// Everything is written to DIR.tmp, then renamed to DIR: a backup cut off half way is never
// taken for a whole one. DIR.tmp names the process writing it; the next backup refuses while
// that process runs, and says what to remove once it is gone.
import { constants, readFileSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, readdir, realpath, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { InputError } from '../model/errors.js';
import type { Config } from '../service/settings.js';
import { type StoreLocation, withoutPassword } from '../store/location.js';
import { migrateStore } from '../store/migrate.js';
import { SCHEMA_VERSION } from '../store/schema.js';
import { fsyncDir, fsyncPath } from '../support/durable.js';
import { VERSION } from '../support/package-root.js';
import {
  FORMAT,
  lstatOrNull,
  MANIFEST,
  type Manifest,
  type ManifestFile,
  realOrNull,
  SETTINGS_DIR,
  STORE_FILE,
  sha256Of,
  statOrNull,
  textOrNull,
} from './manifest.js';

/** The file in DIR.tmp naming the backup writing it: `PID STARTTIME`. */
const OWNER = '.vmail-backup-owner';
/** What of a data dir a backup holds: these names at its top (folders whole, but for Maildirs' tmp/). */
const KEPT = ['mail', 'archive', 'queue', 'dkim', 'acme', 'srs-secret', 'srs-long-hash-since', 'quota-warning.txt'];

/** The kernel's start time of `pid` (field 22 of /proc/PID/stat), or null when it is not running. */
export function startTimeOf(pid: number): string | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    // No such process: nothing runs under that pid.
    return null;
  }
}

/** The running process a `PID STARTTIME` text names, or null (gone, or not such a text). */
export function liveHolder(text: string | null): number | null {
  const m = /^(\d+) (\d+)\n?$/.exec(text ?? '');
  return m && startTimeOf(Number(m[1])) === m[2] ? Number(m[1]) : null;
}

/** Is `inner` `outer` or inside it (both real paths). */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer + sep);
}

/** Checks DIR: not inside the data dir, not a link, not a non-empty folder; returns its absolute path. */
async function checkTarget(dir: string, dataDir: string): Promise<string> {
  const abs = resolve(dir);
  const parent = await realpath(dirname(abs)).catch(() => {
    throw new InputError(`${dirname(abs)} does not exist: make it first`);
  });
  const target = join(parent, basename(abs));
  const data = (await realOrNull(dataDir)) ?? resolve(dataDir);
  if (within(target, data) || within(`${target}.tmp`, data))
    throw new InputError(`${dir} is inside the data dir ${dataDir}: put the backup somewhere else`);
  const st = await lstatOrNull(target);
  if (st?.isSymbolicLink()) throw new InputError(`${dir} is a symbolic link: name a new folder, not a link`);
  if (st && !st.isDirectory()) throw new InputError(`${dir} exists and is not a folder: name a new folder`);
  if (st && (await readdir(target)).length)
    throw new InputError(`${dir} exists and is not empty: name a new folder (nothing was written)`);
  return target;
}

/**
 * Makes DIR.tmp as this process's own, or says who holds it. The folder is made under a name of
 * this process's own with its owner file in it, then renamed: another backup sees DIR.tmp with
 * its owner named, or not at all.
 */
async function claimTemp(tmp: string): Promise<void> {
  const mine = `${tmp}.${process.pid}`;
  await mkdir(mine, { mode: 0o700 });
  try {
    await writeFile(join(mine, OWNER), `${process.pid} ${startTimeOf(process.pid)}\n`, { mode: 0o600 });
    await rename(mine, tmp);
    return;
  } catch (err) {
    await rm(mine, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
  }
  const text = await textOrNull(join(tmp, OWNER));
  const pid = liveHolder(text);
  if (pid !== null) throw new InputError(`another vmail backup (pid ${pid}) is writing ${tmp}: wait for it to end`);
  const who = text ? `pid ${text.split(' ')[0]}, gone now` : 'no process named in it';
  throw new InputError(
    `${tmp} is left from a backup that stopped half way (${who}): remove it (rm -r ${tmp}) and run the backup again`,
  );
}

interface Walk {
  files: ManifestFile[];
  bytes: number;
  linked: number;
  copied: number;
  progress: (line: string) => void;
  lastSaid: number;
}

/** A file into the backup: a hard link for a message, else (or across file systems) a copy. */
async function take(from: string, to: string, message: boolean, w: Walk): Promise<boolean> {
  if (message) {
    try {
      await link(from, to);
      w.linked++;
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Gone since it was listed (a POP3 client deleted it, or it moved to cur/): not in the backup.
      if (code === 'ENOENT') return false;
      // Another file system, or links not allowed there: copied below instead.
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
    }
  }
  try {
    await copyFile(from, to, constants.COPYFILE_FICLONE);
  } catch (err) {
    // Gone since it was listed: not in the backup.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  await fsyncPath(to);
  w.copied++;
  return true;
}

/** Copies `rel` (a file or folder under `root`) into `out`, skipping links and Maildirs' tmp/. */
async function copyTree(root: string, out: string, rel: string, w: Walk): Promise<void> {
  const st = await lstatOrNull(join(root, rel));
  // Not there (no archive yet, no DKIM key), or a link, a socket: not part of a backup.
  if (!st) return;
  if (st.isDirectory()) {
    if (basename(rel) === 'tmp') return;
    await mkdir(join(out, rel), { recursive: true, mode: st.mode & 0o777 });
    for (const name of (await readdir(join(root, rel))).sort()) await copyTree(root, out, `${rel}/${name}`, w);
    return;
  }
  if (!st.isFile()) return;
  const folder = basename(dirname(rel));
  if (!(await take(join(root, rel), join(out, rel), folder === 'new' || folder === 'cur', w))) return;
  const size = (await stat(join(out, rel))).size;
  w.files.push({ path: rel, size, sha256: await sha256Of(join(out, rel)) });
  w.bytes += size;
  if (Date.now() - w.lastSaid > 2000) {
    w.lastSaid = Date.now();
    w.progress(`backup: ${w.files.length} files, ${Math.round(w.bytes / 1048576)} MB so far`);
  }
}

export interface BackupResult {
  dir: string;
  files: number;
  bytes: number;
  linked: number;
  copied: number;
}

/** Makes the backup `dir` of the data dir and store in `config`. */
export async function makeBackup(
  dir: string,
  config: Pick<Config, 'dataDir' | 'store' | 'configFile'>,
  progress: (line: string) => void,
): Promise<BackupResult> {
  const dataDir = resolve(config.dataDir);
  if (config.store.kind === 'sqlite' && !(await statOrNull(config.store.path)))
    throw new InputError(
      `there is no store at ${config.store.path}: is ${dataDir} the data dir? (--data-dir, --store)`,
    );
  const target = await checkTarget(dir, dataDir);
  const tmp = `${target}.tmp`;
  await claimTemp(tmp);
  try {
    return await fill(dir, target, tmp, config, progress);
  } catch (err) {
    // This backup's own half-made copy: removed, so the next one starts clean.
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Writes the backup into `tmp` (this process's own), then renames it to `target`. */
async function fill(
  dir: string,
  target: string,
  tmp: string,
  config: Pick<Config, 'dataDir' | 'store' | 'configFile'>,
  progress: (line: string) => void,
): Promise<BackupResult> {
  const dataDir = resolve(config.dataDir);
  const w: Walk = { files: [], bytes: 0, linked: 0, copied: 0, progress, lastSaid: Date.now() };
  // The store first: its snapshot is the backup's moment; every message listed after it was
  // acknowledged before the backup began, or after.
  const storeCopy: StoreLocation = { kind: 'sqlite', path: join(tmp, STORE_FILE) };
  progress(
    `backup: copying the store ${withoutPassword(config.store.kind === 'sqlite' ? config.store.path : config.store.url)}`,
  );
  await migrateStore(config.store, storeCopy);
  for (const extra of ['-wal', '-shm'])
    await unlink(`${storeCopy.path}${extra}`).catch(() => {
      // Not there: the copy closed cleanly into its one file.
    });
  // The password hashes and keys in it: the owner's alone, as the DKIM keys are (SQLite made it 0644).
  await chmod(storeCopy.path, 0o600);
  await fsyncPath(storeCopy.path);
  const storeSize = (await stat(storeCopy.path)).size;
  w.files.push({ path: STORE_FILE, size: storeSize, sha256: await sha256Of(storeCopy.path) });
  w.bytes += storeSize;
  for (const name of KEPT) await copyTree(dataDir, tmp, name, w);
  if (config.configFile && (await statOrNull(config.configFile))) {
    await mkdir(join(tmp, SETTINGS_DIR), { mode: 0o700 });
    const rel = `${SETTINGS_DIR}/${basename(config.configFile)}`;
    await take(config.configFile, join(tmp, rel), false, w);
    const size = (await stat(join(tmp, rel))).size;
    w.files.push({ path: rel, size, sha256: await sha256Of(join(tmp, rel)) });
  }
  const manifest: Manifest = {
    format: FORMAT,
    vmail: VERSION,
    schema: SCHEMA_VERSION,
    madeAt: new Date().toISOString(),
    source: {
      dataDir,
      store: config.store.kind === 'sqlite' ? config.store.path : withoutPassword(config.store.url),
      settingsFile: config.configFile,
    },
    files: w.files.sort((a, b) => (a.path < b.path ? -1 : 1)),
  };
  await writeFile(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`, { mode: 0o600 });
  await fsyncPath(join(tmp, MANIFEST));
  await unlink(join(tmp, OWNER));
  await fsyncDir(tmp);
  try {
    await rename(tmp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR')
      throw new InputError(`${dir} appeared while the backup was made: the whole backup is in ${tmp}`);
    throw err;
  }
  await fsyncDir(dirname(target));
  return { dir: target, files: w.files.length, bytes: w.bytes, linked: w.linked, copied: w.copied };
}
