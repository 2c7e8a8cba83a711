// International domains by their effect: `domains add bücher.test` stores the A-label
// (xn--bcher-kva.test, by url.domainToASCII); every command that takes a domain or an address
// takes either form; mail to info@xn--bcher-kva.test (smtplib) and, with SMTPUTF8, to
// info@bücher.test lands in the one Maildir and is served by POP3 (poplib). And the attacker's
// names: fullwidth and upper case, a confusable, an emoji, an A-label past 253 characters, a
// broken xn-- label.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon } from '../helpers/daemon.js';
import { smtplib } from '../helpers/effects.js';

const run = promisify(execFile);
const A = 'xn--bcher-kva.test';
const U = 'bücher.test';

let d: DaemonHandle;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await d.cli(args, input);
  expect(r.code, `vmail ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function refused(args: string[]): Promise<string> {
  const r = await d.cli(args);
  expect(r.code, `vmail ${args.join(' ')} should be refused: ${r.stdout}`).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  return r.stderr;
}

const domains = async () =>
  (JSON.parse(await ok(['domains', 'list', '--json'])) as { domain: string }[]).map((r) => r.domain).sort();

/** Every message of a mailbox, as poplib reads it. */
async function pop3(user: string): Promise<string[]> {
  const { stdout } = await run('python3', [
    join(ROOT, 'test/helpers/fetch_pop3.py'),
    String(d.pop3Port),
    user,
    'password-1',
  ]);
  return (JSON.parse(stdout).messages as { data: string }[]).map((m) => Buffer.from(m.data, 'base64').toString());
}

/** Sends with SMTPUTF8 (RFC 6531) to a Unicode address; the server's answer as JSON. */
async function sendUtf8(to: string, subject: string): Promise<{ ok: boolean; smtputf8: boolean; error?: string }> {
  const py = `
import json, smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)
s.ehlo()
out = {'smtputf8': s.has_extn('smtputf8')}
msg = ('From: a@elsewhere.example\\r\\nTo: %s\\r\\nSubject: %s\\r\\n\\r\\nhi\\r\\n' % (sys.argv[2], sys.argv[3])).encode()
try:
    s.sendmail('a@elsewhere.example', [sys.argv[2]], msg, mail_options=['SMTPUTF8'])
    out['ok'] = True
except smtplib.SMTPException as e:
    out['ok'] = False
    out['error'] = str(e)
