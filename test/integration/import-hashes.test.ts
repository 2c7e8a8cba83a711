// Hashes that must verify nothing: every hash form and its parameters are checked when an import
// brings it (the row refused with its line) and again at each login (a hash that reached the
// store some other way logs in with no password at all, and costs no more than a good one).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Algorithm, hash as argon2Hash } from '@node-rs/argon2';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir } from '../helpers/daemon.js';
import { pop3Login } from '../helpers/effects.js';

const doveadm = (scheme: string, password: string, extra: string[] = []) =>
  execFileSync('doveadm', ['pw', '-s', scheme, ...extra, '-p', password], { encoding: 'utf8' }).trim();

const b64 = (n: number, fill = 'A') => fill.repeat(n);
const argonHash = doveadm('ARGON2ID', 'argon-pass-001');
const [, , , , argonSalt, argonDigest] = argonHash.replace('{ARGON2ID}', '').split('$');
const sha = doveadm('SHA512-CRYPT', 'sha-pass-0001');
const blf = doveadm('BLF-CRYPT', 'blf-pass-0001');

/** Hashes whose form or parameters make them check nothing, or cost far too much per guess. */
const BAD: [what: string, hash: string][] = [
  ['an empty scrypt digest', 'scrypt$16384$8$1$c2FsdA==$='],
  ['an scrypt digest of one byte', 'scrypt$16384$8$1$c2FsdA==$QQ=='],
  ['an scrypt N that is no power of two', `scrypt$16383$8$1$c2FsdHNhbHQ=$${b64(43)}=`],
  ['an scrypt N of 2^30', `scrypt$1073741824$8$1$c2FsdHNhbHQ=$${b64(43)}=`],
  ['an scrypt r of 0', `scrypt$16384$0$1$c2FsdHNhbHQ=$${b64(43)}=`],
  ['an scrypt with an empty salt', `scrypt$16384$8$1$=$${b64(43)}=`],
  ['an argon2id of m=2 GiB', `{ARGON2ID}$argon2id$v=19$m=2097152,t=2,p=1$${argonSalt}$${argonDigest}`],
  ['an argon2id of t=0', `{ARGON2ID}$argon2id$v=19$m=19456,t=0,p=1$${argonSalt}$${argonDigest}`],
  ['an argon2id of t=100000', `{ARGON2ID}$argon2id$v=19$m=19456,t=100000,p=1$${argonSalt}$${argonDigest}`],
  ['an argon2id of p=0', `{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=0$${argonSalt}$${argonDigest}`],
  ['an argon2id of p=300', `{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=300$${argonSalt}$${argonDigest}`],
  ['an argon2id with a 1-byte digest', `{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$${argonSalt}$AA`],
  ['a bcrypt cost of 31', blf.replace(/\$\d\d\$/, '$31$')],
  ['a bcrypt cost of 03', blf.replace(/\$\d\d\$/, '$03$')],
  ['a truncated SHA512-CRYPT', sha.slice(0, -10)],
  ['SHA512-CRYPT rounds=999999999', sha.replace('$6$', '$6$rounds=999999999$')],
  ['SHA512-CRYPT rounds=10', sha.replace('$6$', '$6$rounds=10$')],
  ['an SSHA512 that is not base64', `{SSHA512}${'*'.repeat(92)}`],
  // Costs no real server writes, each seconds and (argon2) 256 MiB per guess.
  ['an argon2id of m=256 MiB, t=16, p=16', `{ARGON2ID}$argon2id$v=19$m=262144,t=16,p=16$${argonSalt}$${argonDigest}`],
  ['an argon2id of m=65537', `{ARGON2ID}$argon2id$v=19$m=65537,t=2,p=1$${argonSalt}$${argonDigest}`],
  ['an argon2id of t=11', `{ARGON2ID}$argon2id$v=19$m=19456,t=11,p=1$${argonSalt}$${argonDigest}`],
  ['an argon2id of p=9', `{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=9$${argonSalt}$${argonDigest}`],
  ['a bcrypt cost of 14', blf.replace(/\$\d\d\$/, '$14$')],
  ['a bcrypt cost of 15', blf.replace(/\$\d\d\$/, '$15$')],
  ['SHA512-CRYPT rounds=700001', sha.replace('$6$', '$6$rounds=700001$')],
  ['SHA512-CRYPT rounds=1000000', sha.replace('$6$', '$6$rounds=1000000$')],
  ['an scrypt of 128 MiB', `scrypt$131072$8$1$c2FsdHNhbHQ=$${b64(43)}=`],
];

