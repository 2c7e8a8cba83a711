// The authentication cache (--auth-cache, issue 30 item 5), on the real daemon with Python's
// poplib: a good login is remembered (an HMAC of address, password and stored hash) and the next
// one skips Argon2id, counted by the daemon's own metrics; a wrong password, a password change,
// a suspension, a rename and a removal each refuse at once; two daemons on one PostgreSQL store
// see a password changed through the other; 20,000 guesses do not grow the cache.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, type DaemonHandle, runCli, startDaemon, tempDir } from '../helpers/daemon.js';
import { pop3Login, setup } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';
import { ensurePostgres, type Postgres, startPostgres } from '../helpers/postgres.js';

/** The auth cache's figures from the daemon's /metrics. */
async function cacheFigures(port: number): Promise<{ hits: number; misses: number; entries: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const figure = (name: string) => Number(new RegExp(`^vmail_auth_cache_${name} (\\S+)$`, 'm').exec(text)?.[1]);
  return { hits: figure('hits_total'), misses: figure('misses_total'), entries: figure('entries') };
}

const metricsPort = (d: DaemonHandle) => Number(/metrics=(\d+)/.exec(d.output())?.[1]);

const passwd = async (d: DaemonHandle, who: string, password: string) =>
  expect((await d.cli(['accounts', 'passwd', who, '--password-stdin'], `${password}\n`)).code).toBe(0);

describe('the auth cache on one daemon', () => {
  let d: DaemonHandle;
  let port: number;
  beforeAll(async () => {
    d = await startDaemon({ args: ['--metrics', '127.0.0.1:0'] });
    port = metricsPort(d);
    await setup(d, ['alice', 'bob', 'carol', 'dave', 'erin']);
  });

  it('a second good login is a cache hit (no Argon2id), and a wrong password after a right one is refused', async () => {
    const before = await cacheFigures(port);
    expect((await pop3Login(d.pop3Port, 'alice', 'password-1')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'alice', 'password-1')).ok).toBe(true);
    const after = await cacheFigures(port);
    expect(after.hits - before.hits).toBe(1);
    expect(after.misses - before.misses).toBe(1);
    expect((await pop3Login(d.pop3Port, 'alice', 'password-2')).ok).toBe(false);
    expect((await pop3Login(d.pop3Port, 'alice', 'password-1 ')).ok).toBe(false);
    expect((await pop3Login(d.pop3Port, 'alice', '')).ok).toBe(false);
    // Another account's right password is not alice's.
    expect((await pop3Login(d.pop3Port, 'bob', 'password-1')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'alice', 'password-1')).ok).toBe(true);
    expect((await cacheFigures(port)).hits - after.hits).toBe(1);
  });

  it('a password change refuses the old password at once and takes the new one', async () => {
    expect((await pop3Login(d.pop3Port, 'bob', 'password-1')).ok).toBe(true);
    await passwd(d, 'bob', 'new-password-2');
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'bob', 'password-1')).ok).toBe(false);
    expect((await pop3Login(d.pop3Port, 'bob', 'new-password-2')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'bob', 'new-password-2')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'bob', 'password-1')).ok).toBe(false);
  });

  it('a suspended account is refused even on a cache hit, and logs in again once resumed', async () => {
    expect((await pop3Login(d.pop3Port, 'carol', 'password-1')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'carol', 'password-1')).ok).toBe(true);
    expect((await d.cli(['accounts', 'suspend', 'carol'])).code).toBe(0);
    await d.cli(['pending', 'apply']);
    const refused = await pop3Login(d.pop3Port, 'carol', 'password-1');
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/^-ERR/);
    expect((await d.cli(['accounts', 'resume', 'carol'])).code).toBe(0);
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'carol', 'password-1')).ok).toBe(true);
  });

  it('a rename refuses the old name at once; the new name logs in with the same password', async () => {
    expect((await pop3Login(d.pop3Port, 'dave', 'password-1')).ok).toBe(true);
    expect((await d.cli(['accounts', 'rename', 'dave', 'david'])).code).toBe(0);
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'dave', 'password-1')).ok).toBe(false);
    expect((await pop3Login(d.pop3Port, 'david', 'password-1')).ok).toBe(true);
  });

  it('a removal refuses at once, and an account added again under the name needs its new password', async () => {
    expect((await pop3Login(d.pop3Port, 'erin', 'password-1')).ok).toBe(true);
    expect((await d.cli(['accounts', 'remove', 'erin'])).code).toBe(0);
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'erin', 'password-1')).ok).toBe(false);
    expect((await d.cli(['accounts', 'add', 'erin', '--password-stdin'], 'erin-again-3\n')).code).toBe(0);
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'erin', 'password-1')).ok).toBe(false);
    expect((await pop3Login(d.pop3Port, 'erin', 'erin-again-3')).ok).toBe(true);
  });
});

/** Dovecot's {SSHA512} of `password`: cheap to check, so thousands of guesses take seconds, not hours. */
function ssha512(password: string): string {
  const salt = randomBytes(16);
  return `{SSHA512}${Buffer.concat([createHash('sha512').update(password).update(salt).digest(), salt]).toString('base64')}`;
}

