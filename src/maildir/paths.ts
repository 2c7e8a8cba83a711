// Where an account's Maildir lives, and creating, moving (a rename) and archiving one. Every path is built from a
// name and domain that pass the naming rules again here, so no stored or sent value can point
// outside DATA_DIR/mail.

import { lstatSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { isValidDomain, nameProblem } from '../model/names.js';
import { fsyncDir, mkdirDurable, renameDurable, syncFileSystems, writeAtomic } from '../support/durable.js';

function mailRoot(dataDir: string): string {
  return join(dataDir, 'mail');
}

/** Each data directory's resolved mail root (a start asks for 100,000 Maildir paths). */
const roots = new Map<string, string>();
/** Each checked domain's folder under a mail root, as `ROOT/DOMAIN/` (keyed by `DATA_DIR NUL DOMAIN`). */
const domainDirs = new Map<string, string>();

export function maildirPath(dataDir: string, domain: string, name: string): string {
  const under = domainFolder(dataDir, domain);
  if (under === undefined || nameProblem(name) !== null) {
    throw new Error(`refusing a Maildir path for ${JSON.stringify(name)}@${JSON.stringify(domain)}`);
  }
  // A valid name has no "/" and is neither "." nor "..": joined to its checked domain folder it
  // is what resolve() would make, at a fraction of its cost (a start makes one per account).
  return under + name;
}

/** DOMAIN's folder under the mail root, as `ROOT/DOMAIN/`; undefined for a domain the naming rules refuse. */
export function domainFolder(dataDir: string, domain: string): string | undefined {
  let under = domainDirs.get(`${dataDir}\0${domain}`);
  if (under === undefined && isValidDomain(domain)) {
    const root = roots.get(dataDir) ?? resolve(mailRoot(dataDir));
    roots.set(dataDir, root);
    under = resolve(root, domain) + sep;
    if (!under.startsWith(root + sep)) throw new Error(`Maildir path escapes ${root}`);
    domainDirs.set(`${dataDir}\0${domain}`, under);
  }
  return under;
}

/** Makes `dir` a Maildir (what is missing of it), durably: the folders made are fsynced in their parents. */
export async function createMaildir(dir: string): Promise<void> {
  await mkdirDurable(dir);
  let made = false;
  for (const sub of ['tmp', 'new', 'cur'])
    made = (await mkdir(join(dir, sub), { mode: 0o700 }).then(() => true, ignoreExists)) || made;
  if (made) await fsyncDir(dir);
}

/**
 * Makes `dir` a new account's Maildir, stamped with the change `id` that put it there, durably
 * and with the fewest fsyncs and thread-pool trips (an apply of 10,000 adds makes 10,000):
 * the folders and the stamp made first, then `dir` and the parent of each folder made fsynced
 * together (rule 3: all before the change commits). Thousands of adds at once share their
 * parent's fsync. The stamp is written in place, without a temp or an fsync of its own
 * (durable.ts rule 9): `dir`'s fsync makes its name last; its bytes only matter to a run of
 * this same change after a crash before the commit, and one that a crash left empty or torn
 * names no change, so the Maildir is bare (isBare) and kept for the add all the same.
 */
export async function createStampedMaildir(dir: string, id: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  const parents: string[] = [];
  // From `dir` up to the first folder made: each one's parent (none when `dir` was there).
  for (let d = dir; first; d = dirname(d)) {
    parents.push(dirname(d));
    if (d === first || dirname(d) === d) break;
  }
  await fillStamped(dir, id, parents, first !== undefined);
}

/**
 * Puts tmp/, new/, cur/ and the stamp in `dir`, then fsyncs `dir` and `parents` together. The
 * stamp is made new (O_EXCL: a symlink planted in its place is replaced, never followed); in a
 * folder that was there (`made` false) an old one goes first.
 */
async function fillStamped(dir: string, id: string, parents: string[], made: boolean): Promise<void> {
  await Promise.all(['tmp', 'new', 'cur'].map((sub) => mkdir(join(dir, sub), { mode: 0o700 }).catch(ignoreExists)));
  if (!made) await unlink(join(dir, STAMP)).catch(ignoreMissing);
  await writeFile(join(dir, STAMP), `${id}\n`, { mode: 0o600, flag: 'wx' });
  await Promise.all([dir, ...parents].map((d) => fsyncDir(d)));
}

/**
 * An add's Maildir for NAME@DOMAIN (change `id`), as clearForAdd then createStampedMaildir
 * make it, one stat fewer in the common case: a name with no folder yet (its mkdir succeeds)
 * has nothing to clear. Such a fresh one is made with quick calls (no trip through the thread
 * pool: an apply makes 500 at once) and NOT made durable here: its path goes into `made`, and
 * the caller makes them all durable at once with madeDurable before the adds commit (durable.ts
 * rule 10). A folder there already (or no domain folder yet) takes the full way, durable here.
 */
export async function createForAdd(
  dataDir: string,
  domain: string,
  name: string,
  id: string,
  made: string[],
): Promise<void> {
  const dir = maildirPath(dataDir, domain, name);
  refuseDomainLink(dataDir, dirname(dir));
  let fresh = true;
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    // There already (cleared below), or no domain folder yet (made below): the full way.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fresh = false;
  }
  if (!fresh) {
    await clearForAdd(dataDir, domain, name, id, true);
    return createStampedMaildir(dir, id);
  }
  // Made here, so empty: nothing of these is there yet (the stamp is made new all the same, O_EXCL).
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(dir, sub), { mode: 0o700 });
  writeFileSync(join(dir, STAMP), `${id}\n`, { mode: 0o600, flag: 'wx' });
  made.push(dir);
}

