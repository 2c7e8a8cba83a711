// `vmail backup`, `backup verify` and `restore`, judged by what a restored daemon serves: a
// backup made while an SMTP flood runs is restored into an empty data dir (and an empty
// PostgreSQL database), a daemon started on it, and every message answered 250 before the
// backup began is served over POP3 with the UIDL it had; every account logs in with its
// password; pending changes keep their ids and times; forwards and quotas are there. Then the
// attacker's cases: a damaged backup, a manifest naming paths outside, links planted in it, a
// backup into the data dir or over a link, two backups racing, a backup killed half way.
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type DaemonHandle, ROOT, runCli, startDaemon, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { pop3Login, pop3Uidls } from '../helpers/effects.js';
import { answers, json, messageIds, type Sent, smtpLoop } from '../helpers/mail-count.js';
import { ensurePostgres, type Postgres, startPostgres } from '../helpers/postgres.js';

const ACCOUNTS: [string, string][] = [
  ['ann@ex.test', 'ann-secret-1'],
  ['ben@ex.test', 'ben-secret-22'],
];

/** Accounts, a forward, a quota applied; one more account and a password change left pending. */
async function populate(d: DaemonHandle): Promise<void> {
  for (const [a, p] of ACCOUNTS)
    expect((await d.cli(['accounts', 'add', a, '--password-stdin'], `${p}\n`)).code).toBe(0);
  expect((await d.cli(['forwards', 'add', 'all@ex.test', 'ann@ex.test', 'ben@ex.test'])).code).toBe(0);
  expect((await d.cli(['accounts', 'quota', 'ann@ex.test', '50M'])).code).toBe(0);
  expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  expect((await d.cli(['accounts', 'add', 'cat@ex.test', '--password-stdin'], 'cat-secret-333\n')).code).toBe(0);
  expect((await d.cli(['accounts', 'passwd', 'ben@ex.test', '--password-stdin'], 'ben-new-4444\n')).code).toBe(0);
}

/** What a test compares before and after: pending changes, forwards, accounts with quotas, UIDLs. */
async function state(d: DaemonHandle) {
  const uidls: Record<string, string[]> = {};
  for (const [a, p] of ACCOUNTS) uidls[a] = await pop3Uidls(d.pop3Port, a, p);
  return {
    pending: (json(await d.cli(['pending', 'list', '--json'])) as Record<string, unknown>[]).map((p) => ({
      id: p.id,
      action: p.action,
      name: p.name,
      appliesAt: p.appliesAt,
      requestedAt: p.requestedAt,
    })),
    forwards: (json(await d.cli(['forwards', 'list', '--json'])) as Record<string, unknown>[]).map((f) => [
      f.address,
      f.destinations,
    ]),
    quotas: (json(await d.cli(['accounts', 'list', '--json'])) as Record<string, unknown>[]).map((a) => [
      a.address,
      a.quota,
    ]),
    uidls,
  };
}

/**
 * Floods `d`, makes a backup while it runs, and returns the backup and the messages answered 250
 * before the backup began.
 */
async function backupUnderFlood(d: DaemonHandle, args: string[]): Promise<{ dir: string; before: Sent[] }> {
  const loop = smtpLoop(
    d.smtpPort,
    `flood${Date.now()}`,
    ACCOUNTS.map(([a]) => a),
    100_000,
  );
  await answers(loop, 40);
  const before = loop.sent().filter((s) => s.code === 250);
  const dir = join(tempDir('vmail-bk-'), 'backup');
  const r = await runCli(['backup', dir, '--data-dir', d.dataDir, ...args]);
  await answers(loop, 10);
  const all = await loop.stop();
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/Backed up \d+ file\(s\)/);
  expect(all.filter((s) => s.code === 250).length).toBeGreaterThan(before.length);
  return { dir, before };
}

/** Restored daemon `r` serves what `d` had: the messages of `before` with their UIDLs, logins, rows. */
async function checkRestored(d: DaemonHandle, r: DaemonHandle, before: Sent[]): Promise<void> {
  const found = messageIds(r.dataDir);
  for (const s of before) expect(found.get(s.id), `${s.id} answered 250 before the backup`).toEqual([s.to]);
  const was = await state(d);
  const now = await state(r);
  expect(now.pending).toEqual(was.pending);
  expect(now.pending.length).toBe(2);
  expect(now.forwards).toEqual(was.forwards);
  expect(now.quotas).toEqual(was.quotas);
  for (const [a] of ACCOUNTS) {
    // Every message restored is served under the UIDL it had on the daemon backed up.
    expect(now.uidls[a].length).toBeGreaterThanOrEqual(before.filter((s) => s.to === a).length);
    for (const u of now.uidls[a]) expect(was.uidls[a]).toContain(u);
  }
  for (const [a, p] of ACCOUNTS) expect(await pop3Login(r.pop3Port, a, p), a).toMatchObject({ ok: true });
  expect((await pop3Login(r.pop3Port, 'ann@ex.test', 'wrong-password')).ok).toBe(false);
}

