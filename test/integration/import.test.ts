// Accounts from a spreadsheet and back, tested by effect: a 1,000-row CSV as spreadsheets write
// it (BOM, `;`, CRLF, quoted fields) with three bad rows; the dry run's every line; nothing
// queued while a row is bad; --skip-bad queues one change per good row, the apply makes them,
// and then they log in over POP3 (plain passwords, and hashes made by Dovecot's doveadm pw,
// rehashed at the first login) and forwards pass mail on. The export is read back with
// Python's csv module. An import cut off before its end queues nothing.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, VMAIL, waitFor } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';

const doveadm = (scheme: string, password: string) =>
  execFileSync('doveadm', ['pw', '-s', scheme, '-p', password], { encoding: 'utf8' }).trim();

let d: DaemonHandle;
beforeAll(async () => {
  d = await startDaemon();
});

async function pendingCount(): Promise<number> {
  const r = await d.cli(['pending', 'list', '--json']);
  return (JSON.parse(r.stdout) as unknown[]).length;
}

describe('vmail accounts import', () => {
  // Rows 2..1001 of the file: 1,000 rows. Every 100th is a forward, every 10th has a quota.
  const sha = doveadm('SHA512-CRYPT', 'sha-pass-0001');
  const blf = doveadm('BLF-CRYPT', 'blf-pass-0001');
  const sha256 = doveadm('SHA256-CRYPT', 'sha256-pass-01');
  const ssha = doveadm('SSHA512', 'ssha-pass-0001');
  const argon = doveadm('ARGON2ID', 'argon-pass-001');
  const shared = doveadm('SHA512-CRYPT', 'shared-pass-1');
  const lines = ['name;password;password_hash;quota;forward;notes'];
  const expected: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const row = i + 2;
    const name = `user${String(i).padStart(4, '0')}`;
    if (row === 101) {
      lines.push('bad name;pw-123456;;;;');
      expected.push(
        `row 101: refused "bad name": invalid name "bad name": use only letters a-z, digits, ".", "-" and "_"`,
      );
    } else if (row === 502) {
      lines.push(`${name};short;;;;`);
      expected.push(`row 502: refused "${name}": the password is too short: use at least 8 characters`);
    } else if (row === 903) {
      lines.push('user0003;"dup;licate-1";;;;');
      expected.push('row 903: refused "user0003": user0003@example.test is in the file twice');
    } else if (i === 7) {
      lines.push(`${name};;${sha};;;from dovecot`);
      expected.push(`row ${row}: add account ${name}@example.test`);
    } else if (i === 8) {
      lines.push(`${name};;${blf};;;`);
      expected.push(`row ${row}: add account ${name}@example.test`);
    } else if (i === 5 || i === 6) {
      lines.push(`${name};;${i === 5 ? ssha : argon};;;`);
      expected.push(`row ${row}: add account ${name}@example.test`);
    } else if (i === 9) {
      lines.push(`${name};;${sha256};;;`);
      expected.push(`row ${row}: add account ${name}@example.test`);
    } else if (i % 100 === 50) {
      lines.push(`${name};;;;"user0002@example.test someone@elsewhere.example";`);
      expected.push(
        `row ${row}: add forward ${name}@example.test, to user0002@example.test, someone@elsewhere.example`,
      );
    } else if (i % 10 === 0) {
      lines.push(`${name};"pass;word-${i}";;25M;;`);
      expected.push(`row ${row}: add account ${name}@example.test, quota 25 MB`);
    } else if (i < 20) {
      lines.push(`${name};pass-word-${i};;;;`);
      expected.push(`row ${row}: add account ${name}@example.test`);
    } else {
      // Most rows carry a hash, as a move from another server brings them: no hashing to wait for.
      lines.push(`${name};;${shared};;;`);
      expected.push(`row ${row}: add account ${name}@example.test`);
    }
  }
  const csv = `\uFEFF${lines.join('\r\n')}\r\n`;
  let file: string;

  it('refuses a password_hash vmail cannot check, naming the schemes it can', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'cram.csv'), `name,password_hash\nold,${doveadm('CRAM-MD5', 'x-pass-123')}\n`);
    const r = await d.cli(['accounts', 'import', join(dir, 'cram.csv'), '--dry-run']);
    expect(r.stdout).toMatch(
      /^row 2: refused "old": password_hash "\{CRAM-MD5\}[^"]*"\.\.\. is not a hash vmail can check: use one of \{ARGON2ID\}, \{ARGON2I\}, \{SHA512-CRYPT\}, \{SHA256-CRYPT\}, \{SSHA512\}, \{SSHA256\}, \{MD5-CRYPT\}, \{BLF-CRYPT\}, scrypt$/m,
    );
  });

  it('refuses rows for a domain not hosted here, and a forward that would loop; nothing queued, no mail taken', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'other.csv'),
      'address,password,forward\nann@nothosted.test,ann-pass-123,\nloop@example.test,,loop@example.test\n',
    );
    const r = await d.cli(['accounts', 'import', join(dir, 'other.csv')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^row 2: refused "ann@nothosted\.test": .*not a domain hosted here/m);
    expect(r.stdout).toMatch(/^row 3: refused "loop@example\.test": loop@example\.test cannot forward to itself$/m);
    expect(await pendingCount()).toBe(0);
    expect((await smtpSend(d.smtpPort, 'loop@example.test', 'no-such-forward')).code).toBe(550);
  });

  it('dry run: prints what each row would queue and every refused row with its line and why, and queues nothing', async () => {
    file = join(tempDir(), 'customers.csv');
    writeFileSync(file, csv);
    const r = await d.cli(['accounts', 'import', file, '--dry-run']);
    expect(r.code).toBe(1);
    const out = r.stdout.trimEnd().split('\n');
    expect(out.slice(0, -1)).toEqual(expected);
    expect(out.at(-1)).toBe('Dry run: 997 change(s) would be queued, 3 row(s) refused; nothing was queued.');
    expect(r.stderr).toBe('vmail: columns not imported: notes\n');
    expect(await pendingCount()).toBe(0);
  });

  it('with a bad row and no --skip-bad, queues nothing', async () => {
    const r = await d.cli(['accounts', 'import', file]);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(
      'Nothing was queued: 3 row(s) refused (fix them, or pass --skip-bad to queue the other 997).',
    );
    expect(await pendingCount()).toBe(0);
  });

  it('--skip-bad queues one change per good row; applied, they log in and forward', async () => {
    const r = await d.cli(['accounts', 'import', file, '--skip-bad', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { queued: { id: string }[]; refused: { row: number }[]; done: boolean };
    expect(report.done).toBe(true);
    expect(report.queued).toHaveLength(997);
    expect(report.refused.map((x) => x.row)).toEqual([101, 502, 903]);
    expect(await pendingCount()).toBe(997);
    // Each row is a change of its own: one can be cancelled and the rest still apply.
    const cancelled = await d.cli(['pending', 'cancel', report.queued[1].id]);
    expect(cancelled.code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).stdout).toMatch(/Applied 996 change/);

    expect((await pop3Login(d.pop3Port, 'user0000@example.test', 'pass;word-0')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'user0002@example.test', 'pass-word-2')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'user0001@example.test', 'pass-word-1')).ok).toBe(false); // cancelled
    expect((await pop3Login(d.pop3Port, 'user0003@example.test', 'dup;licate-1')).ok).toBe(false); // refused row
    expect((await pop3Login(d.pop3Port, 'user0003@example.test', 'pass-word-3')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'user0999@example.test', 'shared-pass-1')).ok).toBe(true);
    // Hashes made by Dovecot log in, then are vmail's own: the same password still works.
    for (const [user, pw] of [
      ['user0007@example.test', 'sha-pass-0001'],
      ['user0008@example.test', 'blf-pass-0001'],
      ['user0009@example.test', 'sha256-pass-01'],
      ['user0005@example.test', 'ssha-pass-0001'],
      ['user0006@example.test', 'argon-pass-001'],
    ]) {
      expect((await pop3Login(d.pop3Port, user, `${pw}x`)).ok).toBe(false);
      expect((await pop3Login(d.pop3Port, user, pw)).ok).toBe(true);
      await waitFor(() => d.output().includes(`password rehashed user=${user}`), `${user} rehashed`);
      expect((await pop3Login(d.pop3Port, user, pw)).ok).toBe(true);
    }
    // A forward row forwards; a quota row has its quota.
    expect(await smtpSend(d.smtpPort, 'user0050@example.test', 'imported-forward')).toEqual({ accepted: true });
    await waitFor(
      () => maildirWith(join(d.dataDir, 'mail/example.test/user0002'), 'imported-forward').length === 1,
      'the forwarded copy in user0002',
    );
    const list = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as {
      address: string;
      quota: number | null;
    }[];
    expect(list.find((a) => a.address === 'user0010@example.test')?.quota).toBe(25 * 1024 * 1024);
    expect(list.find((a) => a.address === 'user0011@example.test')?.quota).toBeNull();
    expect(list).toHaveLength(1000 - 3 - 1 - 10);
  }, 120_000);

  it('accounts export writes CSV that Python reads back, with quota, sizes and forwards', async () => {
    const r = await d.cli(['accounts', 'export']);
    expect(r.code).toBe(0);
    const py = `
import csv, io, json, sys
rows = list(csv.DictReader(io.StringIO(sys.stdin.read(), newline='')))
print(json.dumps(rows))
`;
    const rows = JSON.parse(execFileSync('python3', ['-c', py], { input: r.stdout, encoding: 'utf8' })) as Record<
      string,
      string
    >[];
    expect(rows).toHaveLength(1000 - 3 - 1);
    const by = (a: string) => rows.find((x) => x.address === a)!;
    expect(by('user0010@example.test')).toMatchObject({ kind: 'account', quota: '25M', suspended: 'no' });
    expect(by('user0000@example.test').last_login).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(by('user0050@example.test')).toMatchObject({
      kind: 'forward',
      forward: 'user0002@example.test someone@elsewhere.example',
    });
    expect(Object.keys(rows[0]).slice(0, 3)).toEqual(['address', 'quota', 'forward']);
  });

  it('an import cut off before its end queues nothing: rows sent ahead die with the connection, Ctrl-C mid-hash', async () => {
    // Rows handed ahead on a connection that then closes.
    const sock = createConnection(d.socket);
    await new Promise((r) => sock.once('connect', r));
    const reply = new Promise<string>((r) => sock.once('data', (b) => r(String(b))));
    sock.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'accounts.import', params: { rows: [{ row: 2, name: 'ahead', password: 'ahead-pass-1' }], more: true } })}\n`,
    );
    expect(JSON.parse(await reply).result).toMatchObject({ rows: 1, done: false });
    sock.destroy();
    const other = tempDir();
    const one = join(other, 'one.csv');
    writeFileSync(one, 'name,password\nlater,later-pass-1\n');
    const r = await d.cli(['accounts', 'import', one, '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 1, done: true, queued: [{ address: 'later@example.test' }] });
    expect(await pendingCount()).toBe(1);

    // Ctrl-C while the passwords are being hashed.
    const many = join(other, 'many.csv');
    writeFileSync(
      many,
      `name,password\n${Array.from({ length: 400 }, (_, i) => `cut${i},cut-pass-${i}`).join('\n')}\n`,
    );
    const cli = spawn(process.execPath, [VMAIL, 'accounts', 'import', many, '--socket', d.socket]);
    let err = '';
    cli.stderr.on('data', (b) => (err += b));
    await new Promise((res) => setTimeout(res, 700));
    cli.kill('SIGINT');
    await new Promise((res) => cli.on('close', res));
    expect(err).not.toMatch(/Queued/);
    expect(await pendingCount()).toBe(1);
  });
});
