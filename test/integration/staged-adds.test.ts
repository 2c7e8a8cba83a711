// Issue 30 item 7: a queued add's Maildir is made while the add waits for the hour, as
// DOMAIN/.add-ID (work-folders.ts, staged-adds.ts), and the apply puts it in place with one
// rename. Judged by effect on a real daemon: the very folder staged becomes the account's
// Maildir (its inode), the account logs in over POP3 and gets mail, and nothing is left behind.
// The attacker's side: a cancelled or replaced add, a name taken by a folder holding mail or
// by a link, a link or a file planted where the staged folder is, leftovers and half-made
// folders from a crash, a kill -9 between the rename and the commit.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';
import { seedAccounts } from '../helpers/seed.js';
import { queueStaged, stagedIn } from '../helpers/staged.js';

const DOMAIN = 'example.test';
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

/** A Maildir outside the data dir holding one message (what a planted link would hand over). */
function outsideMaildir(marker: string): string {
  const dir = tempDir('vmail-outside-');
  for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(dir, f));
  writeFileSync(join(dir, 'new', '1700000000.M1P1.outside'), `Subject: ${marker}\r\n\r\n${marker}\r\n`);
  return dir;
}

describe('queued adds made ahead and put in place with one rename', () => {
  let d: DaemonHandle;
  let mail: string;
  beforeAll(async () => {
    d = await startDaemon();
    mail = join(d.dataDir, 'mail', DOMAIN);
  });
  afterAll(() => d.stop());

  const apply = async () => json(await d.cli(['pending', 'apply', '--json']));
  const staged = () => stagedIn(mail);

  it('the staged folder becomes the Maildir: stamped, the account logs in and gets mail, nothing is left behind', async () => {
    const id = await queueStaged(d, 'alice');
    const at = join(mail, `.add-${id}`);
    for (const f of ['tmp', 'new', 'cur']) expect(statSync(join(at, f)).isDirectory()).toBe(true);
    expect(readFileSync(join(at, 'vmail-change'), 'utf8')).toBe(`${id}\n`);
    const inode = statSync(at).ino;
    const r = await apply();
    expect(r.failed).toEqual([]);
    expect(statSync(join(mail, 'alice')).ino).toBe(inode);
    expect(readFileSync(join(mail, 'alice', 'vmail-change'), 'utf8')).toBe(`${id}\n`);
    expect(staged()).toEqual([]);
    expect((await smtpSend(d.smtpPort, `alice@${DOMAIN}`, 'staged-alice')).accepted).toBe(true);
    expect(maildirWith(join(mail, 'alice'), 'staged-alice')).toHaveLength(1);
    expect((await pop3Login(d.pop3Port, `alice@${DOMAIN}`, 'password-1')).stat?.[0]).toBe(1);
  });

  it('a cancelled add: its staged folder is removed, and the name gets no account', async () => {
    const id = await queueStaged(d, 'bob');
    const p = json(await d.cli(['pending', 'list', '--json'])) as { id: string }[];
    expect(p.map((c) => c.id)).toContain(id);
    expect((await d.cli(['pending', 'cancel', id])).code).toBe(0);
    await waitFor(() => !existsSync(join(mail, `.add-${id}`)), "the cancelled add's staged folder removed");
    expect(existsSync(join(mail, 'bob'))).toBe(false);
    expect((await pop3Login(d.pop3Port, `bob@${DOMAIN}`, 'password-1')).ok).toBe(false);
  });

  it('an add whose password is changed before the hour keeps its staged folder, and logs in with the new password', async () => {
    const id = await queueStaged(d, 'carol');
    const inode = statSync(join(mail, `.add-${id}`)).ino;
    expect((await d.cli(['accounts', 'passwd', 'carol', '--password-stdin'], 'password-2\n')).code).toBe(0);
    const r = await apply();
    expect(r.failed).toEqual([]);
    expect(statSync(join(mail, 'carol')).ino).toBe(inode);
    expect((await pop3Login(d.pop3Port, `carol@${DOMAIN}`, 'password-2')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, `carol@${DOMAIN}`, 'password-1')).ok).toBe(false);
  });

  it('the name holds the Maildir an apply killed midway made for this add: the apply keeps it and removes the staged folder at once', async () => {
    const id = await queueStaged(d, 'dora');
    // What createForAdd leaves before a kill -9: a bare Maildir stamped with the add's id.
    const own = join(mail, 'dora');
    for (const f of ['', 'tmp', 'new', 'cur']) mkdirSync(join(own, f), { recursive: true });
    writeFileSync(join(own, 'vmail-change'), `${id}\n`);
    const inode = statSync(own).ino;
    const r = await apply();
    expect(r.failed).toEqual([]);
    expect(statSync(own).ino).toBe(inode);
    // Right as the apply answers, not a second later with the tidy.
    expect(staged()).toEqual([]);
    expect((await pop3Login(d.pop3Port, `dora@${DOMAIN}`, 'password-1')).ok).toBe(true);
  });

  it('attacker: the name taken by a folder holding mail: it goes to the archive, the new account starts empty', async () => {
    mkdirSync(join(mail, 'dave', 'new'), { recursive: true });
    writeFileSync(join(mail, 'dave', 'new', '1700000000.M1P1.old'), 'Subject: old-dave\r\n\r\nold-dave\r\n');
    const id = await queueStaged(d, 'dave');
    const r = await apply();
    expect(r.failed).toEqual([]);
    expect(maildirWith(join(d.dataDir, 'archive', DOMAIN, `dave-${id}`), 'old-dave')).toHaveLength(1);
    expect(maildirWith(join(mail, 'dave'), 'old-dave')).toEqual([]);
    expect((await pop3Login(d.pop3Port, `dave@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
    // The staged folder it did not use is removed once the add is applied.
    await waitFor(() => !existsSync(join(mail, `.add-${id}`)), 'the unused staged folder removed');
  });

  it('an empty folder in the name is replaced by the staged Maildir', async () => {
    mkdirSync(join(mail, 'erin'));
    const id = await queueStaged(d, 'erin');
    const inode = statSync(join(mail, `.add-${id}`)).ino;
    expect((await apply()).failed).toEqual([]);
    expect(statSync(join(mail, 'erin')).ino).toBe(inode);
    expect((await pop3Login(d.pop3Port, `erin@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
  });

  it('attacker: a link planted in place of the staged folder is not followed: the account gets a Maildir of its own', async () => {
    const id = await queueStaged(d, 'frank');
    const outside = outsideMaildir('outside-frank');
    writeFileSync(join(outside, 'vmail-change'), `${id}\n`);
    rmSync(join(mail, `.add-${id}`), { recursive: true });
    symlinkSync(outside, join(mail, `.add-${id}`));
    const r = await apply();
    expect(r.failed).toEqual([]);
    expect(lstatSync(join(mail, 'frank')).isDirectory()).toBe(true);
    expect(maildirWith(join(mail, 'frank'), 'outside-frank')).toEqual([]);
    expect((await pop3Login(d.pop3Port, `frank@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
    expect(maildirWith(outside, 'outside-frank')).toHaveLength(1);
    // The link is removed, never followed: the folder it names is as it was.
    await waitFor(() => !existsSync(join(mail, `.add-${id}`)) && !isLink(join(mail, `.add-${id}`)), 'the link removed');
    expect(readdirSync(outside).sort()).toEqual(['cur', 'new', 'tmp', 'vmail-change']);
  });

  it('attacker: the name is a link to a Maildir elsewhere: the add fails, the staged folder goes nowhere', async () => {
    const outside = outsideMaildir('outside-gina');
    symlinkSync(outside, join(mail, 'gina'));
    const id = await queueStaged(d, 'gina');
    const r = await apply();
    expect(r.failed.map((f: { address: string; error: string }) => f.address)).toEqual([`gina@${DOMAIN}`]);
    expect(r.failed[0].error).toMatch(/is a symbolic link/);
    expect(readdirSync(outside).sort()).toEqual(['cur', 'new', 'tmp']);
    expect(maildirWith(outside, 'outside-gina')).toHaveLength(1);
    expect(existsSync(join(mail, `.add-${id}`, 'vmail-change'))).toBe(true);
    expect((await d.cli(['pending', 'cancel', id])).code).toBe(0);
    await waitFor(() => !existsSync(join(mail, `.add-${id}`)), "the failed add's staged folder removed at its cancel");
  });
});

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

describe('what a stop or a crash leaves of staged adds', () => {
  it('at start: leftovers whose change is gone are removed (archived when they hold anything), half-made ones completed, a file replaced', async () => {
    const dataDir = tempDir();
    // Changes 1-3 queued (adds of one, two, three); 98 and 99 are no change at all.
    await seedAccounts(dataDir, ['one', 'two', 'three'], 'password-1');
    const mail = join(dataDir, 'mail', DOMAIN);
    mkdirSync(join(mail, '.add-1', 'tmp'), { recursive: true });
    writeFileSync(join(mail, '.add-2'), 'not a folder');
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(mail, '.add-99', f), { recursive: true });
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(mail, '.add-98', f), { recursive: true });
    writeFileSync(join(mail, '.add-98', 'new', '1700000000.M1P1.kept'), 'Subject: kept\r\n\r\nkept\r\n');
    const d = await startDaemon({ dataDir });
    try {
      await waitFor(() => /adds staged adds=3\b/.test(d.output()), 'the queued adds staged');
      expect(existsSync(join(mail, '.add-99'))).toBe(false);
      expect(maildirWith(join(dataDir, 'archive', DOMAIN, '.add-98'), 'kept')).toHaveLength(1);
      for (const id of ['1', '2', '3']) {
        for (const f of ['tmp', 'new', 'cur']) expect(statSync(join(mail, `.add-${id}`, f)).isDirectory()).toBe(true);
        expect(readFileSync(join(mail, `.add-${id}`, 'vmail-change'), 'utf8')).toBe(`${id}\n`);
      }
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toEqual([]);
      for (const name of ['one', 'two', 'three'])
        expect((await pop3Login(d.pop3Port, `${name}@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
      expect(readdirSync(mail).filter((n) => n.startsWith('.'))).toEqual([]);
    } finally {
      await d.stop();
    }
  });

  it('kill -9 after the staged folders were renamed into place, before the commit: the next apply converges, nothing archived', async () => {
    const dataDir = tempDir();
    await seedAccounts(dataDir, ['kim', 'lee'], 'password-1');
    const mail = join(dataDir, 'mail', DOMAIN);
    let d = await startDaemon({ dataDir, env: { VMAIL_CRASH_AT: 'files' } });
    await waitFor(() => /adds staged adds=2\b/.test(d.output()), 'the queued adds staged');
    const inodes = ['1', '2'].map((id) => statSync(join(mail, `.add-${id}`)).ino);
    const exited = new Promise((res) => d.proc.once('exit', (_code, signal) => res(signal)));
    await d.cli(['pending', 'apply']);
    expect(await exited).toBe('SIGKILL');
    expect(['kim', 'lee'].map((n) => statSync(join(mail, n)).ino)).toEqual(inodes);
    d = await startDaemon({ dataDir });
    try {
      expect(json(await d.cli(['pending', 'list', '--json']))).toHaveLength(2);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toEqual([]);
      expect(r.applied).toHaveLength(2);
      expect(existsSync(join(dataDir, 'archive'))).toBe(false);
      expect(['kim', 'lee'].map((n) => statSync(join(mail, n)).ino)).toEqual(inodes);
      for (const n of ['kim', 'lee']) {
        expect((await smtpSend(d.smtpPort, `${n}@${DOMAIN}`, `after-crash-${n}`)).accepted).toBe(true);
        expect((await pop3Login(d.pop3Port, `${n}@${DOMAIN}`, 'password-1')).stat?.[0]).toBe(1);
      }
    } finally {
      await d.stop();
    }
  });
});
