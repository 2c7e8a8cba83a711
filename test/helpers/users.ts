// Real Unix users for tests that need more than one person at the control socket (needs root):
// made with useradd and removed with userdel, and the checkout's private parent folders
// (mktemp -d makes 0700 ones) opened for passing through while they run its vmail, then closed.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ROOT, VMAIL } from './process.js';

export interface Users {
  /** Removes the users and closes the folders again. */
  remove(): void;
}

export function makeUsers(names: string[]): Users {
  const opened: [string, number][] = [];
  for (let dir = ROOT; dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if (!(mode & 0o001)) {
      opened.push([dir, mode]);
      chmodSync(dir, mode | 0o001);
    }
  }
  for (const u of names)
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', u]);
  return {
    remove() {
      for (const [dir, mode] of opened) chmodSync(dir, mode);
      for (const u of names) {
        try {
          execFileSync('userdel', [u], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
    },
  };
}

export function idOf(user: string, flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
}

/** Runs this checkout's `vmail ARGS --socket SOCKET` as `user`, with `input` on stdin. */
export function vmailAs(
  user: string,
  args: string[],
  socket: string,
  input = '',
): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  return new Promise((resolve) => {
    const p = spawn('runuser', ['-u', user, '--', process.execPath, VMAIL, ...args, '--socket', socket]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr, pid: p.pid! }));
    p.stdin.end(input);
  });
}
