// A backup's manifest (DIR/manifest.json): every file the backup holds, by its path inside DIR,
// with its size and SHA-256. `verify` checks a backup against it; restore trusts only a backup
// that verifies, and only paths that stay inside the place restored into (a manifest is input:
// it may have been edited to name `../../etc/passwd`).
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { InputError } from '../model/errors.js';

export const MANIFEST = 'manifest.json';
export const FORMAT = 'vmail-backup 1';
/** The store's copy inside a backup (always a SQLite file, whichever store it came from). */
export const STORE_FILE = 'store.sqlite';
/** Where the settings file goes inside a backup. */
export const SETTINGS_DIR = 'settings';

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  format: string;
  vmail: string;
  schema: number;
  madeAt: string;
  /** Where it was made from: the data dir, the store (without a password), the settings file. */
  source: { dataDir: string; store: string; settingsFile: string | null };
  files: ManifestFile[];
}

/**
 * Is `path` a plain relative path that stays where it is put: `/`-separated names, none empty,
 * `.` or `..`, no NUL or backslash.
 */
export function safePath(path: string): boolean {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096) return false;
  if (path.startsWith('/') || /[\0\\]/.test(path)) return false;
  return path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** `lstat`, or null where there is nothing (or nothing this process may look at). */
export function lstatOrNull(path: string): Promise<Stats | null> {
  // Nothing there to describe: the caller treats it as absent.
  return lstat(path).catch(() => null);
}

/** `stat` (through links), or null where there is nothing. */
export function statOrNull(path: string): Promise<Stats | null> {
  // Nothing there to describe: the caller treats it as absent.
  return stat(path).catch(() => null);
}

/** A file's text, or null where there is none. */
export function textOrNull(path: string): Promise<string | null> {
  // No such file (or unreadable): the caller treats it as absent.
  return readFile(path, 'utf8').catch(() => null);
}

/** A path's real path, or null where it does not resolve. */
export function realOrNull(path: string): Promise<string | null> {
  // Does not resolve (gone, a dangling link): the caller says so.
  return realpath(path).catch(() => null);
}

/** The SHA-256 of a file, read as a stream. */
export function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Reads DIR's manifest; throws an InputError saying what is wrong with it. */
export async function readManifest(dir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST), 'utf8');
  } catch (err) {
    throw new InputError(
      `${dir} is not a vmail backup: ${MANIFEST} ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(err as Error).message})`}`,
    );
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw new InputError(`${join(dir, MANIFEST)} is not JSON: the backup is damaged`);
  }
  if (m?.format !== FORMAT || !Array.isArray(m.files))
    throw new InputError(`${join(dir, MANIFEST)} is not a ${FORMAT} manifest`);
  return m;
}

/** Every path under `root` (files, links, anything not a folder), relative, with `/`. */
async function allPaths(root: string, under = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await allPaths(root, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * What is wrong with the backup in `dir`, one line per file (empty: it is whole). Each file
 * must be a regular file (a link is never followed, nor a folder that is one), inside `dir`,
 * of the size and SHA-256 the manifest says; a file the manifest does not name is wrong too.
 */
export async function checkBackup(
  dir: string,
  progress: (done: number, total: number) => void = () => {},
): Promise<{ manifest: Manifest; problems: string[] }> {
  const manifest = await readManifest(dir);
  const root = await realpath(dir);
  const problems: string[] = [];
  const named = new Set<string>([MANIFEST]);
  let done = 0;
  for (const f of manifest.files) {
    progress(++done, manifest.files.length);
    if (!safePath(f?.path)) {
      problems.push(`${JSON.stringify(f?.path)}: not a path inside the backup (refused)`);
      continue;
    }
    named.add(f.path);
    const full = join(root, f.path);
    const st = await lstatOrNull(full);
    if (!st) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    if (!st.isFile()) {
      problems.push(
        `${f.path}: not a regular file (${st.isSymbolicLink() ? 'a symbolic link, not followed' : 'a folder or device'})`,
      );
      continue;
    }
    // A folder on the way that is a link would lead the read elsewhere.
    const parent = await realpath(dirname(full));
    if (parent !== root && !parent.startsWith(root + sep)) {
      problems.push(`${f.path}: a folder on its path is a link out of the backup (not followed)`);
      continue;
    }
    if (st.size !== f.size) {
      problems.push(
        `${f.path}: ${st.size < f.size ? 'truncated' : 'changed'} (${st.size} bytes, the manifest says ${f.size})`,
      );
      continue;
    }
    if ((await sha256Of(full)) !== f.sha256) problems.push(`${f.path}: changed (its SHA-256 is not the manifest's)`);
  }
  for (const p of await allPaths(root)) if (!named.has(p)) problems.push(`${p}: not in the manifest`);
  return { manifest, problems };
}
