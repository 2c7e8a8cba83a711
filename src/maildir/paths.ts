// Where an account's Maildir lives, and creating, moving (a rename) and archiving one. Every path is built from a
// name and domain that pass the naming rules again here, so no stored or sent value can point
// outside DATA_DIR/mail.

import { mkdir, rename, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { isValidDomain, nameProblem } from '../model/names.js';
import { fsyncDir } from './durable.js';

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

export async function createMaildir(dir: string): Promise<void> {
  await mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
  await mkdir(join(dir, 'new'), { mode: 0o700 }).catch(ignoreExists);
  await mkdir(join(dir, 'cur'), { mode: 0o700 }).catch(ignoreExists);
}

function ignoreExists(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EEXIST') throw err;
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
  await mkdir(join(dataDir, 'archive', domain), { recursive: true, mode: 0o700 });
  await rename(from, to);
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
  await rename(src, dst);
  await fsyncDir(dirname(dst));
}
