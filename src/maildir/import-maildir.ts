// A Maildir brought from another server (an import's account add, at its apply): its messages
// copied (or moved, in one rename when it is on the same file system) into the account's
// place, with the POP3 UIDLs the old server served kept in `vmail-uidls`. Safe to run again
// after a crash: the work happens in a folder of its own next to the target, which takes the
// target's name in one rename at the end; a target already there means it was done.
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncDir, fsyncPath, mkdirDurable, renameDurable } from '../fs/durable.js';
import { dovecotUidls, parseUidlist } from './dovecot-uidlist.js';
import { uidOf } from './maildir.js';
import { createMaildir, stampMaildir } from './paths.js';
import { isUidl, saveUidls } from './uidl-map.js';

/** Files copied at once. */
const PARALLEL = 32;

export interface MaildirSource {
  maildir: string;
  move: boolean;
  /** Where the old UIDLs come from: a dovecot-uidlist (with Dovecot's pop3_uidl_format), or the file names. */
  uidls: 'dovecot' | 'names';
  uidlFormat: string;
}

/** What a source Maildir holds, for an import's check and report. */
export async function inspectMaildir(dir: string): Promise<{ messages: number; uidlist: boolean }> {
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new Error(`${dir} does not exist`);
    if (err.code === 'EACCES') throw new Error(`the daemon may not read ${dir}: give its user read access`);
    throw err;
  });
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
  const [fresh, seen] = await Promise.all([
    readdir(join(dir, 'new')).catch(() => null),
    readdir(join(dir, 'cur')).catch(() => null),
  ]);
  if (!fresh && !seen) throw new Error(`${dir} is not a Maildir: it has no new/ or cur/`);
  const messages = [...(fresh ?? []), ...(seen ?? [])].filter((f) => !f.startsWith('.')).length;
  const uidlist = await stat(join(dir, 'dovecot-uidlist')).then(
    () => true,
    () => false,
  );
  return { messages, uidlist };
}

/** Brings `source` to `target`; returns how many messages it holds and how they came. */
export async function importMaildir(
  source: MaildirSource,
  target: string,
  id: string,
): Promise<{ messages: number; how: 'copied' | 'moved' | 'there already' }> {
  if (await exists(target)) return { messages: await count(target), how: 'there already' };
  const work = join(dirname(target), `.import-${id}`);
  await mkdirDurable(dirname(target), 0o750);
  let how: 'copied' | 'moved' = 'copied';
  if (source.move && (await exists(work)) && !(await exists(source.maildir))) {
    // A move a crash cut short after its rename: the work folder is the mail itself.
    how = 'moved';
  } else {
    // A copy cut short is begun again (its source is still there).
    await rm(work, { recursive: true, force: true });
    if (source.move) {
      try {
        await renameDurable(source.maildir, work);
        how = 'moved';
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      }
    }
    if (how === 'copied') await copyMessages(source.maildir, work);
  }
  await createMaildir(work);
  // The UIDLs come from the old server's list as it was (a move took it along).
  const from = how === 'moved' ? work : source.maildir;
  const files = await listNames(work);
  if (source.uidls === 'names') {
    // qmail-pop3d's UIDL: the file name up to the colon (vmail's own stops at a comma too).
    const map = new Map<string, string>();
    for (const f of files) {
      const name = f.split(':', 1)[0];
      if (isUidl(name) && name !== uidOf(f)) map.set(uidOf(f), name);
    }
    if (map.size) await saveUidls(work, map);
  } else {
    const text = await readFile(join(from, 'dovecot-uidlist'), 'utf8').catch(() => null);
    if (text !== null) await saveUidls(work, dovecotUidls(parseUidlist(text), files, source.uidlFormat, uidOf));
  }
  // Stamped with the change: a run after a crash knows the target as this import's own.
  await stampMaildir(work, id);
  await renameDurable(work, target);
  return { messages: await count(target), how };
}

/** Work folders in a domain's mail folder left by imports whose change ids are not in `pending`. */
export async function leftoverImports(domainDir: string, pending: ReadonlySet<string>): Promise<string[]> {
  const names = await readdir(domainDir).catch(() => [] as string[]);
  return names
    .filter((n) => n.startsWith('.import-') && !pending.has(n.slice('.import-'.length)))
    .map((n) => join(domainDir, n));
}

/** Copies new/ and cur/ (and nothing of the old server's own: indexes, tmp/) with each file synced. */
async function copyMessages(from: string, to: string): Promise<void> {
  for (const folder of ['new', 'cur']) {
    await mkdir(join(to, folder), { recursive: true, mode: 0o700 });
    const names = (await readdir(join(from, folder)).catch(() => [] as string[])).filter((f) => !f.startsWith('.'));
    for (let i = 0; i < names.length; i += PARALLEL) {
      await Promise.all(
        names.slice(i, i + PARALLEL).map(async (name) => {
          const dst = join(to, folder, name);
          await copyFile(join(from, folder, name), dst, constants.COPYFILE_FICLONE);
          await fsyncPath(dst);
        }),
      );
    }
    await fsyncDir(join(to, folder));
  }
}

/** The message file names, in the order vmail lists them (by delivery time, then name). */
async function listNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const folder of ['cur', 'new'])
    for (const f of await readdir(join(dir, folder)).catch(() => [] as string[])) if (!f.startsWith('.')) names.push(f);
  const time = (f: string) => Number(/^(\d+)\./.exec(f)?.[1] ?? Number.MAX_SAFE_INTEGER);
  return names.sort((a, b) => time(a) - time(b) || (a < b ? -1 : a > b ? 1 : 0));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function count(dir: string): Promise<number> {
  return (await listNames(dir)).length;
}
