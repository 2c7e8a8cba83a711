// Mail that today's Internet accepts, tested with real parts: forwarded copies leave with an
// SRS sender (a test relay as the next hop), bounces come back through it, vmail's own bounces
// are DKIM-signed (checked with dkimpy), and a real rspamd from Debian judges what arrives.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Srs } from '../../src/smtp/srs.js';
import { cleanUp, type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { mailbox, setup, smtplib } from '../helpers/effects.js';
import { brokenRelay, closedPort, TestRelay } from '../helpers/relay.js';
import { hasRspamd, TestRspamd } from '../helpers/rspamd.js';

afterAll(cleanUp);

const message = (subject: string, body = 'Hello there.', extra = '') =>
  `From: Alice <alice@example.org>\nTo: someone@example.test\nSubject: ${subject}\nMessage-ID: <${Math.random().toString(36).slice(2)}@example.org>\nDate: Sun, 29 Nov 2026 00:00:00 +0000\n${extra}\n${body}\n`;

describe('SRS on forwarded mail, and signed bounces', () => {
  let d: DaemonHandle;
  let relay: TestRelay;
  beforeAll(async () => {
    relay = new TestRelay();
    await relay.listen();
    // Lookups for ARC go to a closed port: they fail at once, as they would without a network.
    d = await startDaemon({
      args: ['--relay', `smtp://127.0.0.1:${relay.port}`, '--resolver', `127.0.0.1:${await closedPort()}`],
    });
    await setup(
      d,
      ['bob', 'carol'],
      [
        ['info', ['someone@far.example']],
        ['team', ['carol@example.test']],
      ],
    );
  }, 30_000);
  afterAll(async () => {
    await d.stop();
    await relay.close();
  });

  it('a copy forwarded elsewhere leaves with an SRS0 sender on the hosted domain; a bounce to it goes back to the original sender', async () => {
    expect((await smtplib(d.smtpPort, 'Alice.Smith@example.org', ['info@example.test'], message('hi'))).ok).toBe(true);
    const copy = await waitFor(
      () => relay.received.find((m) => m.to[0] === 'someone@far.example'),
      'the forwarded copy',
    );
    expect(copy.from).toMatch(/^SRS0=[^=]{8}=[A-Z2-7]{2}=example\.org=Alice\.Smith@example\.test$/);
    // The relay has the copy a moment before the daemon logs that it went.
    await waitFor(
      () => /queue relayed .*from=<Alice\.Smith@example\.org> sender="<SRS0=/.test(d.output()),
      'the log line',
    );

    // The next hop cannot deliver it and bounces to the SRS address: the bounce reaches Alice,
    // with her local part as she wrote it, and with the null sender a bounce has.
    const bounce = 'From: MAILER-DAEMON@far.example\nSubject: Undelivered\n\nno such user\n';
    expect((await smtplib(d.smtpPort, '', [copy.from], bounce)).ok).toBe(true);
    const back = await waitFor(() => relay.received.find((m) => m.to[0] === 'Alice.Smith@example.org'), 'the bounce');
    expect(back.from).toBe('');
    expect(back.data.toString()).toMatch(/Subject: Undelivered/);
    expect(d.output()).toMatch(/smtp accepted .*where=srs-return/);
  });

  it('a sender of our own domains, and a copy forwarded to a local account, keep the original sender', async () => {
    const before = relay.received.length;
    expect((await smtplib(d.smtpPort, 'bob@example.test', ['info@example.test'], message('ours'))).ok).toBe(true);
    const copy = await waitFor(
      () => relay.received.slice(before).find((m) => m.to[0] === 'someone@far.example'),
      'copy',
    );
    expect(copy.from).toBe('bob@example.test');
    expect((await smtplib(d.smtpPort, 'alice@example.org', ['team@example.test'], message('local'))).ok).toBe(true);
    const carol = await waitFor(() => mailbox(d, 'carol').find((m) => m.includes('Subject: local')), 'carol');
    expect(carol).toMatch(/^Return-Path: <alice@example\.org>\r\n/);
  });

  it('a tampered hash, an expired stamp or a made-up SRS address gets 550 5.1.1; a fresh one is accepted', async () => {
    const secret = Buffer.from(readFileSync(join(d.dataDir, 'srs-secret'), 'utf8').trim(), 'hex');
    const day = 86_400_000;
    const fresh = new Srs(secret, 21).forward('alice@example.org', 'example.test');
    const old = new Srs(secret, 21, () => Date.now() - 30 * day).forward('alice@example.org', 'example.test');
    const tampered = fresh.replace(/^SRS0=(.)/, (_, c) => `SRS0=${c === 'A' ? 'B' : 'A'}`);
    const forged = 'SRS0=abcd=AA=example.org=alice@example.test';
    const bounce = 'Subject: bounce\n\nx\n';
    for (const [to, why] of [
      [old, /SRS address expired \(made 30 days ago\)/],
      [tampered, /SRS address hash does not match/],
      [forged, /SRS address hash does not match/],
      ['SRS0=nonsense@example.test', /not a valid SRS address/],
    ] as const) {
      const r = await smtplib(d.smtpPort, '', [to], bounce);
      expect(r.ok, to).toBe(false);
      const [code, text] = r.refused![to];
      expect([code, text], to).toEqual([550, expect.stringMatching(/^5\.1\.1 /)]);
      expect(text).toMatch(why);
    }
    expect((await smtplib(d.smtpPort, '', [fresh], bounce)).ok).toBe(true);
  });

  it('vmail domains dkim makes a key and prints its record; bounces vmail writes carry a signature dkimpy verifies', async () => {
    const made = await d.cli(['domains', 'dkim', 'example.test', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const key = JSON.parse(made.stdout);
    expect(key).toMatchObject({
      domain: 'example.test',
      created: true,
      selector: expect.stringMatching(/^vmail\d{6}$/),
    });
    expect(key.name).toBe(`${key.selector}._domainkey.example.test`);
    expect(key.value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
    // The zone line splits the value into strings of at most 255 octets.
    const strings = [...key.zone.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    expect(strings.join('')).toBe(key.value);
    expect(Math.max(...strings.map((s) => s.length))).toBeLessThanOrEqual(255);
    // Asked again, it shows the same key; the same selector twice is refused.
    expect(JSON.parse((await d.cli(['domains', 'dkim', 'example.test', '--json'])).stdout)).toEqual({
      ...key,
      created: false,
    });
    const again = await d.cli(['domains', 'dkim', 'example.test', '--selector', key.selector]);
    expect([again.code, again.stderr]).toEqual([1, expect.stringMatching(/already has a key with selector/)]);
    const plain = await d.cli(['domains', 'dkim', 'example.test']);
    expect(plain.stdout).toContain(`${key.name}. IN TXT (`);
    expect((await d.cli(['domains', 'dkim', 'nothere.example'])).code).toBe(1);

    // bob's message to info cannot be delivered (the next hop refuses it): the bounce comes back
    // to bob, locally, from MAILER-DAEMON@example.test, signed with example.test's key.
    relay.mode = 550;
    try {
      expect((await smtplib(d.smtpPort, 'bob@example.test', ['info@example.test'], message('to fail'))).ok).toBe(true);
      const dsn = await waitFor(
        () => mailbox(d, 'bob').find((m) => m.includes('Undelivered Mail')),
        'the bounce',
        15_000,
      );
      expect(dsn).toMatch(/\r\nDKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.test;/);
      const verified = await dkimVerify(dsn, key.name, key.value);
      expect(verified).toEqual({
        ok: true,
        domain: 'example.test',
        selector: key.selector,
        signatures: [{ algorithm: 'rsa-sha256', ok: true, selector: key.selector }],
      });
      // The same check fails against another key: the verifier is not saying yes to anything.
      const other = await d.cli(['domains', 'dkim', 'example.test', '--selector', 'other', '--json']);
      expect((await dkimVerify(dsn, key.name, JSON.parse(other.stdout).value)).ok).toBe(false);
    } finally {
      relay.mode = 'accept';
    }
  });

  it('a copy forwarded elsewhere by a domain with a key is ARC-sealed, and dkimpy validates the chain', async () => {
    const key = JSON.parse((await d.cli(['domains', 'dkim', 'example.test', '--json'])).stdout);
    const before = relay.received.length;
    expect((await smtplib(d.smtpPort, 'alice@example.org', ['info@example.test'], message('sealed'))).ok).toBe(true);
    const copy = await waitFor(
      () => relay.received.slice(before).find((m) => m.to[0] === 'someone@far.example'),
      'copy',
    );
    const text = copy.data.toString('latin1');
    expect(text).toMatch(
      new RegExp(`^ARC-Seal: i=1; a=rsa-sha256; t=\\d+; cv=none; d=example\\.test;\\s+s=${key.selector};\r\n`),
    );
    expect(text).toMatch(/\r\nARC-Message-Signature: i=1; /);
    expect(text).toMatch(/\r\nARC-Authentication-Results: i=1; \S+;\r\n dkim=none/);
    expect(text).toMatch(/\r\nDelivered-To: info@example\.test\r\nReceived: /);
    await waitFor(() => /queue relayed .*arc=sealed/.test(d.output()), 'the log line');
    expect(await dkimpy('arc', text, key.name, key.value)).toMatchObject({ cv: 'pass' });
    // Changed on the way, the chain no longer validates.
    expect(await dkimpy('arc', text.replace('Subject: sealed', 'Subject: changed'), key.name, key.value)).toMatchObject(
      {
        cv: 'fail',
      },
    );
  });
});

describe('rspamd settings', () => {
  it('SIGHUP applies a new rspamd-fail from the settings file without a restart', async () => {
    const dir = tempDir();
    const conf = join(dir, 'vmail.conf');
    const url = `http://127.0.0.1:${await closedPort()}`;
    writeFileSync(conf, `rspamd = "${url}"\nrspamd-fail = "tempfail"\n`);
    const d = await startDaemon({ dataDir: dir, args: ['--config', conf] });
    await setup(d, ['sales']);
    expect((await smtplib(d.smtpPort, 'a@example.org', ['sales@example.test'], message('one'))).code).toBe(451);
    writeFileSync(conf, `rspamd = "${url}"\nrspamd-fail = "open"\n`);
    d.proc.kill('SIGHUP');
    await waitFor(() => /daemon reloaded changed=rspamd-fail/.test(d.output()), 'the reload');
    expect((await smtplib(d.smtpPort, 'a@example.org', ['sales@example.test'], message('two'))).ok).toBe(true);
    expect(JSON.parse((await d.cli(['status', '--json'])).stdout).spamFilter).toMatchObject({
      fail: 'open',
      unchecked: 1,
    });
    await d.stop();
  });
});

const dkimVerify = (data: string, name: string, value: string) =>
  dkimpy<{ ok: boolean; domain: string; selector: string }>('dkim', data, name, value);

function dkimpy<T>(mode: 'dkim' | 'arc', data: string, name: string, value: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [join(ROOT, 'test/helpers/dkim_verify.py'), mode, name, value]);
    let out = '';
    let err = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
    p.stdin.end(Buffer.from(data, 'latin1'));
  });
}

describe.skipIf(!hasRspamd)('spam filtering through a real rspamd', () => {
  const rspamd = new TestRspamd();
  let d: DaemonHandle;
  beforeAll(async () => {
    await rspamd.start();
    d = await startDaemon({ args: ['--rspamd', rspamd.url] });
    await setup(d, ['sales']);
  }, 120_000);
  afterAll(async () => {
    await d?.stop();
    await rspamd.stop();
  });

  it('GTUBE is refused with 550 5.7.1 and never stored; a soft reject is 451 4.7.1', async () => {
    const gtube = message('offer', 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X');
    const r = await smtplib(d.smtpPort, 'alice@example.org', ['sales@example.test'], gtube);
    expect([r.ok, r.code, r.error]).toEqual([false, 550, '5.7.1 Gtube pattern']);
    const deferred = await smtplib(
      d.smtpPort,
      'alice@example.org',
      ['sales@example.test'],
      message('vmail-test-defer'),
    );
    expect([deferred.code, deferred.error]).toEqual([451, '4.7.1 try later (test)']);
    expect(mailbox(d, 'sales')).toEqual([]);
    expect(d.output()).toMatch(/smtp refused .*code=550 reason="5\.7\.1 Gtube pattern"/);
  });

  it("a plain message is delivered with rspamd's headers, and the sender's forged ones are gone; spam is marked", async () => {
    const forged = 'X-Spam-Status: No, score=-100 (forged)\nX-Spamd-Result: forged\nX-Spam: No\n';
    expect(
      (await smtplib(d.smtpPort, 'alice@example.org', ['sales@example.test'], message('plain', 'Hi', forged))).ok,
    ).toBe(true);
    const spam = message('vmail-test-spammy offer');
    expect((await smtplib(d.smtpPort, 'alice@example.org', ['sales@example.test'], spam)).ok).toBe(true);
    const got = mailbox(d, 'sales');
    const plain = got.find((m) => m.includes('Subject: plain'))!;
    expect(plain).toMatch(/\r\nX-Spamd-Result: default: False \[-?\d+\.\d+ \/ 15\.00\];\r\n\t/);
    // vmail's own verdict, once: rspamd's milter_headers copy of X-Spam-Status is left out.
    expect(plain.match(/^X-Spam-Status: .*$/gm)).toEqual([
      expect.stringMatching(/^X-Spam-Status: No, score=-?\d+\.\d\d required=15\.00 action=no-action$/),
    ]);
    expect(plain).toMatch(/\r\nAuthentication-Results: /);
    expect(plain).not.toMatch(/forged|X-Spam: No/);
    expect(plain).toContain('\r\n\r\nHi\r\n');
    const marked = got.find((m) => m.includes('vmail-test-spammy'))!;
    expect(marked).toMatch(/\r\nX-Spam: Yes\r\n/);
    expect(marked).toMatch(/\r\nX-Spam-Status: Yes, score=\d+\.\d\d required=15\.00 action=add-header\r\n/);
    expect(marked).toMatch(
      /\r\nX-Spamd-Result: default: False \[\d+\.\d+ \/ 15\.00\];\r\n\t.*VMAIL_TEST_SPAMMY\(8\.00\)/s,
    );
    expect(d.output()).toMatch(/smtp accepted .*spam=add-header/);
    // rewrite subject: rspamd's new Subject: replaces the sender's, which appears once only.
    expect((await smtplib(d.smtpPort, 'a@example.org', ['sales@example.test'], message('vmail-test-rewrite'))).ok).toBe(
      true,
    );
    const rewritten = mailbox(d, 'sales').find((m) => m.includes('vmail-test-rewrite'))!;
    expect(rewritten.match(/^Subject: .*$/gm)).toEqual(['Subject: ***SPAM*** vmail-test-rewrite']);
    expect(rewritten).toMatch(/\r\nX-Spam: Yes\r\n/);
    // Each copy's name carries its size with CRLF line ends (POP3's LIST): the lines rspamd had
    // added, removed or replaced are counted in it as they are in the file.
    const dir = join(d.dataDir, 'mail/example.test/sales/new');
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'latin1');
      const crlf = text.replace(/\r?\n/g, '\r\n') + (text.endsWith('\n') ? '' : '\r\n');
      expect(f).toContain(`,W=${crlf.length}`);
    }
    const status = JSON.parse((await d.cli(['status', '--json'])).stdout);
    expect(status.spamFilter).toMatchObject({
      url: rspamd.url,
      state: 'up',
      fail: 'tempfail',
      rejected: 1,
      deferred: 1,
    });
    expect(status.spamFilter.checked).toBeGreaterThanOrEqual(5);
    expect((await d.cli(['status'])).stdout).toMatch(
      /spam filter: rspamd at \S+ up; \d+ checked, 1 rejected, 1 deferred; when down: tempfail/,
    );
  });

  it('rspamd stopped: 451 4.7.1 and a log line (tempfail), or accepted unchecked (open)', async () => {
    await rspamd.stop();
    const r = await smtplib(d.smtpPort, 'alice@example.org', ['sales@example.test'], message('while down'));
    expect([r.code, r.error]).toEqual([451, '4.7.1 The spam filter is unavailable: try again later']);
    expect(d.output()).toMatch(
      /spam filter unavailable id=\w+ error="nothing listens at http:\/\/127\.0\.0\.1:\d+\/checkv2" outcome=deferred/,
    );
    expect(JSON.parse((await d.cli(['status', '--json'])).stdout).spamFilter.state).toBe('down');
    expect(mailbox(d, 'sales').some((m) => m.includes('while down'))).toBe(false);

    const open = await startDaemon({ args: ['--rspamd', rspamd.url, '--rspamd-fail', 'open'] });
    await setup(open, ['sales']);
    expect((await smtplib(open.smtpPort, 'alice@example.org', ['sales@example.test'], message('open'))).ok).toBe(true);
    expect(open.output()).toMatch(/spam filter unavailable .*outcome="accepted unchecked"/);
    expect(mailbox(open, 'sales')).toHaveLength(1);
    await open.stop();

    // An rspamd that takes the connection and never answers is given up on after the bound.
    const silent = await brokenRelay('silent');
    const slow = await startDaemon({
      args: ['--rspamd', `http://127.0.0.1:${silent.port}`, '--rspamd-timeout', '1s'],
    });
    await setup(slow, ['sales']);
    const started = Date.now();
    const late = await smtplib(slow.smtpPort, 'alice@example.org', ['sales@example.test'], message('slow'));
    expect([late.code, late.error]).toEqual([451, '4.7.1 The spam filter is unavailable: try again later']);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(slow.output()).toMatch(
      /spam filter unavailable .*error="rspamd did not answer within 1000 ms" outcome=deferred/,
    );
    await slow.stop();
    silent.server.close();
  });
});

if (!hasRspamd)
  console.warn('rspamd tests skipped: /usr/bin/rspamd is not installed (Debian package rspamd; .ci/run installs it)');
