// Issue 30 item 7 (apply at scale): a chunk's new Maildirs are made durable by one syncfs(2)
// per file system before the chunk commits (durable.ts rule 10), not by an fsync of each
// Maildir and its parent. Judged on a real daemon, its calls counted by strace attached to it:
// 600 adds (two chunks) take syncfs and no fsync of a Maildir; without the addon
// (VMAIL_NO_SYNCFS=1) each Maildir is fsynced as before. A kill -9 right after the first chunk's
// files (and its syncfs) and before its commit converges on the next apply, and mail arrives.
// The attacker's side: a domain folder that is a symlink into another file system gets its
// syncfs on that file system, not on the data dir's.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';
import { waitFor } from '../helpers/process.js';
import { seedAccounts } from '../helpers/seed.js';

const DOMAIN = 'example.test';
const ADDS = 600;
const nameOf = (i: number) => `sync${String(i).padStart(4, '0')}`;
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

/** Queues ADDS account adds (password `password-1`) before any daemon runs (the daemon hosts the domain at start). */
function queueAdds(dataDir: string): Promise<void> {
  return seedAccounts(
    dataDir,
    Array.from({ length: ADDS }, (_, i) => nameOf(i)),
    'password-1',
  );
}

/** strace attached to every thread of a running process: its fsync and syncfs calls, with the paths synced. */
async function traceCalls(pid: number): Promise<{ done: () => Promise<string[]> }> {
  const out = join(tempDir('vmail-strace-'), 'calls');
  const st: ChildProcess = spawn(
    'strace',
    ['-f', '-y', '-e', 'trace=fsync,fdatasync,syncfs', '-o', out, '-p', String(pid)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  st.stderr!.on('data', (d) => (err += d));
  // strace says so on stderr once it has attached (-f: every thread of it, the thread pool's too).
  await waitFor(() => /attached/.test(err), 'strace to attach', 10_000);
  const exited = new Promise<void>((res) => st.once('exit', () => res()));
  return {
    done: async () => {
      // Detaches; when the traced process is gone already, strace has ended on its own.
      st.kill('SIGINT');
      await exited;
      const calls: string[] = [];
      for (const line of readFileSync(out, 'utf8').split('\n')) {
        // A call another thread interrupted is printed `<unfinished ...>`: it was made all the same.
        const m = /\b(fsync|fdatasync|syncfs)\(\d+<([^>]*)>/.exec(line);
        if (m) calls.push(`${m[1] === 'fdatasync' ? 'fsync' : m[1]} ${m[2]}`);
      }
      return calls;
    },
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("an apply's new Maildirs made durable by one syncfs per chunk", () => {
  it('600 adds: a syncfs per chunk on the mail file system, no fsync of any Maildir; every account gets mail', async () => {
    const dataDir = tempDir();
    await queueAdds(dataDir);
    const mail = join(dataDir, 'mail', DOMAIN);
    mkdirSync(mail, { recursive: true });
    const d = await startDaemon({ dataDir });
    try {
      const trace = await traceCalls(d.proc.pid!);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      const calls = await trace.done();
      expect(r.failed).toEqual([]);
      expect(r.applied).toHaveLength(ADDS);
      const syncfs = calls.filter((c) => c.startsWith('syncfs '));
      // Two chunks (500 and 100), one file system: one syncfs each, on the domain's mail folder.
      expect(syncfs, calls.join('\n')).toEqual([`syncfs ${mail}`, `syncfs ${mail}`]);
      expect(calls.filter((c) => c.startsWith(`fsync ${mail}`))).toEqual([]);
      for (const i of [0, 499, 500, ADDS - 1]) {
        const to = `${nameOf(i)}@${DOMAIN}`;
        expect(readFileSync(join(mail, nameOf(i), 'vmail-change'), 'utf8')).toBe(`${i + 1}\n`);
        expect((await smtpSend(d.smtpPort, to, `for-${i}`)).accepted, to).toBe(true);
        expect(maildirWith(join(mail, nameOf(i)), `for-${i}`)).toHaveLength(1);
      }
    } finally {
      await d.stop();
    }
  }, 120_000);

  it('without syncfs (VMAIL_NO_SYNCFS=1, as when the addon was not built) each new Maildir is fsynced, and the apply is whole', async () => {
    const dataDir = tempDir();
    await queueAdds(dataDir);
    const mail = join(dataDir, 'mail', DOMAIN);
    mkdirSync(mail, { recursive: true });
    const d = await startDaemon({ dataDir, env: { VMAIL_NO_SYNCFS: '1' } });
    try {
      const trace = await traceCalls(d.proc.pid!);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      const calls = await trace.done();
      expect(r.failed).toEqual([]);
      expect(r.applied).toHaveLength(ADDS);
      expect(calls.filter((c) => c.startsWith('syncfs '))).toEqual([]);
      const synced = new Set(calls.filter((c) => c.startsWith('fsync ')).map((c) => c.slice(6)));
      for (let i = 0; i < ADDS; i++) expect(synced.has(join(mail, nameOf(i))), nameOf(i)).toBe(true);
      expect(synced.has(mail)).toBe(true);
    } finally {
      await d.stop();
    }
  }, 120_000);

  it('kill -9 after the first chunk made its Maildirs and synced them, before its commit: the next apply converges, nothing archived', async () => {
    const dataDir = tempDir();
    await queueAdds(dataDir);
    const mail = join(dataDir, 'mail', DOMAIN);
    mkdirSync(mail, { recursive: true });
    let d = await startDaemon({ dataDir, env: { VMAIL_CRASH_AT: 'files' } });
    const exited = new Promise((res) => d.proc.once('exit', (_code, signal) => res(signal)));
    const trace = await traceCalls(d.proc.pid!);
    await d.cli(['pending', 'apply']);
    expect(await exited).toBe('SIGKILL');
    const calls = await trace.done();
    // The first chunk's syncfs came before the kill; nothing was committed.
    expect(calls.filter((c) => c.startsWith('syncfs '))).toEqual([`syncfs ${mail}`]);
    // Account Maildirs only: the adds' Maildirs made ahead (.add-ID, work-folders.ts) are no account's yet.
    const made = readdirSync(mail).filter((n) => !n.startsWith('.') && existsSync(join(mail, n, 'vmail-change')));
    expect(made.length).toBeGreaterThanOrEqual(500);
    d = await startDaemon({ dataDir });
    try {
      expect(json(await d.cli(['pending', 'list', '--json']))).toHaveLength(ADDS);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toEqual([]);
      expect(r.applied).toHaveLength(ADDS);
      expect(json(await d.cli(['pending', 'list', '--json']))).toEqual([]);
      expect(existsSync(join(dataDir, 'archive'))).toBe(false);
      for (let i = 0; i < ADDS; i++)
        expect(readFileSync(join(mail, nameOf(i), 'vmail-change'), 'utf8'), nameOf(i)).toBe(`${i + 1}\n`);
      for (const i of [0, ADDS - 1]) {
        const to = `${nameOf(i)}@${DOMAIN}`;
        expect((await smtpSend(d.smtpPort, to, `after-crash-${i}`)).accepted, to).toBe(true);
        expect((await pop3Login(d.pop3Port, to, 'password-1')).stat?.[0], to).toBe(1);
      }
    } finally {
      await d.stop();
    }
  }, 180_000);

  it('attacker: a domain folder that is a symlink into another file system is synced there, and its Maildirs last', async () => {
    const dataDir = tempDir();
    await queueAdds(dataDir);
    // The domain's mail folder lives on tmpfs (/dev/shm), another file system than the data dir's.
    const elsewhere = mkdtempSync('/dev/shm/vmail-syncfs-');
    dirs.push(elsewhere);
    mkdirSync(join(dataDir, 'mail'), { recursive: true });
    symlinkSync(elsewhere, join(dataDir, 'mail', DOMAIN));
    const d = await startDaemon({ dataDir });
    try {
      const trace = await traceCalls(d.proc.pid!);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      const calls = await trace.done();
      expect(r.failed).toEqual([]);
      expect(r.applied).toHaveLength(ADDS);
      // strace names the folder synced by where it really is: the syncfs reached tmpfs.
      expect(calls.filter((c) => c.startsWith('syncfs '))).toEqual([`syncfs ${elsewhere}`, `syncfs ${elsewhere}`]);
      for (const i of [0, ADDS - 1]) expect(existsSync(join(elsewhere, nameOf(i), 'new')), nameOf(i)).toBe(true);
    } finally {
      await d.stop();
    }
  }, 120_000);
});
