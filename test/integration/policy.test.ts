// Mailbox policy, each by its effect with real clients: quotas that smtplib hits (452, then the
// mail arrives once poplib has freed space), the Maildir++ quota file as Dovecot's own quota
// plugin reads it (doveadm), suspended accounts that poplib cannot open while smtplib still
// delivers, catch-all, domain defaults, and settings that merge while pending.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtplib } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';

const run = promisify(execFile);
afterAll(cleanUp);

const PASSWORD = 'password-1';
let d: DaemonHandle;

/** A message of about `kb` KB whose subject is `marker`. */
const message = (marker: string, kb = 1) =>
  `From: alice@example.org\nTo: x@example.test\nSubject: ${marker}\n\n${`${'x'.repeat(99)}\n`.repeat(kb * 10)}`;

const box = (name: string) => join(d.dataDir, 'mail/example.test', name);

async function ok(args: string[], input?: string): Promise<string> {
  const r = await d.cli(args, input);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const account = async (name: string) =>
  JSON.parse(await ok(['accounts', 'list', '--json'])).find((a: { name: string }) => a.name === name);

beforeAll(async () => {
  d = await startDaemon();
  for (const name of ['small', 'sus', 'mute', 'catchbox', 'merge'])
    await ok(['accounts', 'add', name, '--password-stdin'], `${PASSWORD}\n`);
  await ok(['forwards', 'add', 'fw', 'small@example.test']);
  await ok(['pending', 'apply']);
}, 30_000);
afterAll(() => d.stop());

describe('quotas', () => {
  it('mail past the quota gets 452 4.2.2, and arrives once POP3 has freed space; a forwarded copy waits', async () => {
    expect(await ok(['accounts', 'quota', 'small', '10K'])).toMatch(/^Queued: quota change small@example\.test/);
    await ok(['pending', 'apply']);
    expect(await account('small')).toMatchObject({ quota: 10240, quotaMessages: null, used: 0 });

    expect((await smtplib(d.smtpPort, 'alice@example.org', ['small@example.test'], message('first', 6))).ok).toBe(true);
    // The second does not fit. smtplib announces its size (MAIL FROM SIZE=), so it is refused
    // at RCPT; nodemailer does not, so it is refused after DATA; either way temporarily, and
    // nothing is stored.
    const second = await smtplib(d.smtpPort, 'alice@example.org', ['small@example.test'], message('second', 6));
    expect(second.refused?.['small@example.test']).toEqual([
      452,
      '4.2.2 <small@example.test>: mailbox full, try again later',
    ]);
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: d.smtpPort, secure: false, ignoreTLS: true });
    const late = await t
      .sendMail({ envelope: { from: 'a@example.org', to: ['small@example.test'] }, raw: message('second', 6) })
      .catch((err: { responseCode: number; response: string }) => err);
    t.close();
    expect([late.responseCode, late.response]).toEqual([
      452,
      '452 4.2.2 <small@example.test>: mailbox full, try again later',
    ]);
    // One that can never fit is refused for good.
    const huge = await smtplib(d.smtpPort, 'alice@example.org', ['small@example.test'], message('huge', 12));
    expect(huge.refused?.['small@example.test'][0]).toBe(552);
    // A copy forwarded to it waits in the queue like any temporary failure.
    expect((await smtplib(d.smtpPort, 'alice@example.org', ['fw@example.test'], message('via-fw', 6))).ok).toBe(true);
    const waiting = await waitFor(async () => {
      const q = JSON.parse(await ok(['queue', 'list', '--json']));
      return q.find((e: { lastError: string | null }) => e.lastError?.startsWith('452 4.2.2'));
    }, 'the forwarded copy to be deferred');
    expect(maildirWith(box('small'), 'second')).toHaveLength(0);

    // poplib fetches and deletes what is there; the sender's retry then gets in.
    const p = await RawPop3.open(d.pop3Port);
    await p.login('small', PASSWORD);
    expect(await p.cmd('DELE 1')).toMatch(/^\+OK/);
    await p.quit();
    await waitFor(async () => (await account('small')).used === 0, 'the mailbox to be empty');
    expect((await smtplib(d.smtpPort, 'alice@example.org', ['small@example.test'], message('second', 6))).ok).toBe(
      true,
    );
    expect(maildirWith(box('small'), 'second')).toHaveLength(1);
    // Once that is fetched too, the waiting forward goes in on its next attempt.
    const p2 = await RawPop3.open(d.pop3Port);
    await p2.login('small', PASSWORD);
    await p2.cmd('DELE 1');
    await p2.quit();
    await waitFor(async () => (await account('small')).used === 0, 'the mailbox to be empty again');
    await ok(['queue', 'retry', waiting.id]);
    await waitFor(() => maildirWith(box('small'), 'via-fw').length === 1, 'the forwarded copy');
  });

  it('keeps maildirsize up to date, and Dovecot’s quota plugin reads the same limit and usage', async () => {
    await ok(['accounts', 'quota', 'merge', '20K', '--messages', '5']);
    await ok(['pending', 'apply']);
    for (const m of ['one', 'two'])
      expect((await smtplib(d.smtpPort, 'a@example.org', ['merge@example.test'], message(m, 3))).ok).toBe(true);
    const used = await waitFor(async () => {
      const a = await account('merge');
      return a.messages === 2 ? a : null;
    }, 'two messages');
    const text = await waitFor(() => {
      const t = readFileSync(join(box('merge'), 'maildirsize'), 'utf8');
      return t.endsWith(` 2\n`) ? t : null;
    }, 'maildirsize to count both');
    expect(text).toBe(`20480S,5C\n${used.used} 2\n`);

    // Dovecot, with quota = maildir on a copy of that Maildir (its userdb may not give uid 0),
    // reports the limit and usage vmail wrote.
    const dir = tempDir('dovecot-');
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'run'));
    cpSync(box('merge'), join(dir, 'Maildir'), { recursive: true, preserveTimestamps: true });
    const [uid, gid] = process.getuid!() === 0 ? [65534, 65534] : [process.getuid!(), process.getgid!()];
    if (process.getuid!() === 0) await run('chown', ['-R', `${uid}:${gid}`, join(dir, 'Maildir')]);
    const conf = join(dir, 'dovecot.conf');
    writeFileSync(
      conf,
      [
        `base_dir = ${dir}/run`,
        'protocols =',
        'ssl = no',
        `log_path = ${dir}/dovecot.log`,
        'mail_plugins = quota',
        `mail_location = maildir:${dir}/Maildir`,
        'passdb {\n  driver = static\n  args = password=x\n}',
        `userdb {\n  driver = static\n  args = uid=${uid} gid=${gid} home=${dir}\n}`,
        'plugin {\n  quota = maildir:User quota\n}',
        '',
      ].join('\n'),
    );
    // It goes to the background: its stdio is not ours to wait for.
    execFileSync('dovecot', ['-c', conf], { stdio: 'ignore' });
    let stdout: string;
    try {
      ({ stdout } = await run('doveadm', ['-c', conf, '-f', 'tab', 'quota', 'get', '-u', 'merge']));
    } finally {
      await run('doveadm', ['-c', conf, 'stop']);
    }
    const rows = stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'));
    // Quota name, Type, Value, Limit, %: storage in KiB (rounded up), messages as a count.
    expect(rows, text).toContainEqual([
      'User quota',
      'STORAGE',
      String(Math.ceil(used.used / 1024)),
      '20',
      expect.any(String),
    ]);
    expect(rows).toContainEqual(['User quota', 'MESSAGE', '2', '5', '40']);
  });

  it('a domain default applies to new accounts; a quota below what a mailbox holds is allowed and says so', async () => {
    await ok(['domains', 'quota', 'example.test', '2M']);
    await ok(['accounts', 'add', 'newbie', '--password-stdin'], `${PASSWORD}\n`);
    await ok(['pending', 'apply']);
    expect(await account('newbie')).toMatchObject({ quota: 2 * 1024 * 1024 });
    expect(await account('sus')).toMatchObject({ quota: null });
    expect(JSON.parse(await ok(['domains', 'list', '--json']))[0]).toMatchObject({ quota: 2 * 1024 * 1024 });
    expect((await smtplib(d.smtpPort, 'a@example.org', ['sus@example.test'], message('big', 5))).ok).toBe(true);
    expect(await ok(['accounts', 'quota', 'sus', '1K'])).toMatch(
      /Note: sus@example\.test holds [\d.]+ KB, more than that: its new mail waits until mail is fetched\./,
    );
    await ok(['accounts', 'quota', 'sus', 'none']);
    await ok(['domains', 'quota', 'example.test', 'none']);
    await ok(['pending', 'apply']);
    const bad = await d.cli(['accounts', 'quota', 'sus', 'lots']);
    expect([bad.code, bad.stderr.trim()]).toEqual([
      1,
      'vmail: quota "lots": write a size from 1K to 1P like 25M or 2G, or none',
    ]);
  });
});

