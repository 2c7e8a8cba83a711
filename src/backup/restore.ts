// `vmail restore DIR --data-dir D [--store URL]`: a backup back into an empty place, with no
// daemon running there. The backup must verify first (every file whole, every path inside it);
// D must be empty or absent, and a PostgreSQL store empty: anything else is refused before
// anything is written. Files are copied (the backup stays as it was), only to paths inside D,
// never through a link. The store comes back through `store migrate`'s code: every row as it was
// (pending changes with their ids and times, quotas, forwards, password hashes).
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, realpath, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { InputError } from '../model/errors.js';
import { parseStoreLocation, type StoreLocation, withoutPassword } from '../store/location.js';
import { migrateStore } from '../store/migrate.js';
import { fsyncDir, fsyncPath } from '../support/durable.js';
import { liveHolder } from './backup.js';
import { checkBackup, lstatOrNull, realOrNull, SETTINGS_DIR, STORE_FILE, safePath, textOrNull } from './manifest.js';

export interface RestoreResult {
  dataDir: string;
  store: string;
  files: number;
  settings: string | null;
}

/** Refuses a D that a daemon holds, or that is not empty; says whether D was there. */
async function checkPlace(dataDir: string): Promise<boolean> {
  const st = await lstatOrNull(dataDir);
  if (!st) return false;
  const lock = await textOrNull(join(dataDir, 'vmail.lock'));
  const pid = liveHolder(lock);
  if (pid !== null)
    throw new InputError(`a vmail daemon (pid ${pid}) is running on ${dataDir}: stop it first (nothing was changed)`);
  const real = await realOrNull(dataDir);
  if (!real || !(await lstat(real)).isDirectory())
    throw new InputError(`${dataDir} is not a folder (nothing was changed)`);
  const held = await readdir(real);
  if (held.length)
    throw new InputError(
      `${dataDir} is not empty (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', ...' : ''}): restore into an empty place (nothing was changed)`,
    );
  return true;
}

/** Copies one backup file to `rel` under `root`, never through a link on either side. */
async function put(from: string, root: string, rel: string): Promise<void> {
  const to = join(root, rel);
  if (!to.startsWith(root + sep)) throw new InputError(`${rel}: not a path inside ${root} (refused)`);
  await mkdir(dirname(to), { recursive: true, mode: 0o700 });
  // The folders were made here, in a place that was empty: a link on the way would be someone else's.
  const parent = await realpath(dirname(to));
  if (parent !== root && !parent.startsWith(root + sep))
    throw new InputError(`${rel}: a folder on its way leads out of ${root}`);
  const st = await lstat(from);
  if (!st.isFile()) throw new InputError(`${from}: not a regular file (not followed)`);
  await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  await fsyncPath(to);
}

/** Every Maildir restored gets its tmp/, new/ and cur/ (a backup holds files, not empty folders). */
async function completeMaildirs(root: string, rels: string[]): Promise<void> {
  const boxes = new Set<string>();
  for (const rel of rels) {
    const m = /^(mail|archive)\/[^/]+\/[^/]+/.exec(rel);
    if (m) boxes.add(m[0]);
  }
  for (const box of boxes)
    for (const f of ['tmp', 'new', 'cur']) await mkdir(join(root, box, f), { recursive: true, mode: 0o700 });
}

/**
 * Restores the backup `dir` into the data dir `dataDir` and the store `storeUrl` (default: a
 * SQLite file in `dataDir`).
 */
export async function restoreBackup(
  dir: string,
  dataDir: string,
  storeUrl: string | null,
  progress: (line: string) => void,
): Promise<RestoreResult> {
  const place = resolve(dataDir);
  let store: StoreLocation;
  try {
    store = parseStoreLocation(storeUrl, place);
  } catch (err) {
    throw new InputError(`--store: ${(err as Error).message}`);
  }
  const { manifest, problems } = await checkBackup(dir);
  if (problems.length)
    throw new InputError(`${dir} does not verify (nothing was restored): ${problems.slice(0, 5).join('; ')}`);
  const existed = await checkPlace(place);
  if (store.kind === 'sqlite' && (await lstatOrNull(store.path)))
    throw new InputError(`${store.path} exists already: restore into an empty place (nothing was changed)`);
  await mkdir(place, { recursive: true, mode: 0o750 });
  const root = await realpath(place);
  const from = await realpath(dir);
  try {
    progress(`restore: the store into ${store.kind === 'sqlite' ? store.path : withoutPassword(store.url)}`);
    await migrateStore({ kind: 'sqlite', path: join(from, STORE_FILE) }, store);
  } catch (err) {
    // Nothing else was written yet: D goes back to what it was (absent, or empty).
    if (existed) await rm(join(root, '*'), { force: true });
    else
      await rmdir(root).catch(() => {
        // The SQLite store's own files are in it: left, and named by the error below.
      });
    throw err;
  }
  const rels = manifest.files.map((f) => f.path).filter((p) => p !== STORE_FILE && !p.startsWith(`${SETTINGS_DIR}/`));
  let done = 0;
  for (const rel of rels) {
    if (!safePath(rel)) throw new InputError(`${JSON.stringify(rel)}: not a path inside the backup (refused)`);
    await put(join(from, rel), root, rel);
    if (++done % 1000 === 0) progress(`restore: ${done} of ${rels.length} files`);
  }
  await completeMaildirs(root, rels);
  const settings = manifest.files.find((f) => f.path.startsWith(`${SETTINGS_DIR}/`));
  let settingsAt: string | null = null;
  if (settings) {
    settingsAt = `${SETTINGS_DIR}/${settings.path.slice(SETTINGS_DIR.length + 1)}`;
    await put(join(from, settings.path), root, settingsAt);
  }
  await fsyncDir(root);
  return {
    dataDir: root,
    store: store.kind === 'sqlite' ? store.path : withoutPassword(store.url),
    files: rels.length,
    settings: settingsAt ? join(root, settingsAt) : null,
  };
}
