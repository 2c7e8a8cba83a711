// Admin verbs that say what they do, tested by effect against the real daemon and CLI:
// a pending change made of several settings shows and cancels every part (or one with --part),
// a cancel that would leave a forwarding loop in the queue is refused and an apply installs
// none, `pending apply` exits 1 with its failures on stderr, a bad --stale is a usage error,
// and the CSV export writes no cell a spreadsheet runs as a formula, and reads back the same.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';

interface Pending {
  id: string;
  action: string;
  parts: string[];
  address: string;
  quota?: { bytes: number } | null;
}

async function pendingList(d: DaemonHandle): Promise<Pending[]> {
  const r = await d.cli(['pending', 'list', '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Pending[];
}

describe('a pending change of several settings', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon();
    expect((await d.cli(['accounts', 'add', 'alice', '--password-stdin'], 'old-pass-123\n')).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  });

  it('lists every part (table and --json), and a cancel names every part it cancels', async () => {
    expect((await d.cli(['accounts', 'passwd', 'alice', '--password-stdin'], 'new-pass-456\n')).code).toBe(0);
    expect((await d.cli(['accounts', 'quota', 'alice', '25M'])).code).toBe(0);
    const [p] = await pendingList(d);
    expect(p.parts).toEqual(['password', 'quota']);
    const table = (await d.cli(['pending', 'list'])).stdout;
    expect(table).toMatch(/password change \+ quota change/);
    const accounts = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as {
      pending: { parts: string[] } | null;
    }[];
    expect(accounts[0].pending?.parts).toEqual(['password', 'quota']);
    expect((await d.cli(['accounts', 'list'])).stdout).toMatch(/password change \+ quota change in/);

    const r = await d.cli(['pending', 'cancel', p.id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/password change \+ quota change/);
    expect(await pendingList(d)).toEqual([]);
  });

  it('pending cancel --part cancels that part only: the other still applies', async () => {
    expect((await d.cli(['accounts', 'passwd', 'alice', '--password-stdin'], 'new-pass-456\n')).code).toBe(0);
    expect((await d.cli(['accounts', 'quota', 'alice', '25M'])).code).toBe(0);
    const [p] = await pendingList(d);
    // A part the change does not have is refused and changes nothing.
    const bad = await d.cli(['pending', 'cancel', p.id, '--part', 'suspend']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^vmail: .*password.*quota/);
    expect((await pendingList(d))[0].parts).toEqual(['password', 'quota']);

    const r = await d.cli(['pending', 'cancel', p.id, '--part', 'quota']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/quota change/);
    expect(r.stdout).toMatch(/password change .*stays pending/);
    const left = await pendingList(d);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ id: p.id, parts: ['password'], action: 'password' });
    expect(left[0].quota).toBeUndefined();
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    // By effect: the new password logs in, the quota was not set.
    expect((await pop3Login(d.pop3Port, 'alice@example.test', 'new-pass-456')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'alice@example.test', 'old-pass-123')).ok).toBe(false);
    const [a] = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as { quota: number | null }[];
    expect(a.quota).toBeNull();
  });

  it('a malformed --part changes nothing; two cancels of parts racing leave one change or none, never half', async () => {
    expect((await d.cli(['accounts', 'passwd', 'alice', '--password-stdin'], 'race-pass-789\n')).code).toBe(0);
    expect((await d.cli(['accounts', 'quota', 'alice', '30M'])).code).toBe(0);
    const [p] = await pendingList(d);
    for (const part of ['', 'x'.repeat(100_000), '../quota', 'QUOTA', 'quota\npassword']) {
      const r = await d.cli(['pending', 'cancel', p.id, '--part', part]);
      expect(r.code, JSON.stringify(part.slice(0, 20))).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.length).toBeLessThan(300);
    }
    expect((await pendingList(d))[0].parts).toEqual(['password', 'quota']);
    // Both parts cancelled at once: each cancel runs alone, so the second sees what the first left.
    const [a, b] = await Promise.all([
      d.cli(['pending', 'cancel', p.id, '--part', 'quota']),
      d.cli(['pending', 'cancel', p.id, '--part', 'password']),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(await pendingList(d)).toEqual([]);
    // Cancelling a part of a change that is gone names the id.
    const gone = await d.cli(['pending', 'cancel', p.id, '--part', 'quota']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no pending change has id/);
  });

  it('accounts list --stale with a negative or malformed duration is a usage error (64)', async () => {
    for (const bad of ['-5d', '5x', '']) {
      const r = await d.cli(['accounts', 'list', '--stale', bad]);
      expect(r.code, bad).toBe(64);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^vmail: --stale/);
    }
    expect((await d.cli(['accounts', 'list', '--stale', '5d'])).code).toBe(0);
  });

  it('pending apply exits 1 with the failures on stderr when a change fails', async () => {
    // A file where bob's Maildir goes: making the Maildir fails, so the add fails.
    writeFileSync(join(d.dataDir, 'mail/example.test/bob'), 'in the way');
    expect((await d.cli(['accounts', 'add', 'bob', '--password-stdin'], 'bob-pass-123\n')).code).toBe(0);
    const r = await d.cli(['pending', 'apply']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vmail: .*change \d+.*bob@example\.test/m);
    expect(r.stdout).not.toMatch(/Not applied/);
    expect((await pop3Login(d.pop3Port, 'bob@example.test', 'bob-pass-123')).ok).toBe(false);
  });
});