describe('suspend', () => {
  it('a suspended account cannot log in (poplib sees why) and its open session ends; its mail is still kept', async () => {
    const open = await RawPop3.open(d.pop3Port);
    await open.login('sus', PASSWORD);
    await ok(['accounts', 'suspend', 'sus']);
    await ok(['pending', 'apply']);
    await waitFor(() => open.closed, 'the open session to end');
    const login = await pop3Login(d.pop3Port, 'sus', PASSWORD);
    expect(login).toMatchObject({ ok: false, error: expect.stringMatching(/\[SYS\/PERM\] This account is suspended/) });
    // A wrong password says nothing about the suspension.
    expect((await pop3Login(d.pop3Port, 'sus', 'wrong-password')).error).toMatch(/\[AUTH\] Authentication failed/);
    expect((await smtplib(d.smtpPort, 'a@example.org', ['sus@example.test'], message('kept while suspended'))).ok).toBe(
      true,
    );
    expect(maildirWith(box('sus'), 'kept while suspended')).toHaveLength(1);
    expect(await account('sus')).toMatchObject({ suspended: true, refuseMail: false });
    expect(await ok(['accounts', 'list'])).toMatch(/sus@example\.test .* suspended /);
    expect(d.output()).toMatch(/pop3 login refused user=sus@example\.test rip=127\.0\.0\.1 why=suspended/);

    await ok(['accounts', 'resume', 'sus']);
    await ok(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'sus', PASSWORD)).ok).toBe(true);
  });

  it('with --refuse-mail its mail gets 550 5.2.1, and nothing is stored', async () => {
    await ok(['accounts', 'suspend', 'mute', '--refuse-mail']);
    await ok(['pending', 'apply']);
    const r = await smtplib(d.smtpPort, 'a@example.org', ['mute@example.test'], message('refused'));
    expect(r.refused?.['mute@example.test']).toEqual([550, '5.2.1 <mute@example.test>: mailbox disabled']);
    expect(maildirWith(box('mute'), 'refused')).toHaveLength(0);
    expect(await ok(['accounts', 'list'])).toMatch(/mute@example\.test .* suspended, mail refused/);
  });
});

