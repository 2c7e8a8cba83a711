// Moving in from Dovecot, for real: Maildirs served by a real Dovecot (Debian's dovecot-pop3d;
// needs root for its mail user) with a passwd-file of hashes made by `doveadm pw`; every UIDL
// Dovecot serves recorded with poplib and mpop run against it, leaving mail on the server; then
// `vmail import dovecot`: the dry run's every line, the import and its apply; vmail serves the
// same UIDLs, mpop downloads nothing again, the old passwords log in.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir } from '../helpers/daemon.js';
import { type Dovecot, ensureDovecot, startDovecotWith } from '../helpers/dovecot.js';
import { pop3Login, pop3Uidls } from '../helpers/effects.js';

const run = promisify(execFile);
const missing = ensureDovecot();

const doveadm = (scheme: string, password: string) =>
  execFileSync('doveadm', ['pw', '-s', scheme, '-p', password], { encoding: 'utf8' }).trim();

const uidls = pop3Uidls;

/** A message file as another server wrote it: no size tags, bare LF. */
function put(maildir: string, folder: 'new' | 'cur', name: string, subject: string): void {
  writeFileSync(
    join(maildir, folder, name),
    `From: someone@elsewhere.example\nSubject: ${subject}\n\nbody of ${subject}\n`,
  );
}

let dir: string;
let root: string;
let dovecot: Dovecot | null = null;
let d: DaemonHandle;
const users = {
  ann: { password: 'ann-secret-1', scheme: 'SHA512-CRYPT' },
  bob: { password: 'bob-secret-1', scheme: 'BLF-CRYPT' },
  carl: { password: 'carl-secret-1', scheme: 'PLAIN' },
};

beforeAll(async () => {
  if (missing) return;
  dir = tempDir('vmail-dovecot-');
  root = join(dir, 'mail');
  for (const name of [...Object.keys(users), 'dave']) {
    const m = join(root, 'example.test', name, 'Maildir');
    for (const f of ['new', 'cur', 'tmp']) mkdirSync(join(m, f), { recursive: true });
    for (let i = 0; i < 5; i++) put(m, 'new', `17000000${i}${name.length}.M${i}P1.oldhost`, `${name} ${i}`);
    put(m, 'cur', '1690000000.M9P1.oldhost{S}:2,S', `${name} seen`);
  }
  const lines = Object.entries(users).map(([name, u]) =>
    u.scheme === 'PLAIN'
      ? `${name}@example.test:{PLAIN}${u.password}::::::`
      : `${name}@example.test:${doveadm(u.scheme, u.password)}::::::`,
  );
  // dave's hash is in a scheme vmail cannot check; erin has no Maildir.
  lines.push(`dave@example.test:${doveadm('CRAM-MD5', 'dave-secret-1')}::::::`);
  lines.push(`erin@example.test:${doveadm('SHA512-CRYPT', 'erin-secret-1')}::::::`);
  writeFileSync(join(dir, 'passwd'), `# users of the old server\n${lines.join('\n')}\n`);
  dovecot = await startDovecotWith(dir, {
    passwdFile: join(dir, 'passwd'),
    mailLocation: `maildir:${root}/%d/%n/Maildir`,
    owned: [root],
  });
  d = await startDaemon({ domains: ['example.test'] });
}, 60_000);

afterAll(() => dovecot?.stop());

