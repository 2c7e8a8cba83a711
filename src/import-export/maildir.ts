// A Maildir brought from another server (an import's account add, at its apply): its messages
// copied (or moved, in one rename when it is on the same file system) into the account's
// place, with the POP3 UIDLs the old server served kept in `vmail-uidls`. Safe to run again
// after a crash: the work happens in a folder of its own next to the target, which takes the
// target's name in one rename at the end; a target already there means it was done.
//
// What a source may be: a real folder (not a symbolic link, and not reached through one), not
// inside the daemon's own data (its data dir, mail root, store file), whose new/, cur/ and tmp/
// are real folders of plain files, with no link beside them. Checked when the import is asked
// for and again at its apply; message files are opened with O_NOFOLLOW and their real path
// checked, so a link swapped in between is never followed. A moved tree is made the daemon's
// (owner, group, 0700/0600: its old user can add nothing), then checked again and any link in
// it removed (a link is not mail: what it points to stays put).
//
// What is never lost: a work folder may hold the only copy of moved mail, so a retry never
// removes it; mail the source has again (an old server still delivering) is merged into it. A
// copy that runs out of space removes the files it copied, never the source or moved mail.
import { constants, type Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, rmdir, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { dovecotUidls, parseUidlist } from '../maildir/dovecot-uidlist.js';
import { uidOf } from '../maildir/maildir.js';
import { createMaildir, stampMaildir } from '../maildir/paths.js';
import { isUidl, saveUidls } from '../maildir/uidl-map.js';
import { fsyncDir, mkdirDurable, renameDurable } from '../support/durable.js';

/** Files copied at once. */
const PARALLEL = 32;
/** The most of a dovecot-uidlist read (Dovecot's for a million messages is about 60 MB). */
const MAX_UIDLIST = 256 * 1024 * 1024;
const FOLDERS = ['new', 'cur', 'tmp'] as const;

export interface MaildirSource {
  maildir: string;
  move: boolean;
  /** Where the old UIDLs come from: a dovecot-uidlist (with Dovecot's pop3_uidl_format), or the file names. */
  uidls: 'dovecot' | 'names';
  uidlFormat: string;
}

/** The daemon's own paths an import may take nothing from: its data dir, mail root, store file. */
export type DaemonPaths = readonly string[];

/**
 * The files of the daemon's own (device:inode) that a hard link in a source must not reach: the
 * files of its data dir outside the Maildirs and the archive (secrets, keys, the store, the queue),
 * and the store file. Gathered only when a source file has more than one name, once per import
 * (imports apply one at a time): most imports never walk the data dir.
 */
let ownPaths: DaemonPaths = [];
let ownFiles: Promise<Set<string>> | null = null;

function ownFileSet(): Promise<Set<string>> {
  ownFiles ??= (async () => {
    const found = new Set<string>();
    const walk = async (path: string, depth: number): Promise<void> => {
      const st = await lstat(path).catch(() => null); // gone meanwhile: nothing of ours there
      if (!st) return;
      if (st.isFile()) found.add(`${st.dev}:${st.ino}`);
      if (!st.isDirectory() || depth > 4) return;
      for (const name of await readdir(path).catch(() => [] as string[])) // unreadable: nothing to add
        if (depth > 0 || (name !== 'mail' && name !== 'archive')) await walk(join(path, name), depth + 1);
    };
    for (const own of ownPaths) if (isAbsolute(own)) await walk(own, 0);
    return found;
  })();
  return ownFiles;
}

async function realOrResolved(path: string): Promise<string> {
  // A path of the daemon's not made yet (the store file before its first start) has no real
  // path: the source is compared with it as written, which is all there is to be inside of.
  return realpath(path).catch(() => resolve(path));
}

/**
 * Under systemd (which sets INVOCATION_ID), the unit `vmail setup` writes hides home folders
 * (ProtectHome=true): a source there looks missing, or read-only with ProtectHome=read-only.
 * The unit setting to change, for a path there; '' elsewhere.
 */
function unitHint(path: string, what: 'read' | 'move'): string {
  if (!process.env.INVOCATION_ID || !/^\/(home|root|run\/user)(\/|$)/.test(path)) return '';
  return what === 'read'
    ? ' (the vmail unit hides /home, /root and /run/user: systemctl edit vmail, and set ProtectHome=read-only)'
    : ` (the vmail unit keeps home folders read-only: systemctl edit vmail, and add ReadWritePaths=${dirname(path)})`;
}

const inside = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Checks `dir` as an import's source (see the top of this file); returns what it holds. Every
 * refusal is one line naming the path.
 */
export async function inspectMaildir(
  dir: string,
  daemonPaths: DaemonPaths,
): Promise<{ messages: number; uidlist: boolean }> {
  const path = resolve(dir);
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new Error(`${dir} does not exist${unitHint(path, 'read')}`);
    if (err.code === 'EACCES')
      throw new Error(`the daemon may not read ${dir}: give its user read access${unitHint(path, 'read')}`);
    throw err;
  });
  if (st.isSymbolicLink()) throw new Error(`${dir} is a symbolic link: vmail imports no links`);
  if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
  const real = await realpath(path);
  if (real !== path)
    throw new Error(`${dir} is reached through a symbolic link (its real path is ${real}): vmail imports no links`);
  for (const own of daemonPaths) {
    if (!isAbsolute(own)) continue;
    const ownReal = await realOrResolved(own);
    if (inside(real, ownReal) || inside(ownReal, real))
      throw new Error(`${dir} is the daemon's own data (${ownReal}): an import takes mail from another server only`);
  }
  const top = await readdir(path, { withFileTypes: true });
  const link = top.find((e) => e.isSymbolicLink());
  if (link) throw new Error(`${join(path, link.name)} is a symbolic link: vmail imports no links`);
  const folders = new Set(top.filter((e) => e.isDirectory()).map((e) => e.name));
  if (!folders.has('new') && !folders.has('cur')) throw new Error(`${dir} is not a Maildir: it has no new/ or cur/`);
  for (const name of ['new', 'cur', 'tmp']) {
    const e = top.find((x) => x.name === name);
    if (e && !e.isDirectory()) throw new Error(`${join(path, name)} is not a folder`);
  }
  let messages = 0;
  for (const folder of FOLDERS) {
    if (!folders.has(folder)) continue;
    for (const e of await readdir(join(path, folder), { withFileTypes: true })) {
      const what = stray(e);
      if (what) throw new Error(`${join(path, folder, e.name)} is ${what}: vmail imports plain message files only`);
      if (folder !== 'tmp' && !e.name.startsWith('.')) messages++;
    }
  }
  const uidlist = top.some((e) => e.name === 'dovecot-uidlist' && e.isFile());
  return { messages, uidlist };
}