describe('a part cancelled, then kill -9', () => {
  it('the rest of the change is what a restarted daemon has, and applies', async () => {
    const d = await startDaemon();
    await d.cli(['accounts', 'add', 'carol', '--password-stdin'], 'carol-pass-1\n');
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    await d.cli(['accounts', 'passwd', 'carol', '--password-stdin'], 'carol-pass-2\n');
    await d.cli(['accounts', 'suspend', 'carol']);
    const [p] = await pendingList(d);
    expect(p.parts).toEqual(['password', 'suspend']);
    expect((await d.cli(['pending', 'cancel', p.id, '--part', 'suspend'])).code).toBe(0);
    await d.kill9();
    const again = await startDaemon({ dataDir: d.dataDir });
    const left = await pendingList(again);
    expect(left.map((x) => [x.id, x.parts])).toEqual([[p.id, ['password']]]);
    expect((await again.cli(['pending', 'apply'])).code).toBe(0);
    // By effect: the new password logs in (a suspension would refuse it).
    expect((await pop3Login(again.pop3Port, 'carol@example.test', 'carol-pass-2')).ok).toBe(true);
  });
});

describe('forwarding loops and the queue', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon({ domains: ['example.test', 'other.test'] });
  });

  it('a cancel that would leave a loop in the queue is refused, and no loop is installed', async () => {
    // Applied: the account acct, the forward c -> acct, and c the catch-all.
    await d.cli(['accounts', 'add', 'acct@example.test', '--password-stdin'], 'acct-pass-123\n');
    await d.cli(['forwards', 'add', 'c@example.test', 'acct@example.test']);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    expect((await d.cli(['domains', 'catchall', 'example.test', 'c'])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    // c -> ghost would loop (ghost is unknown: it goes to the catch-all c): refused at queue time.
    const refused = await d.cli(['forwards', 'add', 'c@example.test', 'ghost@example.test']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/loop/);
    // With the catch-all moving to acct first, c -> ghost -> acct is no loop: both queue.
    expect((await d.cli(['domains', 'catchall', 'example.test', 'acct'])).code).toBe(0);
    expect((await d.cli(['forwards', 'add', 'c@example.test', 'ghost@example.test'])).code).toBe(0);
    const catchall = (await pendingList(d)).find((p) => p.address === 'example.test')!;
    // Cancelling the catch-all change would leave c -> ghost -> c: refused, with the loop named.
    const r = await d.cli(['pending', 'cancel', catchall.id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^vmail: .*forwarding loop.*: c@example\.test -> ghost@example\.test -> c@example\.test/);
    expect(await pendingList(d)).toHaveLength(2);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    // By effect: mail to c reaches acct, no 5.4.6 bounce.
    expect(await smtpSend(d.smtpPort, 'c@example.test', 'no-loop-1')).toEqual({ accepted: true });
    await expect
      .poll(() => maildirWith(join(d.dataDir, 'mail/example.test/acct'), 'no-loop-1').length, { timeout: 10_000 })
      .toBe(1);
  });

  it('an apply of one domain refuses the change that would loop until the rest of the queue applies', async () => {
    // A daemon of its own: example.test has no catch-all here.
    const d = await startDaemon({ domains: ['example.test', 'other.test'] });
    // other.test: the account acct, the forward c -> x@example.test, and c its catch-all.
    await d.cli(['accounts', 'add', 'acct@other.test', '--password-stdin'], 'acct-pass-123\n');
    await d.cli(['forwards', 'add', 'c@other.test', 'x@example.test']);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    expect((await d.cli(['domains', 'catchall', 'other.test', 'c'])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    // Once other.test's catch-all is acct, x -> ghost@other.test -> acct is no loop.
    expect((await d.cli(['domains', 'catchall', 'other.test', 'acct'])).code).toBe(0);
    expect((await d.cli(['forwards', 'add', 'x@example.test', 'ghost@other.test'])).code).toBe(0);
    // Applying example.test's changes alone would install x -> ghost -> c -> x: that change fails.
    const r = await d.cli(['pending', 'apply', '--domain', 'example.test']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/loop: .*x@example\.test/);
    const send = await smtpSend(d.smtpPort, 'x@example.test', 'no-loop-2');
    expect(send.accepted).toBe(false);
    expect(send.response ?? '').not.toMatch(/5\.4\.6/);
    // Still pending: with the catch-all change they apply together.
    expect(await pendingList(d)).toHaveLength(2);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    expect(await smtpSend(d.smtpPort, 'x@example.test', 'no-loop-3')).toEqual({ accepted: true });
    await expect
      .poll(() => maildirWith(join(d.dataDir, 'mail/other.test/acct'), 'no-loop-3').length, { timeout: 10_000 })
      .toBe(1);
  });
});

describe('CSV export and formulas', () => {
  it('writes no cell a spreadsheet takes as a formula, and an import of the export round-trips', async () => {
    const d = await startDaemon();
    const evil = "=cmd|'/ccalc'!a0@x.test";
    // A destination that starts with ' then = is a valid address too: it must come back as it was.
    const quoted = "'=sum@x.test";
    expect((await d.cli(['forwards', 'add', 'evil', evil, 'plain@x.test'])).code).toBe(0);
    expect((await d.cli(['forwards', 'add', 'minus', '--', '-1+1@x.test'])).code).toBe(0);
    expect((await d.cli(['forwards', 'add', 'quoted', quoted])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    const r = await d.cli(['accounts', 'export']);
    expect(r.code).toBe(0);
    const py = `
import csv, io, json, sys
print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.read(), newline='')))))
`;
    const cells = (
      JSON.parse(execFileSync('python3', ['-c', py], { input: r.stdout, encoding: 'utf8' })) as string[][]
    ).flat();
    // OWASP's rule: no cell starts with = + - @ tab or CR.
    for (const cell of cells) expect(cell, cell).not.toMatch(/^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/);
    expect(cells).toContain(`'${evil} plain@x.test`);
    expect(cells).toContain("'-1+1@x.test");
    expect(cells).toContain(`'${quoted}`);

    // Into a fresh daemon: the same forwards, byte for byte.
    const e = await startDaemon();
    const file = join(tempDir(), 'export.csv');
    writeFileSync(file, r.stdout);
    const imp = await e.cli(['accounts', 'import', file]);
    expect(imp.code, imp.stderr).toBe(0);
    expect((await e.cli(['pending', 'apply'])).code).toBe(0);
    const fwd = JSON.parse((await e.cli(['forwards', 'list', '--json'])).stdout) as {
      address: string;
      destinations: string[];
    }[];
    const of = (a: string) => fwd.find((f) => f.address === a)?.destinations;
    expect(of('evil@example.test')).toEqual([evil, 'plain@x.test']);
    expect(of('minus@example.test')).toEqual(['-1+1@x.test']);
    expect(of('quoted@example.test')).toEqual([quoted]);
  });
});