describe('catch-all', () => {
  it('mail for an unknown name goes to the catch-all; none refuses it again; loops and bad targets are refused', async () => {
    expect(await ok(['domains', 'catchall', 'example.test', 'catchbox'])).toMatch(/catch-all change example\.test/);
    // Until it applies, unknown names are still refused.
    const before = await smtplib(d.smtpPort, 'a@example.org', ['nobody@example.test'], message('too early'));
    expect(before.refused?.['nobody@example.test'][0]).toBe(550);
    await ok(['pending', 'apply']);
    expect((await smtplib(d.smtpPort, 'a@example.org', ['nobody@example.test'], message('for nobody'))).ok).toBe(true);
    const [got] = maildirWith(box('catchbox'), 'for nobody');
    expect(got).toMatch(/^Return-Path: <a@example\.org>\r\nDelivered-To: catchbox@example\.test\r\n/);
    expect(JSON.parse(await ok(['domains', 'list', '--json']))[0]).toMatchObject({ catchall: 'catchbox' });
    // The catch-all account cannot be removed while it is one.
    const remove = await d.cli(['accounts', 'remove', 'catchbox']);
    expect(remove.stderr).toMatch(/is the catch-all of example\.test: change that first/);

    // A forward that sends to an unknown name would loop through a catch-all that is that forward.
    await ok(['forwards', 'add', 'loopy', 'ghost@example.test']);
    await ok(['pending', 'apply']);
    const loop = await d.cli(['domains', 'catchall', 'example.test', 'loopy']);
    expect([loop.code, loop.stderr.trim()]).toEqual([
      1,
      'vmail: that catch-all would make a loop: loopy@example.test -> ghost@example.test -> loopy@example.test',
    ]);
    const unknown = await d.cli(['domains', 'catchall', 'example.test', 'nobody']);
    expect(unknown.stderr).toMatch(/"nobody" is not an account or forward of example\.test/);

    await ok(['domains', 'catchall', 'example.test', 'none']);
    await ok(['pending', 'apply']);
    const after = await smtplib(d.smtpPort, 'a@example.org', ['nobody@example.test'], message('after'));
    expect(after.refused?.['nobody@example.test']).toEqual([550, '5.1.1 <nobody@example.test>: no such user here']);
  });
});