/** What an entry of new/, cur/ or tmp/ is when it is no plain file: a link, a folder, a device... */
function stray(e: Dirent): string | null {
  if (e.isFile()) return null;
  if (e.isSymbolicLink()) return 'a symbolic link';
  if (e.isDirectory()) return 'a folder';
  return 'not a plain file';
}

/** Brings `source` to `target`; returns how many messages it holds and how they came. */
export async function importMaildir(
  source: MaildirSource,
  target: string,
  id: string,
  daemonPaths: DaemonPaths,
): Promise<{ messages: number; how: 'copied' | 'moved' | 'there already' }> {
  if (await lexists(target)) return { messages: await count(target), how: 'there already' };
  const work = join(dirname(target), `.import-${id}`);
  await mkdirDurable(dirname(target), 0o750);
  const src = resolve(source.maildir);
  const sourceThere = await lexists(src);
  // Checked again here: the tree may have changed since the import was asked for.
  if (sourceThere) await inspectMaildir(src, daemonPaths);
  ownPaths = daemonPaths;
  ownFiles = null;
  let how: 'copied' | 'moved' = 'copied';
  if (await lexists(work)) {
    // A try cut short (a crash, a failure): what the work folder holds may be the only copy of
    // moved mail. It stays; whatever the source has again is merged into it.
    if (source.move) how = 'moved';
    // A work folder a move left may still be the old owner's: it is ours before mail goes in.
    if (source.move) await ownTree(work);
    if (sourceThere) await merge(src, work, source.move, target);
  } else if (sourceThere) {
    let moved = false;
    if (source.move) {
      try {
        await renameDurable(src, work);
        moved = true;
        how = 'moved';
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code === 'EROFS' || code === 'EACCES') && unitHint(src, 'move'))
          throw new Error(`the daemon may not move ${src}: ${code}${unitHint(src, 'move')}`);
        // Another file system: copied instead, and the source left as it is.
        if (code !== 'EXDEV') throw err;
      }
    }
    if (!moved) {
      await mkdir(work, { mode: 0o700 });
      await merge(src, work, false, target);
    }
  } else throw new Error(`${source.maildir} does not exist any more`);
  // What was moved is checked again now that it is ours: it may have changed since the check.
  await ownTree(work);
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
    // The old server's list as it was: the one a move took along, else the source's.
    const text =
      (await readPlainFile(join(work, 'dovecot-uidlist'), MAX_UIDLIST, false)) ??
      (sourceThere ? await readPlainFile(join(src, 'dovecot-uidlist'), MAX_UIDLIST, true) : null);
    if (text !== null)
      await saveUidls(work, dovecotUidls(parseUidlist(text.toString('utf8')), files, source.uidlFormat, uidOf));
  }
  // Stamped with the change: a run after a crash knows the target as this import's own.
  await stampMaildir(work, id);
  await renameDurable(work, target);
  return { messages: await count(target), how };
}