describe("the attacker's guesses", () => {
  it('20,000 wrong passwords for one account do not grow the cache, are all refused and all counted by the throttle', async () => {
    // The growing wait after each failure is the throttle's own test (pop3.test.ts); here each is counted.
    const d = await startDaemon({ args: ['--metrics', '127.0.0.1:0', '--auth-failure-delay', '0ms'] });
    const port = metricsPort(d);
    const file = join(tempDir(), 'victim.csv');
    writeFileSync(file, `name,password_hash\nvictim,"${ssha512('victim-pass-1')}"\n`);
    expect((await d.cli(['accounts', 'import', file])).code).toBe(0);
    await setup(d, ['other']);
    expect((await pop3Login(d.pop3Port, 'other', 'password-1')).ok).toBe(true);
    const before = await cacheFigures(port);
    expect(before.entries).toBe(1);
    // 10 connections from one address, 2,000 guesses each.
    const GUESSES = 20_000;
    let accepted = 0;
    await Promise.all(
      Array.from({ length: 10 }, async (_, c) => {
        const s = await RawPop3.open(d.pop3Port, true, '127.0.0.5');
        for (let i = 0; i < GUESSES / 10; i++) {
          await s.cmd('USER victim');
          if ((await s.cmd(`PASS guess-${c}-${i}`)).startsWith('+OK')) accepted++;
        }
        s.socket.destroy();
      }),
    );
    expect(accepted).toBe(0);
    const after = await cacheFigures(port);
    expect(after.entries).toBe(1);
    expect(after.hits).toBe(before.hits);
    expect(after.misses - before.misses).toBe(GUESSES);
    const failures = d
      .output()
      .split('\n')
      .filter((l) => / pop3 login failed user=victim rip=127\.0\.0\.5 failures=\d+$/.test(l))
      .map((l) => Number(/failures=(\d+)$/.exec(l)![1]));
    expect(failures.length).toBe(GUESSES);
    expect(Math.max(...failures)).toBe(GUESSES);
    // The right password still works after all that, and is remembered as the second entry.
    expect((await pop3Login(d.pop3Port, 'victim', 'victim-pass-1')).ok).toBe(true);
    expect((await cacheFigures(port)).entries).toBe(2);
    await d.stop();
  }, 300_000);

  it('--auth-cache 2 keeps at most 2 logins: the least recently used goes, and its next login runs the hash', async () => {
    const d = await startDaemon({ args: ['--metrics', '127.0.0.1:0', '--auth-cache', '2'] });
    const port = metricsPort(d);
    await setup(d, ['h1', 'h2', 'h3']);
    for (const u of ['h1', 'h2', 'h3']) expect((await pop3Login(d.pop3Port, u, 'password-1')).ok).toBe(true);
    expect(await cacheFigures(port)).toEqual({ hits: 0, misses: 3, entries: 2 });
    // h1 went first: a miss; h3 is still there: a hit.
    expect((await pop3Login(d.pop3Port, 'h3', 'password-1')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'h1', 'password-1')).ok).toBe(true);
    expect(await cacheFigures(port)).toEqual({ hits: 1, misses: 4, entries: 2 });
    await d.stop();
  });

  it('--auth-cache 0 turns it off: every login runs the hash; a bad value is one clear line', async () => {
    const d = await startDaemon({ args: ['--metrics', '127.0.0.1:0', '--auth-cache', '0'] });
    const port = metricsPort(d);
    await setup(d, ['frank']);
    expect((await pop3Login(d.pop3Port, 'frank', 'password-1')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'frank', 'password-1')).ok).toBe(true);
    const f = await cacheFigures(port);
    expect(f).toEqual({ hits: 0, misses: 2, entries: 0 });
    await d.stop();
    const bad = await runCli(['daemon', '--data-dir', tempDir(), '--auth-cache', 'lots']);
    expect(bad.code).toBe(78);
    expect(bad.stdout + bad.stderr).toMatch(/--auth-cache "lots": a count of logins, 0 \(off\) to 9999999/);
  });
});

describe('two daemons on one PostgreSQL store', () => {
  const missing = ensurePostgres();
  let pg: Postgres;
  beforeAll(async () => {
    if (missing) throw new Error(`the two-daemon test needs PostgreSQL: ${missing}`);
    pg = await startPostgres({ fsync: false });
  }, 120_000);
  afterAll(() => {
    cleanUp();
    pg?.stop();
  });

  it('a password changed through daemon A is refused at B at once after the apply; B takes the new one', async () => {
    const url = await pg.database('authcache');
    const root = tempDir();
    const sockets = tempDir();
    const start = (name: string) =>
      startDaemon({
        dataDir: root,
        socket: join(sockets, `${name}.sock`),
        args: ['--store', url, '--node', name, '--metrics', '127.0.0.1:0'],
      });
    const a = await start('a');
    const b = await start('b');
    await setup(a, ['gina']);
    // Remembered at B (the second login there is a hit).
    expect((await pop3Login(b.pop3Port, 'gina', 'password-1')).ok).toBe(true);
    expect((await pop3Login(b.pop3Port, 'gina', 'password-1')).ok).toBe(true);
    expect((await cacheFigures(metricsPort(b))).hits).toBe(1);
    await passwd(a, 'gina', 'gina-new-pass-2');
    expect((await a.cli(['pending', 'apply'])).code).toBe(0);
    expect((await pop3Login(b.pop3Port, 'gina', 'password-1')).ok).toBe(false);
    expect((await pop3Login(b.pop3Port, 'gina', 'gina-new-pass-2')).ok).toBe(true);
    // Suspended through A: refused at B, where the old password was remembered.
    expect((await pop3Login(b.pop3Port, 'gina', 'gina-new-pass-2')).ok).toBe(true);
    expect((await a.cli(['accounts', 'suspend', 'gina'])).code).toBe(0);
    expect((await a.cli(['pending', 'apply'])).code).toBe(0);
    expect((await pop3Login(b.pop3Port, 'gina', 'gina-new-pass-2')).ok).toBe(false);
    await b.stop();
    await a.stop();
  }, 120_000);
});