let d: DaemonHandle;
let backup: string;

beforeAll(async () => {
  d = await startDaemon({ domains: ['ex.test'] });
  await populate(d);
});

describe('backup and restore (SQLite)', () => {
  test('a backup under an SMTP flood restores: mail with its UIDLs, logins, pending ids, forwards, quotas', async () => {
    const made = await backupUnderFlood(d, []);
    backup = made.dir;
    expect(existsSync(`${backup}.tmp`)).toBe(false);
    const v = await runCli(['backup', 'verify', backup]);
    expect(v.code, v.stderr).toBe(0);
    const place = join(tempDir(), 'restored');
    const res = await runCli(['restore', backup, '--data-dir', place]);
    expect(res.code, res.stderr).toBe(0);
    const r = await startDaemon({ dataDir: place, domains: ['ex.test'] });
    await checkRestored(d, r, made.before);
    await r.stop();
  }, 120_000);

  test('a truncated, changed, missing or planted file makes verify exit 1 naming it; restore refuses it', async () => {
    const bad = join(tempDir(), 'bad');
    cpSync(backup, bad, { recursive: true });
    const box = join(bad, 'mail/ex.test/ann/new');
    const [first, second, third] = readdirSync(box).sort();
    truncateSync(join(box, first), 10);
    writeFileSync(join(box, second), readFileSync(join(box, second), 'latin1').replace('body', 'BODY'));
    rmSync(join(box, third));
    symlinkSync('/etc/passwd', join(box, '1.planted,S=10'));
    const v = await runCli(['backup', 'verify', bad]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(`mail/ex.test/ann/new/${first}: truncated`);
    expect(v.stderr).toContain(`mail/ex.test/ann/new/${second}: changed`);
    expect(v.stderr).toContain(`mail/ex.test/ann/new/${third}: missing`);
    expect(v.stderr).toContain('mail/ex.test/ann/new/1.planted,S=10: not in the manifest');
    const place = join(tempDir(), 'never');
    const res = await runCli(['restore', bad, '--data-dir', place]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('does not verify (nothing was restored)');
    expect(existsSync(place)).toBe(false);
  });

  test('a manifest naming ../../ or an absolute path, or a file replaced by a link, is refused: nothing is written outside', async () => {
    const bad = join(tempDir(), 'evil');
    cpSync(backup, bad, { recursive: true });
    const m = JSON.parse(readFileSync(join(bad, 'manifest.json'), 'utf8'));
    const outside = join(tempDir(), 'outside');
    m.files.push({ path: '../../etc/passwd', size: 1, sha256: 'x' });
    m.files.push({ path: `${outside}/planted`, size: 1, sha256: 'x' });
    // A message replaced by a link to a file elsewhere, the manifest fixed to match it.
    const box = join(bad, 'mail/ex.test/ben/new');
    const victim = readdirSync(box)[0];
    rmSync(join(box, victim));
    symlinkSync('/etc/hostname', join(box, victim));
    writeFileSync(join(bad, 'manifest.json'), JSON.stringify(m));
    const v = await runCli(['backup', 'verify', bad]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('"../../etc/passwd": not a path inside the backup');
    expect(v.stderr).toContain(`"${outside}/planted": not a path inside the backup`);
    expect(v.stderr).toContain(`mail/ex.test/ben/new/${victim}: not a regular file (a symbolic link, not followed)`);
    const place = join(tempDir(), 'p');
    const res = await runCli(['restore', bad, '--data-dir', place]);
    expect(res.code).toBe(1);
    expect(existsSync(place)).toBe(false);
    expect(existsSync(join(outside, 'planted'))).toBe(false);
  });

  test("restore refuses a non-empty place, a running daemon's data dir and an existing store file, changing nothing", async () => {
    const place = tempDir();
    writeFileSync(join(place, 'keep'), 'mine');
    const r1 = await runCli(['restore', backup, '--data-dir', place]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain('is not empty');
    expect(readdirSync(place)).toEqual(['keep']);
    expect(readFileSync(join(place, 'keep'), 'utf8')).toBe('mine');
    const r2 = await runCli(['restore', backup, '--data-dir', d.dataDir]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/a vmail daemon \(pid \d+\) is running on/);
    const empty = tempDir();
    const store = join(tempDir(), 'held.sqlite');
    writeFileSync(store, 'not yours');
    const r3 = await runCli(['restore', backup, '--data-dir', empty, '--store', `sqlite:${store}`]);
    expect(r3.code).toBe(1);
    expect(readFileSync(store, 'utf8')).toBe('not yours');
    expect(readdirSync(empty)).toEqual([]);
  });

  test('backup refuses DIR inside the data dir, a link, a non-empty folder; writes nothing', async () => {
    const inside = await runCli(['backup', join(d.dataDir, 'mail/bk'), '--data-dir', d.dataDir]);
    expect(inside.code).toBe(1);
    expect(inside.stderr).toContain('is inside the data dir');
    expect(existsSync(join(d.dataDir, 'mail/bk.tmp'))).toBe(false);
    const other = tempDir();
    const link = join(tempDir(), 'link');
    symlinkSync(other, link);
    const viaLink = await runCli(['backup', link, '--data-dir', d.dataDir]);
    expect(viaLink.code).toBe(1);
    expect(viaLink.stderr).toContain('is a symbolic link');
    expect(readdirSync(other)).toEqual([]);
    // A link that leads into the data dir.
    const intoData = join(tempDir(), 'into');
    symlinkSync(d.dataDir, intoData);
    const sneaky = await runCli(['backup', join(intoData, 'bk'), '--data-dir', d.dataDir]);
    expect(sneaky.code).toBe(1);
    expect(sneaky.stderr).toContain('is inside the data dir');
    const full = tempDir();
    writeFileSync(join(full, 'x'), 'x');
    const nonEmpty = await runCli(['backup', full, '--data-dir', d.dataDir]);
    expect(nonEmpty.code).toBe(1);
    expect(nonEmpty.stderr).toContain('is not empty');
    expect(readdirSync(full)).toEqual(['x']);
  });

  test('two backups racing into one DIR: one whole backup, the other refused', async () => {
    const dir = join(tempDir(), 'race');
    const [a, b] = await Promise.all([
      runCli(['backup', dir, '--data-dir', d.dataDir]),
      runCli(['backup', dir, '--data-dir', d.dataDir]),
    ]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    expect((a.code ? a : b).stderr).toMatch(/another vmail backup|is not empty|appeared while/);
    expect((await runCli(['backup', 'verify', dir])).code).toBe(0);
    expect(existsSync(`${dir}.tmp`)).toBe(false);
  });
});

describe('a backup killed half way', () => {
  test('leaves DIR.tmp, never DIR; the next backup says what to remove', async () => {
    // A data dir of its own with many messages, so that the backup takes a while.
    const data = tempDir();
    cpSync(join(ROOT, 'fixtures/stores/v0.1.0/vmail.sqlite'), join(data, 'vmail.sqlite'));
    const box = join(data, 'mail/one.test/alice/cur');
    mkdirSync(box, { recursive: true });
    for (let i = 0; i < 6000; i++) writeFileSync(join(box, `${1700000000 + i}.M${i}.vm,S=2000:2,S`), 'x'.repeat(2000));
    const dir = join(tempDir(), 'killed');
    const p = spawn(process.execPath, [VMAIL, 'backup', dir, '--data-dir', data], { stdio: 'ignore' });
    await waitFor(
      () => existsSync(join(`${dir}.tmp`, 'mail/one.test/alice/cur')),
      'the backup to be under way',
      30_000,
    );
    p.kill('SIGKILL');
    await new Promise((r) => p.on('close', r));
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(`${dir}.tmp`)).toBe(true);
    const again = await runCli(['backup', dir, '--data-dir', data]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is left from a backup that stopped half way');
    expect(again.stderr).toContain(`rm -r ${dir}.tmp`);
    rmSync(`${dir}.tmp`, { recursive: true });
    const ok = await runCli(['backup', dir, '--data-dir', data]);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await runCli(['backup', 'verify', dir])).code).toBe(0);
  }, 120_000);
});

describe('backup and restore (PostgreSQL)', () => {
  let pg: Postgres;
  beforeAll(async () => {
    const missing = ensurePostgres();
    if (missing) throw new Error(missing);
    pg = await startPostgres({ fsync: false });
  });
  afterAll(() => pg?.stop());

  test('a backup of a PostgreSQL store under a flood restores into another database', async () => {
    const url = await pg.database('vmail_from');
    const src = await startDaemon({ domains: ['ex.test'], args: ['--store', url] });
    await populate(src);
    const made = await backupUnderFlood(src, ['--store', url]);
    expect((await runCli(['backup', 'verify', made.dir])).code).toBe(0);
    // Into a database that holds rows: refused, and the place left as it was.
    const place = join(tempDir(), 'pg-restored');
    const held = await runCli(['restore', made.dir, '--data-dir', place, '--store', url]);
    expect(held.code).toBe(1);
    expect(held.stderr).toContain('already holds');
    expect(existsSync(place)).toBe(false);
    const to = await pg.database('vmail_to');
    const res = await runCli(['restore', made.dir, '--data-dir', place, '--store', to]);
    expect(res.code, res.stderr).toBe(0);
    const r = await startDaemon({ dataDir: place, domains: ['ex.test'], args: ['--store', to] });
    await checkRestored(src, r, made.before);
    await r.stop();
    await src.stop();
  }, 180_000);
});