/**
 * Makes the Maildirs createForAdd listed in `made` durable: one syncfs per file system holding
 * them (durable.ts rule 10), or, where that cannot be done, each one and its parent fsynced
 * (rule 3), the parents shared.
 */
export async function madeDurable(made: readonly string[]): Promise<void> {
  if (!made.length || (await syncFileSystems(made.map((d) => dirname(d))))) return;
  await Promise.all([...new Set([...made, ...made.map((d) => dirname(d))])].map((d) => fsyncDir(d)));
}

/**
 * Makes tmp/, new/ and cur/ again in a Maildir whose folders were removed by hand (as Dovecot
 * does), never the Maildir itself: one that is not there was moved or archived by an apply, and
 * mail for it must not start an orphan there that a later account of that name would inherit.
 */
export async function restoreFolders(dir: string): Promise<void> {
  for (const sub of ['tmp', 'new', 'cur'])
    await mkdir(join(dir, sub), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new MaildirGoneError(dir);
      ignoreExists(err);
    });
}

/** A delivery into a Maildir that is not there (moved or archived meanwhile): the sender tries again. */
export class MaildirGoneError extends Error {
  constructor(dir: string) {
    super(`the Maildir ${dir} is not there (moved or archived by an apply): try again`);
  }
}

/** The file in a Maildir naming the change that put it in place (an add, an import, a rename). */
export const STAMP = 'vmail-change';

/** Records, durably, that change `id` put the Maildir `dir` where it is. */
export async function stampMaildir(dir: string, id: string): Promise<void> {
  await writeAtomic(join(dir, STAMP), `${id}\n`);
}

async function stampOf(dir: string): Promise<string | null> {
  return readFile(join(dir, STAMP), 'utf8').then(
    (t) => t.trim(),
    // No stamp (or no folder): not put there by any change vmail recorded.
    () => null,
  );
}

/**
 * A Maildir that is only its three empty folders (what an add makes, before any mail), and
 * maybe a stamp (one a crash left empty, or another change's: it holds no mail either).
 */
export async function isBare(dir: string): Promise<boolean> {
  const names = await readdir(dir);
  if (names.some((n) => !['tmp', 'new', 'cur', STAMP].includes(n))) return false;
  for (const n of names) if (n !== STAMP && (await readdir(join(dir, n))).length) return false;
  return true;
}

/**
 * Clears an account's place for its add (change `id`): a folder there that this change did
 * not put there (left by an account of that name before, or made by hand) goes to the archive
 * as NAME-<id>, so the new account never inherits mail. A bare one is kept for a plain add and
 * removed for an import (which puts its own there). Done again after a crash, it keeps what
 * this change made. A symbolic link there is refused, never followed: a link to a bare Maildir
 * elsewhere would give the new account a folder outside the data directory. So is a domain
 * folder linked to another place in the data directory (refuseDomainLink).
 */
export async function clearForAdd(dataDir: string, domain: string, name: string, id: string, keepBare: boolean) {
  const dir = maildirPath(dataDir, domain, name);
  refuseDomainLink(dataDir, dirname(dir));
  refuseLink(dir);
  if (!(await exists(dir)) || (await stampOf(dir)) === id) return;
  if (await isBare(dir)) {
    if (keepBare) return;
    await unlink(join(dir, STAMP)).catch(ignoreMissing);
    for (const n of ['tmp', 'new', 'cur']) await rmdir(join(dir, n)).catch(ignoreMissing);
    await rmdir(dir);
    return;
  }
  await archiveDir(dir, join(dataDir, 'archive', domain, `${name}-${id}`));
}

