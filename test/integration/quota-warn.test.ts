// Quota warnings (issue 31 item 3, --quota-warn): smtplib fills a mailbox with a 10K quota;
// crossing 80% puts exactly one warning from postmaster@ into it (read with poplib), staying
// between 80% and 95% adds none, crossing 95% adds the second; a restart neither repeats nor
// forgets; POP3 DELE re-arms, and crossing 80% again warns again; the trail shows each. The
// attacker's side: a burst of deliveries crossing at once gives one warning; the admin's
// template is used with its placeholders, and a broken one falls back to the built-in text.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { setup, smtplib } from '../helpers/effects.js';

const run = promisify(execFile);
let d: DaemonHandle;

interface Fetched {
  stat: [number, number];
  messages: { octets: number; data: string }[];
}

/** Every message in the mailbox as poplib reads it (left on the server). */
async function fetch(user: string): Promise<{ bytes: number; texts: string[] }> {
  const r = await run('python3', [join(ROOT, 'test/helpers/fetch_pop3.py'), String(d.pop3Port), user, 'password-1']);
  const f = JSON.parse(r.stdout) as Fetched;
  return { bytes: f.stat[1], texts: f.messages.map((m) => Buffer.from(m.data, 'base64').toString('utf8')) };
}

const warningsIn = (texts: string[]) => texts.filter((t) => /^From: Postmaster <postmaster@example\.test>/m.test(t));

/** Waits until `user`'s mailbox holds `n` warnings; returns them. */
async function warnings(user: string, n: number): Promise<string[]> {
  return waitFor(async () => {
    const w = warningsIn((await fetch(user)).texts);
    return w.length >= n ? w : null;
  }, `${n} quota warnings for ${user}`);
}

