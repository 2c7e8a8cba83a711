// Where an account's Maildir lives, and creating, moving (a rename) and archiving one. Every path is built from a
// name and domain that pass the naming rules again here, so no stored or sent value can point
// outside DATA_DIR/mail.

import { mkdir, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { fsyncDir, mkdirDurable, renameDurable } from '../fs/durable.js';
import { isValidDomain, nameProblem } from '../model/names.js';

function mailRoot(dataDir: string): string {
  return join(dataDir, 'mail');
}

/** Each data directory's resolved mail root (a start asks for 100,000 Maildir paths). */
const roots = new Map<string, string>();

export function maildirPath(dataDir: string, domain: string, name: string): string {
  if (!isValidDomain(domain) || nameProblem(name) !== null) {
    throw new Error(`refusing a Maildir path for ${JSON.stringify(name)}@${JSON.stringify(domain)}`);
  }
  const root = roots.get(dataDir) ?? resolve(mailRoot(dataDir));
  roots.set(dataDir, root);
  const dir = resolve(root, domain, name);
  if (!dir.startsWith(root + sep)) throw new Error(`Maildir path escapes ${root}`);
  return dir;
}

/** Makes `dir` a Maildir (what is missing of it), durably: the folders made are fsynced in their parents. */
export async function createMaildir(dir: string): Promise<void> {
  await mkdirDurable(dir);
  let made = false;
  for (const sub of ['tmp', 'new', 'cur'])
    made = (await mkdir(join(dir, sub), { mode: 0o700 }).then(() => true, ignoreExists)) || made;
  if (made) await fsyncDir(dir);
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
  await mkdirDurable(join(dataDir, 'archive', domain));
  await renameDurable(from, to);
  return to;
}

/**
 * Moves an account's Maildir to its new name: one rename(2), so its files (and their names,
 * which are the UIDLs mail clients remember) stay as they are. Done again after a crash, it
 * finds the move made. The new name's Maildir must not exist with mail in it.
 */
export async function moveMaildir(dataDir: string, domain: string, from: string, to: string): Promise<void> {
  const src = maildirPath(dataDir, domain, from);
  const dst = maildirPath(dataDir, domain, to);
  if (!(await exists(src))) {
    if (await exists(dst)) return;
    throw new Error(`${from}@${domain} has no Maildir to move`);
  }
  await renameDurable(src, dst);
}