describe('rename', () => {
  it('moves the Maildir with its mail: same UIDLs (mpop keeping mail on the server fetches nothing again), same password, the old name forwards for a while', async () => {
    await ok(['accounts', 'add', 'oldname', '--password-stdin'], `${PASSWORD}\n`);
    await ok(['pending', 'apply']);
    for (const m of ['r1', 'r2'])
      expect((await smtplib(d.smtpPort, 'a@example.org', ['oldname@example.test'], message(m))).ok).toBe(true);
    const uidlsBefore = await uidls('oldname');
    expect(uidlsBefore).toHaveLength(2);

    // mpop, leaving mail on the server, fetches both once.
    const dir = tempDir('mpop-');
    mkdirSync(join(dir, 'Maildir/new'), { recursive: true });
    mkdirSync(join(dir, 'Maildir/cur'));
    mkdirSync(join(dir, 'Maildir/tmp'));
    const rc = join(dir, 'mpoprc');
    const mpoprc = (user: string) =>
      writeFileSync(
        rc,
        `defaults\ntls off\nauth user\naccount vm\nhost 127.0.0.1\nport ${d.pop3Port}\nuser ${user}\npassword ${PASSWORD}\nkeep on\nuidls_file ${dir}/uidls\ndelivery maildir ${dir}/Maildir\n`,
        { mode: 0o600 },
      );
    mpoprc('oldname');
    expect((await run('mpop', ['-C', rc, 'vm'])).stdout).toMatch(/new: 2 messages/);
    expect((await run('mpop', ['-C', rc, 'vm'])).stdout).toMatch(/new: no messages/);

    // Refused: onto an account, a forward, or a name a pending change holds.
    const onto = async (name: string) => (await d.cli(['accounts', 'rename', 'oldname', name])).stderr.trim();
    expect(await onto('catchbox')).toBe('vmail: catchbox@example.test is an account: pick a name that is free');
    expect(await onto('fw')).toBe('vmail: fw@example.test is a forwarding address: pick a name that is free');
    await ok(['accounts', 'add', 'held', '--password-stdin'], `${PASSWORD}\n`);
    expect(await onto('held')).toBe(
      'vmail: held@example.test is a name with a pending change: pick a name that is free',
    );
    await ok(['pending', 'cancel', JSON.parse(await ok(['pending', 'list', '--json']))[0].id]);

    expect(await ok(['accounts', 'rename', 'oldname', 'newname', '--keep-forward', '30d'])).toMatch(
      /^Queued: rename oldname@example\.test, applies at .* -> newname@example\.test/,
    );
    expect(await ok(['pending', 'list'])).toMatch(/to newname; the old name forwards to it for 30 days/);
    // While it is pending, the new name is taken.
    const taken = await d.cli(['accounts', 'add', 'newname', '--password-stdin'], `${PASSWORD}\n`);
    expect(taken.stderr).toMatch(/newname@example\.test is the new name of a pending rename of oldname@example\.test/);
    await ok(['pending', 'apply']);

    expect(await uidls('newname')).toEqual(uidlsBefore);
    expect((await pop3Login(d.pop3Port, 'oldname', PASSWORD)).ok).toBe(false);
    expect(await account('newname')).toMatchObject({ messages: 2 });
    // The client, told the new user name, keeps its record of what it fetched (as mail clients
    // keep it per account): nothing is fetched again.
    mpoprc('newname');
    writeFileSync(join(dir, 'uidls'), readFileSync(join(dir, 'uidls'), 'utf8').replace(' oldname\n', ' newname\n'));
    expect((await run('mpop', ['-C', rc, 'vm'])).stdout).toMatch(/new: no messages, total: 2 messages/);

    // Mail to the old name reaches the new one through the forward, which says when it stops.
    expect((await smtplib(d.smtpPort, 'a@example.org', ['oldname@example.test'], message('r3'))).ok).toBe(true);
    await waitFor(() => maildirWith(box('newname'), 'Subject: r3').length === 1, 'r3 in newname');
    const fwd = JSON.parse(await ok(['forwards', 'list', '--json'])).find(
      (f: { name: string }) => f.name === 'oldname',
    );
    expect(fwd.destinations).toEqual(['newname@example.test']);
    expect(Date.parse(fwd.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
  });
});

/** The UIDL list of a mailbox, from poplib. */
async function uidls(user: string): Promise<string[]> {
  const { stdout } = await run('python3', [
    join(ROOT, 'test/helpers/fetch_pop3.py'),
    String(d.pop3Port),
    user,
    PASSWORD,
  ]);
  return JSON.parse(stdout).uidl;
}

describe('settings that merge while pending', () => {
  it('a password change, a quota and a suspension queued one after another all apply', async () => {
    await ok(['accounts', 'passwd', 'merge', '--password-stdin'], 'new-password-2\n');
    await ok(['accounts', 'quota', 'merge', '5M']);
    await ok(['accounts', 'suspend', 'merge']);
    const pending = JSON.parse(await ok(['pending', 'list', '--json']));
    expect(pending).toEqual([
      expect.objectContaining({
        address: 'merge@example.test',
        action: 'suspend',
        suspended: true,
        quota: { bytes: 5 * 1024 * 1024, messages: null },
      }),
    ]);
    expect(pending[0].passwordHash).toBeUndefined();
    await ok(['accounts', 'resume', 'merge']);
    await ok(['pending', 'apply']);
    expect(await account('merge')).toMatchObject({ quota: 5 * 1024 * 1024, suspended: false });
    expect((await pop3Login(d.pop3Port, 'merge', 'new-password-2')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'merge', PASSWORD)).ok).toBe(false);
  });

  it('status --json has per-domain totals', async () => {
    const s = JSON.parse(await ok(['status', '--json']));
    expect(s.domainTotals).toEqual([
      expect.objectContaining({ domain: 'example.test', accounts: 7, forwards: 3, pending: 0 }),
    ]);
    expect(s.domainTotals[0].messages).toBeGreaterThan(0);
  });
});

describe('undo before the apply', () => {
  it('a cancelled suspension, quota, rename and catch-all change nothing, by their effect', async () => {
    await ok(['accounts', 'add', 'keep', '--password-stdin'], `${PASSWORD}\n`);
    await ok(['pending', 'apply']);
    const cancel = async (address: string) => {
      const p = JSON.parse(await ok(['pending', 'list', '--json'])).find(
        (c: { address: string }) => c.address === address,
      );
      expect(await ok(['pending', 'cancel', p.id])).toMatch(/^Cancelled/);
    };
    for (const args of [
      ['accounts', 'suspend', 'keep', '--refuse-mail'],
      ['accounts', 'quota', 'keep', '1K'],
      ['accounts', 'rename', 'keep', 'kept'],
    ]) {
      await ok(args);
      await cancel('keep@example.test');
    }
    await ok(['domains', 'catchall', 'example.test', 'keep']);
    await cancel('example.test');
    expect(JSON.parse(await ok(['pending', 'list', '--json']))).toEqual([]);
    await ok(['pending', 'apply']);

    expect((await pop3Login(d.pop3Port, 'keep', PASSWORD)).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'kept', PASSWORD)).ok).toBe(false);
    expect((await smtplib(d.smtpPort, 'a@example.org', ['keep@example.test'], message('not capped', 3))).ok).toBe(true);
    const unknown = await smtplib(d.smtpPort, 'a@example.org', ['nobody@example.test'], message('x'));
    expect(unknown.refused?.['nobody@example.test']?.[0]).toBe(550);
  });
});