/** Throws when `dir`, an add's Maildir, is a symbolic link (see clearForAdd). */
function refuseLink(dir: string): void {
  if (isLink(dir))
    throw new Error(
      `${dir} is a symbolic link: vmail follows none in its mail folder (move it away, then apply again)`,
    );
}

/**
 * Throws when an add's domain folder is a symbolic link into the data directory or the mail
 * root: linked to another domain's folder (vpopmail's alias domains are such links), an add of
 * NAME would archive that domain's NAME (it holds mail) and then share its Maildir; linked to
 * the mail root, an add named like a domain would archive that whole domain. A link elsewhere
 * is a domain's mail on another disk, and stays allowed. One quick call when it is no link.
 */
export function refuseDomainLink(dataDir: string, domainDir: string): void {
  if (!isLink(domainDir)) return;
  let real: string;
  try {
    real = realpathSync(domainDir);
  } catch {
    // Dangling: the mkdir under it fails with its own error (ENOENT), following nothing.
    return;
  }
  for (const base of [dataDir, mailRoot(dataDir)].map((d) => realpathSync(d)))
    if (real === base || real.startsWith(base + sep))
      throw new Error(
        `${domainDir} is a symbolic link into ${base}: vmail shares no Maildir between domains (make it a folder of its own, then apply again)`,
      );
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    // Not there (mostly): the add makes it, or the calls after this one meet what else is wrong.
    return false;
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

/** Moves `from` to `to` in the archive, or to `to`.1, .2 ... when an earlier one has that name. */
export async function archiveDir(from: string, to: string): Promise<string> {
  await mkdirDurable(dirname(to));
  let at = to;
  for (let n = 1; await exists(at); n++) {
    if (n > 1000) throw new Error(`no free archive name for ${to}`);
    at = `${to}.${n}`;
  }
  await renameDurable(from, at);
  return at;
}

/**
 * Moves the messages of `from` into `to` (a name `to` has already stays behind), then the rest
 * of `from` to the archive as `archive`.
 */
async function mergeInto(from: string, to: string, archive: string): Promise<void> {
  for (const folder of ['new', 'cur']) {
    const have = new Set(await namesIn(join(to, folder)));
    const names = await namesIn(join(from, folder));
    for (const f of names) if (!have.has(f)) await rename(join(from, folder, f), join(to, folder, f));
    if (names.length) {
      await fsyncDir(join(to, folder));
      await fsyncDir(join(from, folder));
    }
  }
  await archiveDir(from, archive);
}

/** The names in folder `dir`, none when it is not there; any other failure is thrown (a message would be left behind). */
async function namesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
    return [];
  });
}

function ignoreExists(err: NodeJS.ErrnoException): false {
  if (err.code !== 'EEXIST') throw err;
  return false;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Moves a removed account's Maildir to DATA_DIR/archive/DOMAIN/NAME-<change id>. Idempotent: a
 * second call for the same change (after a crash) finds the Maildir already gone and does nothing.
 * Returns the archive path, or null when there was nothing to move.
 */
export async function archiveMaildir(
  dataDir: string,
  domain: string,
  name: string,
  changeId: string,
): Promise<string | null> {
  const from = maildirPath(dataDir, domain, name);
  const to = join(dataDir, 'archive', domain, `${name}-${changeId}`);
  if (!(await exists(from))) return (await exists(to)) ? to : null;
  // One there already (an older vmail recreated the Maildir after a crash): this one goes beside it.
  return archiveDir(from, to);
}

/**
 * Moves an account's Maildir to its new name for rename `id`: one rename(2), so its files (and
 * their names, which are the UIDLs mail clients remember) stay as they are; the Maildir is
 * stamped with `id` first. Done again after a crash, it finds the move made. Both there: if the
 * new one bears `id`, the old one was made again after the move (an older vmail's delivery) and
 * holds the same account's mail: its messages join the moved Maildir, its rest goes to the
 * archive. If not, the new name's folder belongs to no account: it goes to the archive first.
 */
export async function moveMaildir(dataDir: string, domain: string, from: string, to: string, id: string) {
  const src = maildirPath(dataDir, domain, from);
  const dst = maildirPath(dataDir, domain, to);
  if (!(await exists(src))) {
    if (await exists(dst)) return;
    throw new Error(`${from}@${domain} has no Maildir to move`);
  }
  const archive = join(dataDir, 'archive', domain);
  if (await exists(dst)) {
    if ((await stampOf(dst)) === id) return mergeInto(src, dst, join(archive, `${from}-${id}`));
    await archiveDir(dst, join(archive, `${to}-${id}`));
  }
  await stampMaildir(src, id);
  await renameDurable(src, dst);
}
