// Hostile round 10 (a tester with none of the builder's assumptions): queued adds' Maildirs made
// ahead as DOMAIN/.add-ID and renamed into place (work-folders.ts, staged-adds.ts). Judged by
// effect: POP3 STAT, mail over SMTP landing in the right Maildir, files present or absent.
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
import { noWorkFolders, queueAdd, queueStaged, stagedIn } from '../helpers/staged.js';

const DOMAIN = 'example.test';
const json = (r: { stdout: string }) => JSON.parse(r.stdout);

describe('hostile r10: staged adds on a running daemon', () => {
  let d: DaemonHandle;
  let mail: string;
  beforeAll(async () => {
    d = await startDaemon();
    mail = join(d.dataDir, 'mail', DOMAIN);
    // A victim account with mail, which no new account may come to read.
    await queueAdd(d, 'victim');
    expect((await apply()).failed).toEqual([]);
    expect((await smtpSend(d.smtpPort, `victim@${DOMAIN}`, 'victim-secret')).accepted).toBe(true);
    expect((await pop3Login(d.pop3Port, `victim@${DOMAIN}`, 'password-1')).stat?.[0]).toBe(1);
  });
  afterAll(() => d.stop());

  const apply = async () => json(await d.cli(['pending', 'apply', '--json']));

  it('attacker: mail planted in a staged folder while the add waits: the new account must not inherit it', async () => {
    const id = await queueStaged(d, 'heir');
    writeFileSync(join(mail, `.add-${id}`, 'new', '1700000000.M1P1.planted'), 'Subject: planted\r\n\r\nplanted\r\n');
    const r = await apply();
    expect(r.failed).toEqual([]);
    const stat = (await pop3Login(d.pop3Port, `heir@${DOMAIN}`, 'password-1')).stat;
    // The invariant the full way keeps: an add never takes over a folder holding mail.
    expect(stat?.[0]).toBe(0);
    // ...and deletes none: the planted message goes to the archive with the staged folder.
    const arch = join(d.dataDir, 'archive', DOMAIN, `.add-${id}`);
    await waitFor(() => existsSync(arch), 'the planted staged folder archived');
    expect(maildirWith(arch, 'planted')).toHaveLength(1);
    expect(existsSync(join(mail, `.add-${id}`))).toBe(false);
  });

  it("attacker: a staged folder's new/ replaced by a link to another account's new/: the new account must not read it", async () => {
    const id = await queueStaged(d, 'thief');
    const at = join(mail, `.add-${id}`);
    rmSync(join(at, 'new'), { recursive: true });
    symlinkSync(join(mail, 'victim', 'new'), join(at, 'new'));
    const r = await apply();
    const thiefDir = join(mail, 'thief');
    const linked = existsSync(thiefDir) && lstatSync(join(thiefDir, 'new')).isSymbolicLink();
    const stat = r.failed.length ? undefined : (await pop3Login(d.pop3Port, `thief@${DOMAIN}`, 'password-1')).stat;
    expect({ linked, stat0: stat?.[0] ?? 0 }).toEqual({ linked: false, stat0: 0 });
    // Mail for the new account lands in its own Maildir, not the victim's; the victim keeps its mail.
    expect((await smtpSend(d.smtpPort, `thief@${DOMAIN}`, 'to-thief')).accepted).toBe(true);
    expect(maildirWith(join(mail, 'victim'), 'to-thief')).toHaveLength(0);
    expect(maildirWith(thiefDir, 'to-thief')).toHaveLength(1);
    expect((await pop3Login(d.pop3Port, `victim@${DOMAIN}`, 'password-1')).stat?.[0]).toBe(1);
  });

  it('cancel, re-add the same name and apply at once (before the tidy): a fresh Maildir stamped by the new change, no leftovers', async () => {
    const id1 = await queueStaged(d, 'again');
    expect((await d.cli(['pending', 'cancel', id1])).code).toBe(0);
    const id2 = await queueAdd(d, 'again');
    expect(id2).not.toBe(id1);
    const r = await apply();
    expect(r.failed).toEqual([]);
    expect(readFileSync(join(mail, 'again', 'vmail-change'), 'utf8')).toBe(`${id2}\n`);
    expect((await pop3Login(d.pop3Port, `again@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
    await waitFor(() => !existsSync(join(mail, `.add-${id1}`)) && !existsSync(join(mail, `.add-${id2}`)), 'tidied');
  });

  it('remove and re-add the same name in sequence: the new account does not get the old mail (archived)', async () => {
    await queueAdd(d, 'cycle');
    expect((await apply()).failed).toEqual([]);
    expect((await smtpSend(d.smtpPort, `cycle@${DOMAIN}`, 'cycle-old')).accepted).toBe(true);
    expect((await d.cli(['accounts', 'remove', 'cycle'])).code).toBe(0);
    expect((await apply()).failed).toEqual([]);
    const id = await queueStaged(d, 'cycle');
    expect((await apply()).failed).toEqual([]);
    expect(readFileSync(join(mail, 'cycle', 'vmail-change'), 'utf8')).toBe(`${id}\n`);
    expect((await pop3Login(d.pop3Port, `cycle@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
  });

  it('a quota given to a queued add: the staged Maildir gets a right maildirsize at the apply', async () => {
    const id = await queueStaged(d, 'quoted');
    const q = await d.cli(['accounts', 'quota', 'quoted', '10M']);
    expect(q.code, q.stderr).toBe(0);
    expect((await apply()).failed).toEqual([]);
    expect(readFileSync(join(mail, 'quoted', 'vmail-change'), 'utf8')).toBe(`${id}\n`);
    await waitFor(() => existsSync(join(mail, 'quoted', 'maildirsize')), 'maildirsize written');
    expect(readFileSync(join(mail, 'quoted', 'maildirsize'), 'utf8').split('\n')[0]).toBe('10485760S');
    // Quota removed: the file goes.
    expect((await d.cli(['accounts', 'quota', 'quoted', 'none'])).code).toBe(0);
    expect((await apply()).failed).toEqual([]);
    await waitFor(() => !existsSync(join(mail, 'quoted', 'maildirsize')), 'maildirsize removed');
  });

  it('a staged folder planted as a link to a directory outside DATA_DIR: nothing outside is touched on cancel', async () => {
    const id = await queueStaged(d, 'outlink');
    const outside = tempDir('vmail-out-');
    mkdirSync(join(outside, 'new'));
    writeFileSync(join(outside, 'new', 'keep'), 'x');
    rmSync(join(mail, `.add-${id}`), { recursive: true });
    symlinkSync(outside, join(mail, `.add-${id}`));
    expect((await d.cli(['pending', 'cancel', id])).code).toBe(0);
    await waitFor(() => !existsSync(join(mail, `.add-${id}`)), 'link removed');
    expect(readFileSync(join(outside, 'new', 'keep'), 'utf8')).toBe('x');
  });
});

describe('hostile r10: what a restart finds', () => {
  it('attacker: a folder holding mail planted as .add-ID for a still-pending add: the new account must not inherit it', async () => {
    const dataDir = tempDir();
    await seedAccounts(dataDir, ['pat'], 'password-1');
    const mail = join(dataDir, 'mail', DOMAIN);
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(mail, '.add-1', f), { recursive: true });
    writeFileSync(join(mail, '.add-1', 'cur', '1700000000.M1P1.old:2,S'), 'Subject: old\r\n\r\nold\r\n');
    const d = await startDaemon({ dataDir });
    try {
      await waitFor(() => /adds staged/.test(d.output()), 'staged');
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toEqual([]);
      expect((await pop3Login(d.pop3Port, `pat@${DOMAIN}`, 'password-1')).stat?.[0]).toBe(0);
      await waitFor(() => existsSync(join(dataDir, 'archive', DOMAIN, '.add-1')), 'the planted folder archived');
      expect(maildirWith(join(dataDir, 'archive', DOMAIN, '.add-1'), 'old')).toHaveLength(1);
    } finally {
      await d.stop();
    }
  });

  it('the domain folder is a link into the data dir: nothing staged through it, the add is refused', async () => {
    const dataDir = tempDir();
    await seedAccounts(dataDir, ['dl'], 'password-1');
    mkdirSync(join(dataDir, 'mail'), { recursive: true });
    mkdirSync(join(dataDir, 'elsewhere'));
    symlinkSync(join(dataDir, 'elsewhere'), join(dataDir, 'mail', DOMAIN));
    const d = await startDaemon({ dataDir });
    try {
      await waitFor(() => /adds not staged|adds staged/.test(d.output()), 'stage attempt');
      expect(readdirSync(join(dataDir, 'elsewhere'))).toEqual([]);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toHaveLength(1);
      expect(readdirSync(join(dataDir, 'elsewhere'))).toEqual([]);
    } finally {
      await d.stop();
    }
  });

  it('kill -9 at the commit step after a staged rename: the next start converges, mail delivered to the right place', async () => {
    const dataDir = tempDir();
    await seedAccounts(dataDir, ['cx'], 'password-1');
    const mail = join(dataDir, 'mail', DOMAIN);
    let d = await startDaemon({ dataDir, env: { VMAIL_CRASH_AT: 'commit' } });
    await waitFor(() => /adds staged adds=1\b/.test(d.output()), 'staged');
    const ino = statSync(join(mail, '.add-1')).ino;
    const exited = new Promise((res) => d.proc.once('exit', (_c, s) => res(s)));
    await d.cli(['pending', 'apply']);
    expect(await exited).toBe('SIGKILL');
    d = await startDaemon({ dataDir });
    try {
      const left = json(await d.cli(['pending', 'list', '--json'])) as unknown[];
      if (left.length) expect(json(await d.cli(['pending', 'apply', '--json'])).failed).toEqual([]);
      expect(statSync(join(mail, 'cx')).ino).toBe(ino);
      expect((await smtpSend(d.smtpPort, `cx@${DOMAIN}`, 'cx-after')).accepted).toBe(true);
      expect(maildirWith(join(mail, 'cx'), 'cx-after')).toHaveLength(1);
      expect((await pop3Login(d.pop3Port, `cx@${DOMAIN}`, 'password-1')).stat?.[0]).toBe(1);
      expect(existsSync(join(dataDir, 'archive'))).toBe(false);
    } finally {
      await d.stop();
    }
  });
});

describe('hostile r10: more leftovers and domains', () => {
  it('attacker: a leftover .add-ID (no change) whose new/ links to an empty folder outside: the start still stages the queued adds, outside untouched', async () => {
    const dataDir = tempDir();
    await seedAccounts(dataDir, ['lo'], 'password-1');
    const mail = join(dataDir, 'mail', DOMAIN);
    const outside = tempDir('vmail-out-');
    mkdirSync(join(mail, '.add-999', 'cur'), { recursive: true });
    symlinkSync(outside, join(mail, '.add-999', 'new'));
    const d = await startDaemon({ dataDir });
    try {
      // The queued add (change 1) is staged at start despite the odd leftover.
      await waitFor(() => existsSync(join(mail, '.add-1', 'vmail-change')), 'change 1 staged at start', 5000);
      expect(existsSync(outside)).toBe(true);
      await waitFor(() => !existsSync(join(mail, '.add-999')), 'the leftover moved away', 5000);
      expect(lstatSync(join(dataDir, 'archive', DOMAIN, '.add-999', 'new')).isSymbolicLink()).toBe(true);
    } finally {
      await d.stop();
    }
  });

  it('a domain removed with its accounts while an add waits staged: nothing of the add is left, a re-added domain and name start empty', async () => {
    const d = await startDaemon({ domains: ['example.test', 'gone.test'] });
    try {
      const mail = join(d.dataDir, 'mail', 'gone.test');
      expect((await d.cli(['accounts', 'add', 'old@gone.test', '--password-stdin'], 'password-1\n')).code).toBe(0);
      expect(json(await d.cli(['pending', 'apply', '--json'])).failed).toEqual([]);
      expect((await smtpSend(d.smtpPort, 'old@gone.test', 'gone-old')).accepted).toBe(true);
      const r = await d.cli(['accounts', 'add', 'new@gone.test', '--password-stdin'], 'password-1\n');
      expect(r.code, r.stderr).toBe(0);
      await waitFor(() => readdirSync(mail).some((n) => n.startsWith('.add-')), 'staged');
      const rm = await d.cli(['domains', 'remove', 'gone.test', '--with-accounts']);
      const out = { code: rm.code, err: rm.stderr };
      const ap = json(await d.cli(['pending', 'apply', '--json']));
      await new Promise((res) => setTimeout(res, 1500));
      expect(out.code).toBe(0);
      expect(ap.failed).toEqual([]);
      const left = existsSync(mail) ? readdirSync(mail) : [];
      expect(left.filter((n) => n.startsWith('.add-'))).toEqual([]);
      const archived = readdirSync(join(d.dataDir, 'archive', 'gone.test'));
      const oldAt = archived.find((n) => n.startsWith('old'));
      expect(oldAt).toBeDefined();
      expect(maildirWith(join(d.dataDir, 'archive', 'gone.test', oldAt!), 'gone-old')).toHaveLength(1);
      // The domain back, the same names again: both start empty.
      expect((await d.cli(['domains', 'add', 'gone.test'])).code).toBe(0);
      expect(json(await d.cli(['pending', 'apply', '--json'])).failed).toEqual([]);
      for (const n of ['old', 'new'])
        expect((await d.cli(['accounts', 'add', `${n}@gone.test`, '--password-stdin'], 'password-2\n')).code).toBe(0);
      await waitFor(() => existsSync(mail) && stagedIn(mail).length === 2, 'staged again');
      expect(json(await d.cli(['pending', 'apply', '--json'])).failed).toEqual([]);
      for (const n of ['old', 'new'])
        expect((await pop3Login(d.pop3Port, `${n}@gone.test`, 'password-2')).stat).toEqual([0, 0]);
    } finally {
      await d.stop();
    }
  });
});

describe('hostile r10: many queued adds and a domain quota', () => {
  it('3,000 queued adds at start: POP3 answers while they are staged, one apply puts all in place', async () => {
    const dataDir = tempDir();
    const names = Array.from({ length: 3000 }, (_, i) => `u${i}`);
    await seedAccounts(dataDir, ['probe', ...names], 'password-1');
    const mail = join(dataDir, 'mail', DOMAIN);
    const d = await startDaemon({ dataDir });
    try {
      // POP3 answers (a refusal) while the adds are staged.
      expect((await pop3Login(d.pop3Port, `nobody@${DOMAIN}`, 'x')).ok).toBe(false);
      await waitFor(() => /adds staged adds=3001\b/.test(d.output()), 'all staged', 30_000);
      expect(stagedIn(mail)).toHaveLength(3001);
      const r = json(await d.cli(['pending', 'apply', '--json']));
      expect(r.failed).toEqual([]);
      expect(r.applied).toHaveLength(3001);
      await noWorkFolders(mail);
      expect(readdirSync(mail)).toHaveLength(3001);
      expect((await pop3Login(d.pop3Port, `u2999@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
      expect(existsSync(join(mail, 'u0', 'maildirsize'))).toBe(false);
    } finally {
      await d.stop();
    }
  }, 90_000);
});

describe('hostile r10: imports and an apply racing the staging', () => {
  it('an import add (importFrom) is not staged; its apply brings the mail, nothing left (an import onto a queued add is refused)', async () => {
    const d = await startDaemon({ args: ['--auth-failure-delay', '10ms'] });
    try {
      const mail = join(d.dataDir, 'mail', DOMAIN);
      const root = tempDir('tree-');
      const dir = join(root, DOMAIN, 'imp', 'Maildir');
      for (const f of ['new', 'cur', 'tmp']) mkdirSync(join(dir, f), { recursive: true });
      writeFileSync(join(dir, 'cur', '1700000002.M2P1.old:2,S'), 'Subject: imported\n\nimported\n');
      const passwd = join(root, 'passwd');
      writeFileSync(passwd, `imp@${DOMAIN}:{PLAIN}imp-pass-00001::::::\n`);
      // A queued plain add first: the import of the same name is refused, the add stays staged.
      expect((await d.cli(['accounts', 'add', 'pre', '--password-stdin'], 'password-1\n')).code).toBe(0);
      const r = await d.cli(['import', 'dovecot', '--passwd-file', passwd, '--maildirs', root]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      await waitFor(
        () => existsSync(mail) && readdirSync(mail).some((n) => n.startsWith('.add-')),
        'the plain add staged',
      );
      await new Promise((res) => setTimeout(res, 1500));
      expect(stagedIn(mail)).toHaveLength(1);
      const ap = json(await d.cli(['pending', 'apply', '--json']));
      expect(ap.failed).toEqual([]);
      expect((await pop3Login(d.pop3Port, `imp@${DOMAIN}`, 'imp-pass-00001')).stat?.[0]).toBe(1);
      expect((await pop3Login(d.pop3Port, `pre@${DOMAIN}`, 'password-1')).stat).toEqual([0, 0]);
      await noWorkFolders(mail, 5000);
      expect(existsSync(join(d.dataDir, 'archive'))).toBe(false);
    } finally {
      await d.stop();
    }
  });

  it('apply now right after a start with 2,000 queued adds (staging under way): all applied, no leftovers, all log in', async () => {
    const dataDir = tempDir();
    const names = Array.from({ length: 2000 }, (_, i) => `r${i}`);
    await seedAccounts(dataDir, names, 'password-1');
    const mail = join(dataDir, 'mail', DOMAIN);
    const d = await startDaemon({ dataDir });
    try {
      const ap = json(await d.cli(['pending', 'apply', '--json']));
      expect(ap.failed).toEqual([]);
      expect(ap.applied).toHaveLength(2000);
      await noWorkFolders(mail, 15_000);
      expect(readdirSync(mail)).toHaveLength(2000);
      for (const n of ['r0', 'r999', 'r1999']) {
        expect((await smtpSend(d.smtpPort, `${n}@${DOMAIN}`, `race-${n}`)).accepted).toBe(true);
        expect(maildirWith(join(mail, n), `race-${n}`)).toHaveLength(1);
        expect((await pop3Login(d.pop3Port, `${n}@${DOMAIN}`, 'password-1')).stat?.[0]).toBe(1);
      }
    } finally {
      await d.stop();
    }
  }, 60_000);
});