s.quit()
print(json.dumps(out))`;
  const { stdout } = await run('python3', ['-c', py, String(d.smtpPort), to, subject]);
  return JSON.parse(stdout);
}

describe('international domains', () => {
  beforeAll(async () => {
    d = await startDaemon();
  });

  it('adds bücher.test as its A-label; the A-label again, or ＢÜCHER.test, is the same domain', async () => {
    await ok(['domains', 'add', U]);
    expect(await refused(['domains', 'add', A])).toMatch(/already/);
    expect(await refused(['domains', 'add', 'ＢÜCHER.test'])).toMatch(/already/);
    await ok(['pending', 'apply']);
    expect(await domains()).toEqual(['example.test', A]);
    expect(await refused(['domains', 'add', 'BÜCHER.TEST.'])).toMatch(/already/);
  });

  it('takes either form in accounts, forwards and domain settings', async () => {
    await ok(['accounts', 'add', `info@${U}`, '--password-stdin'], 'password-1\n');
    await ok(['forwards', 'add', `fw@${A}`, `info@${U}`]);
    await ok(['domains', 'catchall', 'ＢÜCHER.test', 'info']);
    await ok(['pending', 'apply']);
    const accounts = JSON.parse(await ok(['accounts', 'list', '--json', '--domain', U])) as { address: string }[];
    expect(accounts.map((a) => a.address)).toEqual([`info@${A}`]);
    const forwards = JSON.parse(await ok(['forwards', 'list', '--json'])) as {
      address: string;
      destinations: string[];
    }[];
    expect(forwards.find((f) => f.address === `fw@${A}`)?.destinations).toEqual([`info@${A}`]);
    const [row] = (
      JSON.parse(await ok(['domains', 'list', '--json'])) as { domain: string; catchall: string }[]
    ).filter((r) => r.domain === A);
    expect(row.catchall).toBe('info');
    // The account is one: adding it again under the other form is refused.
    const again = await d.cli(['accounts', 'add', `info@${A}`, '--password-stdin'], 'password-1\n');
    expect(again.code).toBe(1);
  });

  it('delivers mail to info@xn--bcher-kva.test, and with SMTPUTF8 to info@bücher.test; POP3 serves both', async () => {
    const sent = await smtplib(
      d.smtpPort,
      'a@elsewhere.example',
      [`info@${A}`],
      `From: a@elsewhere.example\nTo: info@${A}\nSubject: idn-alabel\n\nhello\n`,
    );
    expect(sent.ok, JSON.stringify(sent)).toBe(true);
    const utf8 = await sendUtf8(`info@${U}`, 'idn-ulabel');
    expect(utf8.smtputf8).toBe(true);
    expect(utf8.ok, utf8.error).toBe(true);
    // The forward (fw@, named by its A-label) and the catch-all (any@, by its U-label) land there too.
    expect((await sendUtf8(`fw@${U}`, 'idn-forward')).ok).toBe(true);
    expect((await sendUtf8(`nobody@${U}`, 'idn-catchall')).ok).toBe(true);
    expect(readdirSync(join(d.dataDir, 'mail', A, 'info', 'new'))).toHaveLength(4);
    for (const user of [`info@${A}`, `info@${U}`]) {
      const messages = await pop3(user);
      for (const subject of ['idn-alabel', 'idn-ulabel', 'idn-forward', 'idn-catchall'])
        expect(messages.some((m) => m.includes(`Subject: ${subject}`))).toBe(true);
    }
  });

  it('stores confusable and emoji names as their A-labels, nothing more', async () => {
    await ok(['domains', 'add', 'pаypal.test']); // a Cyrillic "а"
    await ok(['domains', 'add', '😀.test']);
    await ok(['pending', 'apply']);
    const all = await domains();
    expect(all).toContain('xn--pypal-4ve.test');
    expect(all).toContain('xn--e28h.test');
    expect(all).not.toContain('paypal.test');
    // Mail for the look-alike's Latin twin is not ours.
    const foreign = await smtplib(d.smtpPort, 'a@elsewhere.example', ['x@paypal.test'], 'Subject: x\n\nx\n');
    expect(foreign.refused?.['x@paypal.test']?.[0]).toBe(550);
  });

  it('refuses with one clear line what domainToASCII refuses, and an A-label over 253 characters', async () => {
    const long = `${Array(5).fill('ü'.repeat(50)).join('.')}.test`;
    expect(await refused(['domains', 'add', long])).toMatch(/289 characters long; at most 253/);
    expect(await refused(['domains', 'add', 'xn--zz.test'])).toMatch(/not a valid domain name/);
    expect(await refused(['domains', 'add', `${'ü'.repeat(60)}.test`])).toMatch(/not a valid domain name/);
    expect(await refused(['domains', 'add', 'bad_name.test'])).toMatch(/not a valid domain name/);
    expect(await refused(['domains', 'add', 'a\u0007b.test'])).toMatch(/not a valid domain name/);
    // What a URL parser would drop or decode is refused, not made into another name.
    expect(await refused(['domains', 'add', 'ex%61mple.test'])).toMatch(/not a valid domain name/);
    expect(await refused(['domains', 'add', 'ev\til.test'])).toMatch(/not a valid domain name/);
    expect(await refused(['accounts', 'add', 'bob@ex%61mple.test', '--password-stdin'])).toMatch(/not a domain hosted/);
    expect(await refused(['accounts', 'add', 'bob@xn--zz.test', '--password-stdin'])).toMatch(/not a domain hosted/);
    expect(await domains()).toEqual(['example.test', 'xn--e28h.test', A, 'xn--pypal-4ve.test'].sort());
  });

  afterAll(async () => {
    await d?.stop();
  });
});
