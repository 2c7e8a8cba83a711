// Issue 30 item 7 (apply at scale): an add's Maildir is stamped without an fsync of its own
// (durable.ts rule 9). Judged by effect on a real daemon: 1,200 queued adds (more than one
// chunk) cut by kill -9 after the first chunk's Maildirs were made, their stamps then emptied
// as a lost page would leave them, converge on the next apply with every account in place and
// nothing archived; mail reaches them. And the attacker's side: a stamp that is a symlink is
// replaced, never written through, and a folder holding mail is never taken over by an add.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';
import { waitFor } from '../helpers/process.js';
import { seedAccounts } from '../helpers/seed.js';

const DOMAIN = 'example.test';
const ADDS = 1200;
const nameOf = (i: number) => `batch${String(i).padStart(4, '0')}`;
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

/** Queues ADDS account adds (password `password-1`) in the store at `dataDir`, before any daemon runs. */
function queueAdds(dataDir: string, count = ADDS): Promise<void> {
  return seedAccounts(
    dataDir,
    Array.from({ length: count }, (_, i) => nameOf(i)),
    'password-1',
  );
}

describe('apply of many adds, Maildir stamps without an fsync of their own', () => {
  it('kill -9 after the first chunk made its Maildirs, stamps emptied: the next apply converges, nothing archived, mail arrives', async () => {
    const dataDir = tempDir();
    await queueAdds(dataDir);
    let d = await startDaemon({ dataDir, env: { VMAIL_CRASH_AT: 'files' } });
    const exited = new Promise((res) => d.proc.once('exit', res));
    await d.cli(['pending', 'apply']);
    await exited;
    const mail = join(dataDir, 'mail', DOMAIN);
    // Account Maildirs only: the adds' Maildirs made ahead (.add-ID, work-folders.ts) are no account's yet.
    const made = readdirSync(mail).filter((n) => !n.startsWith('.') && existsSync(join(mail, n, 'vmail-change')));
    // The first chunk's Maildirs were made, not all of them: the crash was mid-apply.
    expect(made.length).toBeGreaterThan(0);
    expect(made.length).toBeLessThan(ADDS);
    // What a crash can leave of a stamp whose bytes were never fsynced: an empty file.
    for (const n of made) truncateSync(join(mail, n, 'vmail-change'), 0);
    d = await startDaemon({ dataDir });
    try {
      expect(json(await d.cli(['pending', 'list', '--json']))).toHaveLength(ADDS);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toEqual([]);
      expect(r.applied).toHaveLength(ADDS);
      expect(json(await d.cli(['pending', 'list', '--json']))).toEqual([]);
      // A bare Maildir a crash left is kept for its add, not archived.
      expect(existsSync(join(dataDir, 'archive'))).toBe(false);
      for (let i = 0; i < ADDS; i++) {
        const dir = join(mail, nameOf(i));
        for (const f of ['tmp', 'new', 'cur']) expect(existsSync(join(dir, f)), `${nameOf(i)}/${f}`).toBe(true);
        expect(readFileSync(join(dir, 'vmail-change'), 'utf8')).toBe(`${i + 1}\n`);
      }
      for (const name of [made[0], nameOf(ADDS - 1)]) {
        const to = `${name}@${DOMAIN}`;
        expect((await smtpSend(d.smtpPort, to, `for-${name}`)).accepted, to).toBe(true);
        expect(maildirWith(join(mail, name), `for-${name}`)).toHaveLength(1);
        expect((await pop3Login(d.pop3Port, to, 'password-1')).stat?.[0], to).toBe(1);
      }
    } finally {
      await d.stop();
    }
  }, 180_000);

  it('attacker: a stamp that is a symlink is replaced, not written through; a folder holding mail goes to the archive', async () => {
    const d = await startDaemon();
    try {
      const mail = join(d.dataDir, 'mail', DOMAIN);
      // A bare Maildir left under a name, its stamp a symlink to a file of the daemon's own.
      const victim = join(d.dataDir, 'victim');
      writeFileSync(victim, 'keep me\n');
      const bare = join(mail, 'lnk');
      for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(bare, f), { recursive: true });
      symlinkSync(victim, join(bare, 'vmail-change'));
      // A folder holding mail (and an empty stamp, as a crash could leave) under another name.
      const full = join(mail, 'full');
      for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(full, f), { recursive: true });
      writeFileSync(join(full, 'new', '1700000000.M1P1.old'), 'Subject: old mail\n\nnot for the new account\n');
      writeFileSync(join(full, 'vmail-change'), '');
      for (const name of ['lnk', 'full'])
        expect((await d.cli(['accounts', 'add', `${name}@${DOMAIN}`, '--password-stdin'], 'password-1\n')).code).toBe(
          0,
        );
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toEqual([]);
      expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
      expect(lstatSync(join(bare, 'vmail-change')).isFile()).toBe(true);
      // The new account starts empty; the old mail is in the archive, whole.
      expect((await pop3Login(d.pop3Port, `full@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
      const archived = readdirSync(join(d.dataDir, 'archive', DOMAIN)).filter((n) => n.startsWith('full-'));
      expect(archived).toHaveLength(1);
      expect(readdirSync(join(d.dataDir, 'archive', DOMAIN, archived[0], 'new'))).toEqual(['1700000000.M1P1.old']);
    } finally {
      await d.stop();
    }
  }, 60_000);

  /** Drops a message in new/ as another program would (tmp/, then a rename), behind the daemon's back. */
  const dropIn = (dir: string, tag: string) => {
    writeFileSync(join(dir, 'tmp', `${tag}.x`), `Subject: ${tag}\r\n\r\nbody\r\n`);
    renameSync(join(dir, 'tmp', `${tag}.x`), join(dir, 'new', `${tag}.x`));
  };
  const messagesOf = async (d: { cli: (a: string[]) => Promise<{ stdout: string }> }, name: string) =>
    (json(await d.cli(['accounts', 'list', '--json'])) as { name: string; messages: number }[]).find(
      (a) => a.name === name,
    )?.messages;

  it("a bulk apply's new Maildirs, not watched at once, still show another program's mail by the next sweep; the first sweep is logged", async () => {
    const dataDir = tempDir();
    await queueAdds(dataDir, 150);
    const d = await startDaemon({ dataDir, args: ['--rescan-interval', '2s'] });
    try {
      await waitFor(() => d.output().includes('mailbox index swept'), 'the first sweep logged', 60_000);
      expect(json(await d.cli(['pending', 'apply', '--json'])).applied).toHaveLength(150);
      const dir = join(dataDir, 'mail', DOMAIN, nameOf(149));
      dropIn(dir, 'by-hand');
      await waitFor(async () => (await messagesOf(d, nameOf(149))) === 1, 'the hand-dropped message counted', 60_000);
      // Watched by that sweep: a second one is seen too (by the watch or the next sweep).
      dropIn(dir, 'by-hand-2');
      await waitFor(async () => (await messagesOf(d, nameOf(149))) === 2, 'the second message counted', 60_000);
    } finally {
      await d.stop();
    }
  }, 180_000);

  it('a small apply watches its new Maildirs at once: a message dropped by hand is counted long before the next sweep', async () => {
    const dataDir = tempDir();
    await queueAdds(dataDir, 3);
    const d = await startDaemon({ dataDir, args: ['--rescan-interval', '1h'] });
    try {
      expect(json(await d.cli(['pending', 'apply', '--json'])).applied).toHaveLength(3);
      dropIn(join(dataDir, 'mail', DOMAIN, nameOf(2)), 'by-hand');
      await waitFor(async () => (await messagesOf(d, nameOf(2))) === 1, 'the watched message counted', 60_000);
    } finally {
      await d.stop();
    }
  }, 120_000);
});