async function deleteAll(user: string): Promise<void> {
  const r = await run('python3', [
    join(ROOT, 'test/helpers/pop3_fetch_delete.py'),
    String(d.pop3Port),
    user,
    'password-1',
  ]);
  expect(r.stdout).toMatch(/"quit": "\+OK/);
}

async function traceWarnings(address: string): Promise<{ detail: { percent: number; threshold: number } }[]> {
  const r = await d.cli(['trace', address, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { event: string; detail: { percent: number; threshold: number } }[])
    .filter((i) => i.event === 'quota-warning')
    .reverse();
}

/** A message whose body makes it about `bytes` long. */
const mail = (to: string, id: string, bytes: number) => {
  const head = `From: x@sender.example\r\nTo: ${to}\r\nSubject: fill ${id}\r\nMessage-ID: <${id}@sender.example>\r\n\r\n`;
  const line = `${'x'.repeat(78)}\r\n`;
  return head + line.repeat(Math.max(0, Math.floor((bytes - head.length) / line.length)));
};

async function send(to: string, id: string, bytes: number): Promise<void> {
  const r = await smtplib(d.smtpPort, 'x@sender.example', [to], mail(to, id, bytes));
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

/** Waits until poplib sees `id` in the mailbox; returns its size. */
async function arrived(user: string, id: string): Promise<number> {
  return waitFor(async () => {
    const f = await fetch(user);
    return f.texts.some((t) => t.includes(`<${id}@sender.example>`)) ? f.bytes : null;
  }, `${id} in ${user}`);
}

beforeAll(async () => {
  d = await startDaemon();
  await setup(d, ['alice', 'bob', 'carol']);
  for (const a of ['alice', 'bob', 'carol']) expect((await d.cli(['accounts', 'quota', a, '10K'])).code).toBe(0);
  await d.cli(['pending', 'apply']);
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

describe('quota warnings (--quota-warn, default 80,95)', () => {
  it('crossing 80% warns once, staying under 95% adds none, crossing 95% adds the second; the trail shows both', async () => {
    const quota = 10 * 1024;
    await send('alice@example.test', 'a1', 5500);
    expect(await arrived('alice@example.test', 'a1')).toBeLessThan(quota * 0.8);
    await send('alice@example.test', 'a2', 2500);
    const w1 = await warnings('alice@example.test', 1);
    expect(w1[0]).toMatch(/^Subject: Your mailbox is 8\d% full/m);
    expect(w1[0]).toMatch(/^To: <alice@example\.test>/m);
    expect(w1[0]).toMatch(/Your mailbox alice@example\.test holds [\d.]+ KB of its 10 KB/);
    // Still between 80% and 95% with the warning in it (each copy gains ~220 bytes of header here).
    const used = (await fetch('alice@example.test')).bytes;
    await send('alice@example.test', 'a3', Math.max(100, quota * 0.9 - used - 220));
    const between = await arrived('alice@example.test', 'a3');
    expect(between).toBeGreaterThan(quota * 0.8);
    expect(between).toBeLessThan(quota * 0.95);
    // Past 95%: the second warning (the warning goes in past the quota: it may go over).
    await send('alice@example.test', 'a4', Math.max(100, quota * 0.97 - between - 220));
    const w2 = await warnings('alice@example.test', 2);
    // Had a3 (between the two) set one off, it would be here before the 95% one: exactly two.
    expect(w2).toHaveLength(2);
    expect(w2[1]).toMatch(/^Subject: Your mailbox is 9[5-9]% full/m);
    const t = await waitFor(async () => {
      const e = await traceWarnings('alice@example.test');
      return e.length >= 2 ? e : null;
    }, 'both warnings in the trail');
    expect(t.map((e) => e.detail.threshold)).toEqual([80, 95]);
  }, 60_000);

  it('a restart neither repeats a warning nor forgets; POP3 DELE re-arms it, and crossing 80% again warns again', async () => {
    const dataDir = d.dataDir;
    expect(await d.stop()).toBe(0);
    d = await startDaemon({ dataDir });
    // A message put into the Maildir by another program (a restore): the index sees the mailbox
    // still past 95%, with both warnings given before the restart. None is repeated.
    const dir = join(dataDir, 'mail/example.test/alice/new');
    writeFileSync(join(dir, '1700000000.M1P1.restored,S=40'), 'Subject: restored\r\n\r\nput back by hand\r\n');
    await waitFor(
      async () => ((await fetch('alice@example.test')).texts.some((x) => x.includes('restored')) ? 1 : null),
      'the restored message',
    );
    // Deleted: the mailbox is empty, both re-armed; 8,400 bytes is past 80% again.
    await deleteAll('alice@example.test');
    await send('alice@example.test', 'a5', 8400);
    const w = await warnings('alice@example.test', 1);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^Subject: Your mailbox is 8\d% full/m);
    // In the trail: the two before, none at the restart, the one now (in that order).
    const t = await waitFor(async () => {
      const e = await traceWarnings('alice@example.test');
      return e.length >= 3 ? e : null;
    }, 'the third warning in the trail');
    expect(t.map((e) => e.detail.threshold)).toEqual([80, 95, 80]);
  }, 90_000);

  it('attacker: eight deliveries crossing 80% at once give exactly one warning', async () => {
    await send('bob@example.test', 'b0', 6000);
    await arrived('bob@example.test', 'b0');
    // Eight at once, each about 3%: several of them see the mailbox past 80%.
    const burst = Array.from({ length: 8 }, (_, i) => send('bob@example.test', `b${i + 1}`, 150));
    await Promise.all(burst);
    await waitFor(async () => {
      const f = await fetch('bob@example.test');
      return f.texts.filter((x) => x.includes('Subject: fill b')).length === 9 ? true : null;
    }, 'the burst in the mailbox');
    await warnings('bob@example.test', 1);
    // Past 95% next: the 95% warning is the second one; had the burst made two, it would be a third.
    const used = (await fetch('bob@example.test')).bytes;
    await send('bob@example.test', 'b9', Math.max(100, 10 * 1024 * 0.97 - used - 220));
    const w = await warnings('bob@example.test', 2);
    expect(w).toHaveLength(2);
    expect(w.map((x) => /Subject: Your mailbox is (\d+)% full/.exec(x)?.[1])).toEqual([
      expect.stringMatching(/^(8\d|9[0-4])$/),
      expect.stringMatching(/^(9[5-9]|1\d\d)$/),
    ]);
    expect((await traceWarnings('bob@example.test')).map((e) => e.detail.threshold)).toEqual([80, 95]);
  }, 90_000);

  it("the admin's template with its placeholders; a template past 16K falls back to the built-in text", async () => {
    writeFileSync(
      join(d.dataDir, 'quota-warning.txt'),
      'Subject: Postfach zu {percent}% voll\n\nHallo {address}: {used} von {quota}. {unknown} bleibt.\n',
    );
    await send('carol@example.test', 'c1', 8400);
    const [w] = await warnings('carol@example.test', 1);
    expect(w).toMatch(/^Subject: Postfach zu 8\d% voll$/m);
    expect(w).toMatch(/^Hallo carol@example\.test: [\d.]+ KB von 10 KB\. \{unknown\} bleibt\.$/m);
    // Too long: the built-in text, and the mail still gets its warning.
    writeFileSync(join(d.dataDir, 'quota-warning.txt'), `Subject: huge\n\n${'y'.repeat(20_000)}\n`);
    await deleteAll('carol@example.test');
    await send('carol@example.test', 'c2', 8400);
    const [w2] = await warnings('carol@example.test', 1);
    expect(w2).toMatch(/^Subject: Your mailbox is 8\d% full/m);
    expect(w2.length).toBeLessThan(2000);
  }, 60_000);

  it('--quota-warn with a bad value is a one-line error', async () => {
    const bad = await run(process.execPath, [
      join(ROOT, 'bin/vmail.js'),
      'daemon',
      '--data-dir',
      tempDir('vmail-qw-'),
      '--quota-warn',
      '80,150',
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).not.toBe(0);
    expect((bad as { stderr: string }).stderr.trim()).toMatch(/quota-warn "80,150": write percentages from 1 to 100/);
    expect((bad as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
  });
});