/**
 * A moved tree, now in the data dir: the checks of `inspectMaildir` again (the source may have
 * been changed between the check and the rename), fixing rather than refusing. First every
 * folder and file is made the daemon's (see takeOwnership), so its old owner can add no link
 * after the links are removed. A link is not mail: it is removed, and what it pointed to stays.
 */
async function ownTree(work: string): Promise<void> {
  const st = await lstat(work);
  if (st.isSymbolicLink()) {
    await unlink(work);
    throw new Error(`the source was replaced by a symbolic link before its move: vmail imports no links`);
  }
  const links = await takeOwnership(work);
  for (const link of links) await unlink(link);
  for (const e of await readdir(work, { withFileTypes: true }))
    if (e.isSymbolicLink() || ((FOLDERS as readonly string[]).includes(e.name) && !e.isDirectory()))
      await unlink(join(work, e.name));
  await createMaildir(work);
  for (const folder of FOLDERS)
    for (const e of await readdir(join(work, folder), { withFileTypes: true }))
      if (!e.isFile() && !e.isDirectory()) await unlink(join(work, folder, e.name));
}

/** The most folders a moved tree may hold (a Maildir++ tree has a few per mail folder). */
const MAX_FOLDERS = 100_000;

/**
 * Makes every folder (0700) and file (0600) of the moved tree at `root` the daemon's user's and
 * group's, taking it from the old server's user, who could otherwise still make links in it (a
 * process of theirs holding a handle). Top down, each folder through a handle opened without
 * following a link: once a folder is ours and 0700 nothing can be added to it, so its entries
 * read after that are all it will hold. Links are not followed and not changed: returned, for
 * the caller to remove once the whole tree is ours. Removes nothing itself: a daemon that may
 * not take an entry (not root, EPERM) fails with one line naming it, and the tree stays.
 */
async function takeOwnership(root: string): Promise<string[]> {
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const links: string[] = [];
  const folders = [root];
  for (let seen = 0; folders.length; seen++) {
    if (seen >= MAX_FOLDERS) throw new Error(`${root} holds over ${MAX_FOLDERS} folders: not imported`);
    const dir = folders.pop()!;
    await ownEntry(dir, constants.O_DIRECTORY, 0o700, uid, gid);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isSymbolicLink()) links.push(path);
      else if (e.isDirectory()) folders.push(path);
      else if (e.isFile()) await ownEntry(path, constants.O_NONBLOCK, 0o600, uid, gid);
      // Anything else (a FIFO, a device) is removed by ownTree's checks or left out of mail.
    }
  }
  return links;
}