let d: DaemonHandle;
// Wrong passwords are the point here: the growing wait after each is not.
const args = ['--auth-failure-delay', '10ms'];
beforeAll(async () => {
  d = await startDaemon({ args });
});

describe('hashes that verify anything', () => {
  it('an import refuses each one with its row, and queues nothing', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.csv');
    writeFileSync(file, `name,password_hash\n${BAD.map(([, h], i) => `bad${i},"${h}"`).join('\n')}\n`);
    const r = await d.cli(['accounts', 'import', file, '--dry-run']);
    const lines = r.stdout.trimEnd().split('\n');
    BAD.forEach(([what], i) => {
      expect(lines[i], what).toMatch(new RegExp(`^row ${i + 2}: refused "bad${i}": password_hash .*`));
    });
    expect(lines.at(-1)).toBe(
      `Dry run: 0 change(s) would be queued, ${BAD.length} row(s) refused; nothing was queued.`,
    );
    expect(r.code).toBe(1);
  });

  it('good hashes of the same forms still import, and log in with their password only', async () => {
    const dir = tempDir();
    const file = join(dir, 'good.csv');
    writeFileSync(file, `name,password_hash\ngood0,"${argonHash}"\ngood1,"${sha}"\ngood2,"${blf}"\n`);
    const r = await d.cli(['accounts', 'import', file]);
    expect(r.code, r.stdout).toBe(0);
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'good0@example.test', 'argon-pass-00')).ok).toBe(false);
    expect((await pop3Login(d.pop3Port, 'good0@example.test', 'argon-pass-001')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'good1@example.test', 'sha-pass-0001')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'good2@example.test', 'blf-pass-0002')).ok).toBe(false);
  });

  it('hashes at the highest costs still import and log in: argon2id m=64 MiB t=10 p=8, bcrypt 13, SHA-crypt 700,000 rounds', async () => {
    const argonTop = `{ARGON2ID}${await argon2Hash('argon-top-0001', { algorithm: Algorithm.Argon2id, memoryCost: 65_536, timeCost: 10, parallelism: 8 })}`;
    expect(argonTop).toMatch(/\$m=65536,t=10,p=8\$/);
    const blfTop = doveadm('BLF-CRYPT', 'blf-top-00001', ['-r', '13']);
    expect(blfTop).toMatch(/^\{BLF-CRYPT\}\$2[aby]\$13\$/);
    const shaTop = doveadm('SHA512-CRYPT', 'sha-top-00001', ['-r', '700000']);
    expect(shaTop).toMatch(/\$6\$rounds=700000\$/);
    const dir = tempDir();
    const file = join(dir, 'top.csv');
    writeFileSync(file, `name,password_hash\ntop0,"${argonTop}"\ntop1,"${blfTop}"\ntop2,"${shaTop}"\n`);
    const r = await d.cli(['accounts', 'import', file]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'top0@example.test', 'argon-top-0002')).ok).toBe(false);
    expect((await pop3Login(d.pop3Port, 'top0@example.test', 'argon-top-0001')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'top1@example.test', 'blf-top-00001')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'top2@example.test', 'sha-top-00001')).ok).toBe(true);
  }, 120_000);

  it('a bad hash that reached the store never logs in, with any password, and the daemon keeps serving', async () => {
    const dir = tempDir();
    const file = join(dir, 'victims.csv');
    const victims = [0, 6, 12];
    writeFileSync(file, `name,password\n${victims.map((i) => `victim${i},victim-pass-${i}`).join('\n')}\n`);
    expect((await d.cli(['accounts', 'import', file])).code).toBe(0);
    await d.cli(['pending', 'apply']);
    const dataDir = d.dataDir;
    await d.stop();
    // What an older vmail's import let in, written into the store as it would be.
    const sql = victims
      .map(
        (i) =>
          `UPDATE accounts SET value = json_set(value, '$.value.passwordHash', '${BAD[i][1]}') WHERE key = 'accounts:victim${i}@example.test';`,
      )
      .join('\n');
    const sqlite3 = (await import('sqlite3')).default;
    const db = new sqlite3.Database(join(dataDir, 'vmail.sqlite'));
    await new Promise<void>((res, rej) => db.exec(sql, (e) => (e ? rej(e) : res())));
    await new Promise((res) => db.close(res));
    d = await startDaemon({ dataDir, args });
    for (const i of victims)
      for (const password of ['x', `victim-pass-${i}`])
        expect(
          (await pop3Login(d.pop3Port, `victim${i}@example.test`, password)).ok,
          `${BAD[i][0]} / ${password}`,
        ).toBe(false);
    expect((await pop3Login(d.pop3Port, 'good1@example.test', 'sha-pass-0001')).ok).toBe(true);
  }, 60_000);
});
