// postmaster (issue 24 item 5, RFC 5321 4.5.1): --postmaster receives postmaster@ every hosted
// domain that has no postmaster account or forward of its own, and the bare <postmaster>; a
// domain's own postmaster keeps its mail. Checked by effect: the mail is in the configured
// account's mailbox (POP3), or reaches the relay for an address elsewhere; `vmail setup`
// writes the setting.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, runCli, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { smtplib } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';
import { TestRelay } from '../helpers/relay.js';

const note = (subject: string) => `From: a@example.org\nSubject: ${subject}\n\nfor the postmaster\n`;

async function setup(d: DaemonHandle, accounts: string[], forwards: [string, string][] = []): Promise<void> {
  for (const a of accounts) {
    const r = await d.cli(['accounts', 'add', a, '--password-stdin'], 'password-1\n');
    expect(r.code, r.stderr).toBe(0);
  }
  for (const [f, to] of forwards) expect((await d.cli(['forwards', 'add', f, to])).code).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
}

/** The subjects of the messages in a mailbox, read with POP3 RETR. */
async function subjects(d: DaemonHandle, user: string): Promise<string[]> {
  const c = await RawPop3.open(d.pop3Port);
  await c.login(user, 'password-1');
  const n = Number((await c.ok('STAT')).split(' ')[1]);
  const out: string[] = [];
  for (let i = 1; i <= n; i++)
    out.push(/^Subject: (.*)$/m.exec((await c.multi(`RETR ${i}`)).body.toString('latin1'))?.[1].trim() ?? '');
  await c.quit();
  return out.sort();
}

describe('--postmaster naming a hosted account', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon({
      domains: ['example.test', 'other.test', 'own.test', 'fwd.test'],
      args: ['--postmaster', 'Admin@example.test'],
    });
    await setup(
      d,
      ['admin@example.test', 'postmaster@own.test', 'boss@own.test'],
      [['postmaster@fwd.test', 'boss@own.test']],
    );
  }, 30_000);
  afterAll(async () => {
    await d?.stop();
  });

  it('postmaster@ a domain without one, in any case, and the bare <postmaster> reach it; a domain with its own keeps its mail', async () => {
    for (const [to, subject] of [
      ['postmaster@other.test', 'other'],
      ['PostMaster@Other.TEST', 'other-upper'],
      ['postmaster@example.test', 'example'],
      ['postmaster', 'bare'],
      ['postmaster@own.test', 'own'],
      ['postmaster@fwd.test', 'fwd'],
    ]) {
      const r = await smtplib(d.smtpPort, 'a@example.org', [to], note(subject));
      expect(r.ok, `${to}: ${JSON.stringify(r)}`).toBe(true);
    }
    expect(await subjects(d, 'admin@example.test')).toEqual(['bare', 'example', 'other', 'other-upper']);
    expect(await subjects(d, 'postmaster@own.test')).toEqual(['own']);
    expect(await subjects(d, 'boss@own.test')).toEqual(['fwd']);
  });

  it('other names of a domain without one are still refused (postmaster is not a catch-all)', async () => {
    const r = await smtplib(d.smtpPort, 'a@example.org', ['hostmaster@other.test'], note('x'));
    expect(r.refused?.['hostmaster@other.test']?.[0]).toBe(550);
  });
});

describe('--postmaster elsewhere, and bad values', () => {
  it('an address elsewhere gets the mail through the relay', async () => {
    const relay = new TestRelay();
    await relay.listen();
    const d = await startDaemon({
      domains: ['example.test'],
      args: ['--postmaster', 'root@far.example', '--relay', `smtp://127.0.0.1:${relay.port}`],
    });
    for (const to of ['postmaster@example.test', 'postmaster']) {
      const r = await smtplib(d.smtpPort, 'a@example.org', [to], note(`to ${to}`));
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    await waitFor(() => relay.received.length === 2, 'both copies at the relay', 20_000);
    expect(relay.received.map((m) => m.to)).toEqual([['root@far.example'], ['root@far.example']]);
    expect(relay.received[0].data.toString()).toMatch(/^Delivered-To: postmaster@example\.test\r\n/);
    await d.stop();
    await relay.close();
  });

  it('--postmaster naming a postmaster@ that has none does not loop: 550 with the reason, the daemon stays up', async () => {
    const d = await startDaemon({
      domains: ['example.test', 'other.test'],
      args: ['--postmaster', 'postmaster@other.test'],
    });
    const r = await smtplib(
      d.smtpPort,
      'a@example.org',
      ['postmaster@example.test', 'postmaster@other.test'],
      note('loop'),
    );
    expect(r.refused?.['postmaster@example.test']).toEqual([
      550,
      '5.1.1 <postmaster@example.test>: the postmaster address postmaster@other.test is not an account or forward here',
    ]);
    expect(r.refused?.['postmaster@other.test']?.[0]).toBe(550);
    expect((await d.cli(['status'])).code).toBe(0);
    await d.stop();
  });

  it('SIGHUP applies a new postmaster from the settings file', async () => {
    const dir = tempDir();
    const conf = join(dir, 'vmail.conf');
    writeFileSync(conf, 'postmaster = "first@example.test"\n');
    const d = await startDaemon({ dataDir: dir, args: ['--config', conf] });
    await setup(d, ['first', 'second']);
    expect((await smtplib(d.smtpPort, 'a@example.org', ['postmaster'], note('one'))).ok).toBe(true);
    writeFileSync(conf, 'postmaster = "second@example.test"\n');
    d.proc.kill('SIGHUP');
    await waitFor(() => /daemon reloaded changed=postmaster/.test(d.output()), 'the reload');
    expect((await smtplib(d.smtpPort, 'a@example.org', ['postmaster@example.test'], note('two'))).ok).toBe(true);
    expect([await subjects(d, 'first'), await subjects(d, 'second')]).toEqual([['one'], ['two']]);
    await d.stop();
  });

  it('a value that is not an address is a config error (exit 78)', async () => {
    for (const bad of ['root', 'root@', 'a b@example.com', 'root@example.com\r\nRCPT TO:<x@y>']) {
      const r = await startDaemon({ args: ['--postmaster', bad] }).then(
        () => 'started',
        (err: Error) => err.message,
      );
      expect(r).toMatch(/--postmaster .*: write an address like/);
      expect(r).toMatch(/exited with 78/);
    }
  });
});

describe('vmail setup', () => {
  it("writes postmaster = root@HOSTNAME, or --postmaster's address, and the daemon reads it", async () => {
    for (const [extra, want] of [
      [[], 'root@mail.example.com'],
      [['--postmaster', 'hostmaster@example.net'], 'hostmaster@example.net'],
    ] as const) {
      const root = tempDir();
      const r = await runCli([
        'setup',
        '--domain',
        'example.com',
        '--hostname',
        'mail.example.com',
        '--root',
        root,
        ...extra,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const conf = join(root, 'etc/vmail/vmail.conf');
      expect(readFileSync(conf, 'utf8')).toMatch(new RegExp(`^postmaster = "${want.replace('.', '\\.')}"$`, 'm'));
      const check = await runCli(['config', 'check', '--config', conf, '--json']);
      expect(check.stdout).toContain(want);
    }
    const bad = await runCli([
      'setup',
      '--domain',
      'example.com',
      '--postmaster',
      'nobody',
      '--root',
      tempDir(),
      '--dry-run',
    ]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/^vmail: --postmaster "nobody": write an address like root@\S+\n$/);
  });
});