/** One folder or file made the daemon's, through a handle that followed no link. */
async function ownEntry(path: string, flags: number, mode: number, uid: number, gid: number): Promise<void> {
  const refused = (err: NodeJS.ErrnoException, owner: string) => {
    if (err.code !== 'EPERM' && err.code !== 'EACCES') throw err;
    throw new Error(
      `the daemon may not take ${path} from ${owner}: run it as root, or chown the Maildir to its user first`,
    );
  };
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | flags).catch((err) =>
    refused(err, 'its owner'),
  );
  try {
    const st = await fh.stat();
    if (uid >= 0 && (st.uid !== uid || st.gid !== gid))
      await fh.chown(uid, gid).catch((err) => refused(err, `uid ${st.uid}`));
    if ((st.mode & 0o7777) !== mode) await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

/**
 * Brings into `to` each message of `from` that `to` does not hold yet (by its name up to the
 * colon: the old server may have moved it from new/ to cur/ meanwhile): moved by rename when
 * `move` and on one file system, else copied through to/tmp and synced before it takes its
 * name, so a message in new/ or cur/ is always whole. A copy that runs out of space removes
 * what it copied (never anything moved, never the source) and says so.
 */
async function merge(from: string, to: string, move: boolean, target: string): Promise<void> {
  await createMaildir(to);
  const have = new Set((await listNames(to)).map((f) => f.split(':', 1)[0]));
  const copied: string[] = [];
  let moving = move;
  try {
    for (const folder of ['new', 'cur'] as const) {
      const entries = await readdir(join(from, folder), { withFileTypes: true }).catch(
        // A Maildir may lack one of new/ and cur/ (inspectMaildir wants one of them).
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return [] as Dirent[];
          throw err;
        },
      );
      const names = entries
        .filter((e) => e.isFile() && !e.name.startsWith('.') && !have.has(e.name.split(':', 1)[0]))
        .map((e) => e.name);
      for (let i = 0; i < names.length; i += PARALLEL) {
        // Each settled before a failure is acted on: a copy still running would land after the cleanup.
        const settled = await Promise.allSettled(
          names.slice(i, i + PARALLEL).map(async (name) => {
            const dst = join(to, folder, name);
            if (moving) {
              try {
                await rename(join(from, folder, name), dst);
                return;
              } catch (err) {
                if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
                moving = false;
              }
            }
            await copyPlainFile(join(from, folder, name), join(to, 'tmp', `import.${name}`), dst);
            copied.push(dst);
          }),
        );
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      }
      await fsyncDir(join(to, folder));
      if (move) await fsyncDir(join(from, folder));
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
    // Out of space: the copies go again (moved mail and the source stay as they are).
    for (const f of copied) await unlink(f).catch(() => {}); // a copy not there is not taking space
    // A tmp/ that cannot be read keeps its half copies: tmp/ is never listed as mail.
    for (const f of await readdir(join(to, 'tmp')).catch(() => [] as string[]))
      if (f.startsWith('import.')) await unlink(join(to, 'tmp', f)).catch(() => {}); // not there: no space taken
    // Empty folders only: rmdir never removes a message.
    for (const d of [...FOLDERS.map((f) => join(to, f)), to]) await rmdir(d).catch(() => {}); // kept when not empty
    throw new Error(
      `no space left to import ${from} into ${target} (${code}): the ${copied.length} message(s) copied so far were removed again, the source is untouched; free space and apply again`,
    );
  }
}

/**
 * Opens `path` as a plain file without following a link: O_NOFOLLOW for the file itself, and
 * for a source's file (`strict`: its path was checked to hold no link) the path the kernel
 * opened compared with the one asked for (a folder above it swapped for a link after the
 * check). O_NONBLOCK: a FIFO put there never hangs the open. A file with more than one name
 * that is one of the daemon's own files (ownFileSet: a hard link to its SRS secret, its store) is
 * refused as a link is; other hard links are mail (Dovecot copies between folders by linking).
 */
async function openPlain(path: string, strict: boolean) {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ELOOP') throw new Error(`${path} is a symbolic link: vmail imports no links`);
      throw err;
    },
  );
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${path} is not a plain file`);
    if (st.nlink > 1 && (await ownFileSet()).has(`${st.dev}:${st.ino}`))
      throw new Error(
        `${path} has ${st.nlink} hard links, one of them a file of the daemon's own: vmail imports no links`,
      );
    const opened = strict ? await readlink(`/proc/self/fd/${fh.fd}`).catch(() => path) : path; // no /proc: O_NOFOLLOW alone
    if (opened !== path) throw new Error(`${path} is reached through a symbolic link (to ${opened})`);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** A plain file's bytes (null when there is none), refused past `max` bytes. */
async function readPlainFile(path: string, max: number, strict: boolean): Promise<Buffer | null> {
  const fh = await openPlain(path, strict).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!fh) return null;
  try {
    if ((await fh.stat()).size > max) throw new Error(`${path} is over ${max / 1048576} MB`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** Copies a plain message file to `tmp`, synced, then renames it to `dst`. */
async function copyPlainFile(src: string, tmp: string, dst: string): Promise<void> {
  const input = await openPlain(src, true);
  try {
    const output = await open(tmp, 'w', 0o600);
    try {
      const buf = Buffer.allocUnsafe(256 * 1024);
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, buf.length, null);
        if (!bytesRead) break;
        // A write may take less than it was given (a disk filling up): the rest goes again,
        // until it fails with ENOSPC, so a message is never short.
        for (let at = 0; at < bytesRead; ) at += (await output.write(buf, at, bytesRead - at)).bytesWritten;
      }
      await output.sync();
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
  await rename(tmp, dst);
}

/** The work folders of imports whose change ids are not in `pending`, among a domain folder's `names`. */
export function leftoverImports(names: readonly string[], pending: ReadonlySet<string>): string[] {
  return names.filter((n) => n.startsWith('.import-') && !pending.has(n.slice('.import-'.length)));
}

/** The message file names, in the order vmail lists them (by delivery time, then name). */
async function listNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const folder of ['cur', 'new'])
    for (const f of await namesIn(join(dir, folder))) if (!f.startsWith('.')) names.push(f);
  const time = (f: string) => Number(/^(\d+)\./.exec(f)?.[1] ?? Number.MAX_SAFE_INTEGER);
  return names.sort((a, b) => time(a) - time(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The names in a folder; none when it does not exist (a domain with no mail folder yet, a
 * Maildir without new/). Any other failure is thrown: read as empty, it would hide the mail in it.
 */
async function namesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
}

/** Whether anything (a link included, not followed) is at `path`. */
async function lexists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
}

async function count(dir: string): Promise<number> {
  return (await listNames(dir)).length;
}
