// Running without root. Started as root with a user to become (--user, or `user` in the
// config file), the daemon binds its ports first, hands the folders it writes to that user,
// and then becomes it (its group and supplementary groups too): from then on a flaw in the
// daemon reaches that user's files, not the system's.
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';

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

/** Gives `dir` (and, if it was not already that user's, everything under it) to the user. */
function handOver(dir: string, a: Account): void {
  // Folders made above it are traversable, as /var/lib is (the daemon's umask would not let
  // them be); the folder itself is the user's.
  const umask = process.umask(0o022);
  try {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  } finally {
    process.umask(umask);
  }
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const st = lstatSync(dir);
  if (st.uid === a.uid && st.gid === a.gid) return;
  const walk = (path: string) => {
    const s = lstatSync(path);
    if (s.isSymbolicLink()) return;
    chownSync(path, a.uid, a.gid);
    if (s.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
}

/**
 * Becomes `user` when running as root, after handing it `dirs`. Without a user to become, a
 * daemon running as root says so once.
 */
export function becomeUser(user: string | null, dirs: string[], log: Logger): void {
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
  for (const dir of dirs) handOver(dir, a);
  // Node has initgroups on POSIX systems; its type definitions leave it out.
  (process as NodeJS.Process & { initgroups(user: string, extraGroup: number): void }).initgroups(user, a.gid);
  process.setgid!(a.gid);
  process.setuid!(a.uid);
  log.notice('daemon became user', { user, uid: a.uid, gid: a.gid });
}