describe.skipIf(missing)(`vmail import dovecot${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const before: Record<string, string[]> = {};
  const mpopDir = () => join(dir, 'mpop');
  const mpop = async (port: number, user: string, password: string) => {
    mkdirSync(join(mpopDir(), 'Maildir', 'new'), { recursive: true });
    for (const f of ['cur', 'tmp']) mkdirSync(join(mpopDir(), 'Maildir', f), { recursive: true });
    const rc = join(mpopDir(), 'mpoprc');
    writeFileSync(
      rc,
      `defaults\ntls off\nauth user\naccount vm\nhost 127.0.0.1\nport ${port}\nuser ${user}\npassword ${password}\nkeep on\nuidls_file ${mpopDir()}/uidls\ndelivery maildir ${mpopDir()}/Maildir\n`,
      { mode: 0o600 },
    );
    return (await run('mpop', ['-C', rc, 'vm'])).stdout;
  };

  it('records what Dovecot serves: the UIDLs, and a client that keeps mail on the server fetching it all', async () => {
    for (const [name, u] of Object.entries(users)) {
      before[name] = await uidls(dovecot!.port, `${name}@example.test`, u.password);
      expect(before[name], name).toHaveLength(6);
    }
    // Dovecot's default format: the UID and the UIDVALIDITY, 8 hex digits each.
    expect(before.ann[0]).toMatch(/^00000001[0-9a-f]{8}$/);
    expect(await mpop(dovecot!.port, 'ann@example.test', users.ann.password)).toMatch(/new: 6 messages/);
    expect(await mpop(dovecot!.port, 'ann@example.test', users.ann.password)).toMatch(/new: no messages/);
    // Mail Dovecot has not seen yet: numbered after the rest, as Dovecot would number it.
    put(join(root, 'example.test/ann/Maildir'), 'new', '1800000000.M1P1.oldhost', 'ann late');
  });

  it('dry run: every account and Maildir it would bring, every line refused with why; nothing changes', async () => {
    const r = await d.cli(['import', 'dovecot', '--passwd-file', join(dir, 'passwd'), '--maildirs', root, '--dry-run']);
    const m = (name: string) => join(root, 'example.test', name, 'Maildir');
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      `row 2: add account ann@example.test, with 7 message(s) copied from ${m('ann')}, UIDLs kept`,
      `row 3: add account bob@example.test, with 6 message(s) copied from ${m('bob')}, UIDLs kept`,
      `row 4: add account carl@example.test, with 6 message(s) copied from ${m('carl')}, UIDLs kept`,
      expect.stringMatching(
        /^row 5: refused "dave@example.test": password_hash "\{CRAM-MD5\}[^"]*"\.\.\. is not a hash vmail can check: use one of \{ARGON2ID\}, \{ARGON2I\}, \{SHA512-CRYPT\}, \{SHA256-CRYPT\}, \{SSHA512\}, \{SSHA256\}, \{MD5-CRYPT\}, \{BLF-CRYPT\}, scrypt$/,
      ),
      `row 6: refused "erin@example.test": ${m('erin')} does not exist`,
      'Dry run: 3 change(s) would be queued, 2 row(s) refused; nothing was queued.',
    ]);
    expect(r.code).toBe(1);
    expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toEqual([]);
    expect(existsSync(join(d.dataDir, 'mail/example.test/ann'))).toBe(false);
  });

  it('imports: vmail serves the UIDLs Dovecot served, mpop fetches nothing again, the old passwords log in', async () => {
    const r = await d.cli([
      'import',
      'dovecot',
      '--passwd-file',
      join(dir, 'passwd'),
      '--maildirs',
      root,
      '--skip-bad',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Queued 3 change\(s\), skipped 2 refused row\(s\)/);
    // A set of pending changes like any other, until the apply.
    expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toHaveLength(3);
    expect((await d.cli(['pending', 'apply'])).stdout).toMatch(/Applied 3 change/);

    for (const [name, u] of Object.entries(users)) {
      // The same UIDLs (the order of messages is vmail's: by arrival).
      const now = await uidls(d.pop3Port, `${name}@example.test`, u.password);
      expect(now.slice(0, 6).sort(), name).toEqual([...before[name]].sort());
    }
    // The message Dovecot had not seen: the UIDL Dovecot gives it when it looks (the source stays, as copied).
    const late = (await uidls(d.pop3Port, 'ann@example.test', users.ann.password))[6];
    expect((await uidls(dovecot!.port, 'ann@example.test', users.ann.password))[6]).toBe(late);
    // The client keeps its record of what it fetched: only the late message is new.
    expect(await mpop(d.pop3Port, 'ann@example.test', users.ann.password)).toMatch(/new: 1 message/);
    expect(await mpop(d.pop3Port, 'ann@example.test', users.ann.password)).toMatch(/new: no messages/);
    // The source was copied, not moved; the copy holds no Dovecot index files.
    expect(readdirSync(join(root, 'example.test/bob/Maildir/cur')).length).toBeGreaterThan(0);
    expect(readdirSync(join(d.dataDir, 'mail/example.test/bob')).filter((f) => f.startsWith('dovecot'))).toEqual([]);
    // Hashes from Dovecot became vmail's own at the first login, and still log in.
    expect(d.output()).toMatch(/password rehashed user=bob@example\.test/);
    expect((await pop3Login(d.pop3Port, 'bob@example.test', users.bob.password)).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'bob@example.test', 'wrong-password')).ok).toBe(false);
  });

  it('--move takes the Maildir in one rename, and --uidl-format follows a site that changed pop3_uidl_format', async () => {
    const src = join(dir, 'moved');
    const m = join(src, 'example.test', 'fay', 'Maildir');
    cpSync(join(root, 'example.test/carl/Maildir'), m, { recursive: true });
    writeFileSync(join(dir, 'passwd2'), `fay@example.test:{PLAIN}fay-secret-1::::::\n`);
    const importFay = (...more: string[]) =>
      d.cli(['import', 'dovecot', '--passwd-file', join(dir, 'passwd2'), '--maildirs', src, ...more]);
    const r = await importFay('--move', '--uidl-format', 'v%v.u%u');
    expect(r.code, r.stderr).toBe(0);
    await d.cli(['pending', 'apply']);
    expect(existsSync(m)).toBe(false);
    const list = readFileSync(join(d.dataDir, 'mail/example.test/fay/dovecot-uidlist'), 'utf8');
    const validity = /V(\d+)/.exec(list)![1];
    expect((await uidls(d.pop3Port, 'fay@example.test', 'fay-secret-1')).sort()).toEqual(
      [1, 2, 3, 4, 5, 6].map((u) => `v${validity}.u${u}`).sort(),
    );
    const bad = await importFay('--uidl-format', '%m');
    expect(bad.stderr).toMatch(/--uidl-format "%m": %m is not supported/);
  });

  it("exports for Dovecot: a passwd-file it logs in with as it is, and dovecot-uidlists so it serves vmail's UIDLs", async () => {
    // An account made in vmail, with mail vmail delivered (its UIDLs are vmail's own).
    await d.cli(['accounts', 'add', 'zed', '--password-stdin'], 'zed-secret-1\n');
    await d.cli(['pending', 'apply']);
    const { smtpSend } = await import('../helpers/effects.js');
    for (const n of [1, 2]) expect((await smtpSend(d.smtpPort, 'zed@example.test', `to zed ${n}`)).accepted).toBe(true);
    const passwd = await d.cli(['export', 'dovecot-passwd']);
    expect(passwd.code).toBe(0);
    // Every account's hash is in a form Dovecot checks: old ones became Argon2id at their login.
    expect(passwd.stdout).toMatch(/^zed@example\.test:\{ARGON2ID\}\$argon2id\$v=19\$m=19456,t=2,p=1\$\S+::::::$/m);
    expect(passwd.stdout).toMatch(/^bob@example\.test:\{ARGON2ID\}/m);
    const file = join(dir, 'exported-passwd');
    writeFileSync(file, passwd.stdout);
    expect((await d.cli(['export', 'dovecot-uidlists'])).stdout).toMatch(
      /^Wrote dovecot-uidlist in 5 Maildir\(s\), listing \d+ message\(s\)\.$/m,
    );
    const other = join(dir, 'dovecot2');
    mkdirSync(other);
    // Dovecot's mail user (nobody) passes through vmail's data folder to the Maildirs.
    chmodSync(d.dataDir, 0o711);
    const back = await startDovecotWith(other, {
      passwdFile: file,
      mailLocation: `maildir:${d.dataDir}/mail/%d/%n`,
      owned: [join(d.dataDir, 'mail')],
    });
    try {
      for (const [user, password] of [
        ['zed@example.test', 'zed-secret-1'],
        ['bob@example.test', users.bob.password],
        ['ann@example.test', users.ann.password],
      ]) {
        const fromVmail = await uidls(d.pop3Port, user, password);
        expect(await uidls(back.port, user, password), user).toEqual(fromVmail);
      }
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\n--- Dovecot's log ---\n${readFileSync(join(other, 'dovecot.log'), 'utf8').slice(-2000)}`,
      );
    } finally {
      back.stop();
    }
  });

  it('exports for Postfix: maps postmap takes, lookups that answer, and settings postfix check passes', async () => {
    await d.cli(['forwards', 'add', 'info', 'ann@example.test', 'someone@elsewhere.example']);
    await d.cli(['domains', 'catchall', 'example.test', 'ann']);
    await d.cli(['pending', 'apply']);
    const maps = join(dir, 'postfix-maps');
    const r = await d.cli(['export', 'postfix', maps]);
    expect(r.code, r.stderr).toBe(0);
    const names = ['virtual_mailbox_domains', 'virtual_mailbox_maps', 'virtual_alias_maps'];
    await run(
      'postmap',
      names.map((n) => join(maps, n)),
    );
    const q = async (key: string, map: string) =>
      (await run('postmap', ['-q', key, `hash:${join(maps, map)}`]).catch(() => ({ stdout: '' }))).stdout.trim();
    expect(await q('example.test', 'virtual_mailbox_domains')).toBe('OK');
    expect(await q('zed@example.test', 'virtual_mailbox_maps')).toBe('example.test/zed/');
    expect(await q('info@example.test', 'virtual_alias_maps')).toBe('ann@example.test, someone@elsewhere.example');
    expect(await q('@example.test', 'virtual_alias_maps')).toBe('ann@example.test');
    // With a catch-all, each mailbox names itself, or Postfix's @domain would take its mail too.
    expect(await q('zed@example.test', 'virtual_alias_maps')).toBe('zed@example.test');
    // A Postfix configured with them: postfix check, in a mount namespace of its own so that its
    // configuration is the one in /etc/postfix without touching the machine's.
    const conf = join(dir, 'postfix-conf');
    cpSync('/etc/postfix', conf, { recursive: true });
    for (const sub of ['queue', 'data']) mkdirSync(join(dir, `postfix-${sub}`));
    writeFileSync(
      join(conf, 'main.cf'),
      `${readFileSync(join(maps, 'main.cf.vmail'), 'utf8')}compatibility_level = 3.6\nmyhostname = mail.example.test\nqueue_directory = ${dir}/postfix-queue\ndata_directory = ${dir}/postfix-data\n`,
    );
    const check = await run('unshare', [
      '--mount',
      'sh',
      '-c',
      `mount --bind '${conf}' /etc/postfix && script -qec 'postfix check' /dev/null`,
    ]).then(
      (x) => ({ code: 0, out: x.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    expect(check.out).not.toMatch(/fatal|error/i);
    expect(check.code).toBe(0);
  });
});
