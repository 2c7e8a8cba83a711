// Issue 23 item 12, against the real daemon: a POP3 QUIT whose deletions the disk does not
// confirm (the folder fsync fails: the daemon's descriptors run out, set with prlimit) answers
// -ERR, not +OK; and `--user` hands over only vmail's own files in a reused data dir, following
// no symbolic link and changing no file that has other names (needs root: these tests run as
// root, as CI does).
import { execFileSync } from 'node:child_process';
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/maildir/maildir.js';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { RawPop3 } from '../helpers/pop3.js';

const started: DaemonHandle[] = [];
afterAll(async () => {
  for (const d of started) await d.stop();
});

/** The daemon's soft limit on open files, and the lowest descriptor number it has free. */
function descriptors(pid: number): { soft: string; hard: string; lowestFree: number } {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const [soft, hard] = /Max open files\s+(\S+)\s+(\S+)/.exec(limits)!.slice(1);
  const open = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let lowestFree = 0;
  while (open.has(lowestFree)) lowestFree++;
  return { soft, hard, lowestFree };
}

describe('POP3 QUIT when the deletions cannot be made durable', () => {
  it('answers -ERR when the folder fsync fails (no descriptor left to open new/), +OK once it works', async () => {
    const d = await startDaemon();
    started.push(d);
    const add = await d.cli(['accounts', 'add', 'quit', '--password-stdin'], 'password-1\n');
    expect(add.code, add.stderr).toBe(0);
    await d.cli(['pending', 'apply']);
    const box = join(d.dataDir, 'mail/example.test/quit');
    for (let i = 0; i < 3; i++) await deliver(box, [Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`)]);

    const c = await RawPop3.open(d.pop3Port);
    await c.login('quit', 'password-1');
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    // Every descriptor number from the lowest free one up is over the limit: the unlink needs
    // none, the fsync of new/ must open it and gets EMFILE.
    const pid = d.proc.pid!;
    const before = descriptors(pid);
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${before.lowestFree}:${before.hard}`]);
    let quit: string;
    try {
      quit = await c.cmd('QUIT');
    } finally {
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${before.soft}:${before.hard}`]);
    }
    c.close();
    expect(quit).toMatch(/^-ERR \[SYS\/TEMP\] .*deleted, but the disk did not confirm it/);
    expect(readdirSync(join(box, 'new'))).toHaveLength(2);

    // With descriptors again, the same deletion is confirmed.
    const again = await waitFor(async () => {
      const x = await RawPop3.open(d.pop3Port);
      await x.cmd('USER quit');
      if ((await x.cmd('PASS password-1')).startsWith('+OK')) return x;
      x.close();
      return null;
    }, 'the mailbox lock to go');
    expect(await again.cmd('STAT')).toMatch(/^\+OK 2 /);
    expect(await again.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await again.cmd('QUIT')).toMatch(/^\+OK/);
    again.close();
    expect(readdirSync(join(box, 'new'))).toHaveLength(1);
  });
});

describe('--user on a reused data dir', () => {
  it("hands over vmail's own files only: no symlink followed, no hard-linked file, nothing unrelated", async () => {
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const outside = tempDir('vmail-outside-');
    const secret = join(outside, 'shadow');
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    const linked = join(outside, 'linked');
    writeFileSync(linked, 'root only too\n', { mode: 0o600 });
    mkdirSync(join(outside, 'dir'));
    writeFileSync(join(outside, 'dir', 'inside'), 'x');

    const data = tempDir('vmail-reused-');
    const box = join(data, 'mail/example.test/kept');
    for (const f of ['new', 'cur', 'tmp']) mkdirSync(join(box, f), { recursive: true });
    writeFileSync(join(box, 'new', '1700000000.M1P1.old,S=12'), 'Subject: x\r\n');
    // Links into the data dir's own folders, and at its top, to a root file and a root folder.
    symlinkSync(secret, join(data, 'mail/example.test/evil'));
    symlinkSync(secret, join(box, 'new', '1700000001.M2P2.evil'));
    symlinkSync(join(outside, 'dir'), join(data, 'archive'));
    symlinkSync(secret, join(data, 'srs-secret-old'));
    // A second name of a root file inside vmail's queue folder.
    mkdirSync(join(data, 'queue'));
    linkSync(linked, join(data, 'queue', 'x.json'));
    // Files of something else that shares the folder.
    mkdirSync(join(data, 'notes'));
    writeFileSync(join(data, 'notes', 'todo'), 'x');
    writeFileSync(join(data, 'backup.tar'), 'x');

    const d = await startDaemon({ dataDir: data, args: ['--user', 'nobody'] });
    started.push(d);
    const uid = (p: string) => lstatSync(p).uid;
    // vmail's own: handed over.
    expect(
      [data, join(data, 'mail'), box, join(box, 'new'), join(box, 'new', '1700000000.M1P1.old,S=12')].map(uid),
    ).toEqual(Array(5).fill(nobody));
    expect(uid(join(data, 'vmail.sqlite'))).toBe(nobody);
    // Not followed, not changed: the targets are root's still.
    for (const p of [secret, linked, join(outside, 'dir'), join(outside, 'dir', 'inside')])
      expect(statSync(p).uid, p).toBe(0);
    // Not vmail's: left as they were.
    for (const p of [join(data, 'notes'), join(data, 'notes', 'todo'), join(data, 'backup.tar')])
      expect(uid(p), p).toBe(0);
    expect(d.output()).toMatch(/file not handed over.*x\.json/);
    const status = await d.cli(['status']);
    expect(status.code, status.stderr).toBe(0);
  });
});
