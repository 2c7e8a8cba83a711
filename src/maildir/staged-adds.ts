// A queued add's Maildir made ahead of its apply, the way a message is delivered: made under a
// name no account can have, DOMAIN/.add-ID (ID: the change's id; a name never starts with a
// dot), then put in place with one rename(2) in the same folder. Making a Maildir takes four
// mkdirs and a stamp file, the file system's slowest calls (together 50 to 200 us an account
// on the test machines' ext4); the rename takes about 12 us. The work folder is made with quick calls and
// is not durable: a crash loses nothing, since the apply makes what it does not find, and makes
// what it renamed durable with the rest of its chunk (durable.ts rule 10) before the commit.

import { lstatSync, mkdirSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { readdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { archiveDir, domainFolder, isBare, maildirPath, refuseDomainLink, STAMP } from './paths.js';

const PREFIX = '.add-';
/** The ids the apply gives changes (their queue number); anything else is never put in a path. */
const ID = /^[0-9A-Za-z_-]{1,64}$/;

/** DOMAIN/.add-ID, or null for a domain or an id that cannot be in a path. */
function stagedPath(dataDir: string, domain: string, id: string): string | null {
  const folder = domainFolder(dataDir, domain);
  return folder === undefined || !ID.test(id) ? null : folder + PREFIX + id;
}

/**
 * Makes add `id`'s Maildir in DOMAIN/.add-ID: tmp/, new/, cur/, then the stamp naming the
 * change (made last: a stamp there says the folders are). What an earlier run left of it
 * (a crash, another daemon on this folder) is completed; anything there that is no folder is
 * replaced. `checked`: domain folders made and checked already in this run.
 */
export function stageAdd(dataDir: string, domain: string, id: string, checked: Set<string>): void {
  const at = stagedPath(dataDir, domain, id);
  if (at === null) return;
  const parent = dirname(at);
  if (!checked.has(parent)) {
    refuseDomainLink(dataDir, parent);
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    checked.add(parent);
  }
  if (!mkdirNew(at) && !lstatSync(at).isDirectory()) {
    // A file or a link where the folder goes: replaced, never followed.
    unlinkSync(at);
    mkdirSync(at, { mode: 0o700 });
  }
  for (const sub of ['tmp', 'new', 'cur']) mkdirNew(join(at, sub));
  try {
    writeFileSync(join(at, STAMP), `${id}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * Puts add `id`'s staged Maildir in place as NAME's, with one rename; false when there is none
 * ready (never staged, a link or a file in its place, no stamp yet) or NAME's place is taken
 * (a folder holding anything, a link): the caller then makes the Maildir the full way, which
 * clears the place first. An empty folder in NAME's place is replaced: it holds no mail.
 * The rename is not durable here: the caller makes it so with its chunk's (madeDurable).
 */
export function takeStaged(dataDir: string, domain: string, name: string, id: string): boolean {
  const staged = stagedPath(dataDir, domain, id);
  if (staged === null) return false;
  const dir = maildirPath(dataDir, domain, name);
  refuseDomainLink(dataDir, dirname(dir));
  try {
    if (!lstatSync(staged).isDirectory()) return false;
    lstatSync(join(staged, STAMP));
    // Only what stageAdd makes is taken: anything put there since (mail, a link in place of
    // new/ or cur/) leaves it to the full way, and the tidy archives it (vmail takes over no mail).
    if (!madeByStage(staged)) return false;
    renameSync(staged, dir);
    return true;
  } catch (err) {
    if (NOT_READY_OR_TAKEN.has((err as NodeJS.ErrnoException).code ?? '')) return false;
    throw err;
  }
}

/** True when `dir` holds only tmp/, new/ and cur/ (real folders, new/ and cur/ empty) and the stamp (a file). */
function madeByStage(dir: string): boolean {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === STAMP ? !e.isFile() : !['tmp', 'new', 'cur'].includes(e.name) || !e.isDirectory()) return false;
    if ((e.name === 'new' || e.name === 'cur') && readdirSync(join(dir, e.name)).length) return false;
  }
  return true;
}

const NOT_READY_OR_TAKEN = new Set(['ENOENT', 'ENOTDIR', 'EEXIST', 'ENOTEMPTY', 'EISDIR', 'EBUSY']);

/** The ids of the staged adds in DOMAIN's folder (`names`: what the folder holds). */
export function stagedIds(names: readonly string[]): string[] {
  return names
    .filter((n) => n.startsWith(PREFIX) && ID.test(n.slice(PREFIX.length)))
    .map((n) => n.slice(PREFIX.length));
}

/** What DOMAIN's folder holds; nothing when it is not there. */
export async function domainNames(dataDir: string, domain: string): Promise<string[]> {
  const folder = domainFolder(dataDir, domain);
  if (folder === undefined) return [];
  return readdir(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
}

/**
 * Removes add `id`'s staged Maildir, its change gone (applied, cancelled, or queued on a store
 * restored since). One that holds anything more than an add makes goes to the archive as
 * `.add-ID`: vmail deletes no mail, wherever it was put.
 */
export async function dropStaged(dataDir: string, domain: string, id: string): Promise<void> {
  const at = stagedPath(dataDir, domain, id);
  // Mostly gone already (an applied add's was renamed into place): one quick call, no error made.
  const st = at === null ? undefined : lstatSync(at, { throwIfNoEntry: false });
  if (at === null || st === undefined) return;
  if (!st.isDirectory()) return unlink(at);
  // A link in it (in place of new/, say) is never followed nor removed through: archived as it is.
  if (!(await isBare(at)) || !madeByStage(at)) {
    await archiveDir(at, join(dataDir, 'archive', domain, PREFIX + id));
    return;
  }
  await unlink(join(at, STAMP)).catch(ignoreMissing);
  for (const sub of ['tmp', 'new', 'cur']) await rmdir(join(at, sub)).catch(ignoreMissing);
  await rmdir(at);
}

/** mkdir that answers false, not an error, when the name is taken. */
function mkdirNew(path: string): boolean {
  try {
    mkdirSync(path, { mode: 0o700 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
