// Running without root. Started as root with a user to become (--user, or `user` in the
// config file), the daemon binds its ports first, hands the folders it writes to that user,
// and then becomes it (its group and supplementary groups too): from then on a flaw in the
// daemon reaches that user's files, not the system's.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  fchownSync,
  fstatSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { type Config, ConfigError, SERVICE_SOCKET } from '../service/settings.js';
import type { Logger } from '../support/log.js';

interface Account {
  uid: number;
  gid: number;
}

/** The user's ids, as the system's name service knows them (files, LDAP, ...). */
function lookUp(user: string): Account {
  try {
    const id = (flag: string) =>
      Number(execFileSync('id', [flag, '--', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new ConfigError(`user ${JSON.stringify(user)} does not exist: create it (vmail setup does) or change --user`);
  }
}

/**
 * What vmail keeps in its data dir (the store, mail, archive, queue, DKIM keys, the SRS secret,
 * saved sizes, the control socket, the temps of its writes): only these, and what is under
 * them, are handed over; anything else a reused data dir holds stays as it is.
 */
const OWN =
  /^(?:mail|archive|queue|dkim|srs-secret|vmail\.sqlite(?:-wal|-shm|-journal)?|mailbox-index(?:\..+)?|control\.sock|daemon\.log|\..+\.\d+\.\d+\.tmp)$/;

/**
 * Gives `dir` (and, if it was not already that user's, vmail's own files in it) to the user.
 * `own`: which names directly in `dir` are vmail's (all of them in a folder of its own, such as
 * the socket's). Nothing is followed: a symbolic link is left as it is (its target too), a
 * folder is read through a descriptor opened with O_NOFOLLOW (one swapped for a link meanwhile
 * is not entered), a file is changed through a descriptor (one swapped meanwhile is not), and a
 * file with more than one name (a hard link may be a file from outside) is left, with a warning.
 */
function handOver(dir: string, a: Account, log: Logger, own: RegExp | null): void {
  // Folders made above it are traversable, as /var/lib is (the daemon's umask would not let
  // them be); the folder itself is the user's.
  const umask = process.umask(0o022);
  try {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  } finally {
    process.umask(umask);
  }
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  // The folder as named (a data dir that is a link the admin made is followed, once).
  const top = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const st = fstatSync(top);
    if (st.uid === a.uid && st.gid === a.gid) return;
    fchownSync(top, a.uid, a.gid);
    const here = `/proc/self/fd/${top}`;
    for (const name of readdirSync(here)) if (!own || own.test(name)) walk(here, name, a, log, dir);
  } finally {
    closeSync(top);
  }
}

/** Hands over `name` in the folder open at `parent` (a /proc/self/fd path), and what is under it. */
function walk(parent: string, name: string, a: Account, log: Logger, shown: string): void {
  const path = join(parent, name);
  const s = lstatSync(path);
  if (s.isSymbolicLink()) return;
  if (!s.isDirectory() && !s.isFile()) {
    // The control socket of a run before: lchown changes the entry itself, never a target.
    lchownSync(path, a.uid, a.gid);
    return;
  }
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  let fd: number;
  try {
    fd = openSync(path, s.isDirectory() ? flags | constants.O_DIRECTORY : flags);
  } catch (err) {
    // Swapped for a link (ELOOP), or gone, since the lstat: not ours to follow.
    if ((err as NodeJS.ErrnoException).code === 'ELOOP' || (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.nlink > 1) {
      log.warning('file not handed over', { path: join(shown, name), why: 'it has other names (a hard link)' });
      return;
    }
    fchownSync(fd, a.uid, a.gid);
    if (st.isDirectory()) {
      const here = `/proc/self/fd/${fd}`;
      for (const n of readdirSync(here)) walk(here, n, a, log, join(shown, name));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Becomes `user` when running as root, after handing it `dirs`: the data dir first (vmail's own
 * files in it), then the control socket's folder of its own (all of it). Without a user to
 * become, a daemon running as root says so once.
 */
function becomeUser(user: string | null, dirs: string[], log: Logger): void {
  const root = process.getuid?.() === 0;
  if (!user) {
    if (root)
      log.notice('daemon running as root', {
        hint: 'run it as its own user: --user vmail, or user = "vmail" in the config (vmail setup makes both)',
      });
    return;
  }
  const a = lookUp(user);
  if (!root) {
    if (process.getuid?.() !== a.uid)
      throw new ConfigError(
        `--user ${user}: only root can become another user; start the daemon as root or as ${user}`,
      );
    return;
  }
  for (const [i, dir] of dirs.entries()) handOver(dir, a, log, i === 0 ? OWN : null);
  // Node has initgroups on POSIX systems; its type definitions leave it out.
  (process as NodeJS.Process & { initgroups(user: string, extraGroup: number): void }).initgroups(user, a.gid);
  process.setgid!(a.gid);
  process.setuid!(a.uid);
  log.notice('daemon became user', { user, uid: a.uid, gid: a.gid });
}

/**
 * Becomes the configured user (see becomeUser), handing it the data dir, and the control
 * socket's folder when that is the daemon's own: the service's folder, or one that is not there yet.
 */
export function becomeDaemonUser(config: Config, log: Logger): void {
  const socketDir = dirname(config.socketPath);
  const ownSocketDir =
    socketDir !== config.dataDir && (!existsSync(socketDir) || socketDir === dirname(SERVICE_SOCKET));
  becomeUser(config.user, ownSocketDir ? [config.dataDir, socketDir] : [config.dataDir], log);
}
