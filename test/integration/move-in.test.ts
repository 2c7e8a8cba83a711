// Moving in from vpopmail (qmail Maildirs without size tags, vpasswd with crypt hashes, clear
// passwords and quotas), and an import that survives kill -9 in the middle of its apply: every
// Maildir whole, every message once, the UIDLs the old server gave.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { pop3Login, pop3Uidls } from '../helpers/effects.js';

const doveadm = (scheme: string, password: string) =>
  execFileSync('doveadm', ['pw', '-s', scheme, '-p', password], { encoding: 'utf8' })
    .trim()
    .replace(/^\{[^}]*\}/, '');

const uidls = pop3Uidls;

function maildir(dir: string, files: [folder: 'new' | 'cur', name: string][]): void {
  for (const f of ['new', 'cur', 'tmp']) mkdirSync(join(dir, f), { recursive: true });
  for (const [folder, name] of files) writeFileSync(join(dir, folder, name), `Subject: ${name}\n\nbody\n`);
}

let d: DaemonHandle;

/** Starts `pending apply` and kills the daemon with -9 that long after, once per delay, restarting it each time. */
async function applyCutByKills(dataDir: string, delaysMs: number[]): Promise<void> {
  for (const delayMs of delaysMs) {
    const apply = d.cli(['pending', 'apply']);
    await new Promise((res) => setTimeout(res, delayMs));
    await d.kill9();
    await apply;
    d = await startDaemon({ dataDir, domains: ['example.test'] });
  }
}
beforeAll(async () => {
  d = await startDaemon({ domains: ['example.test'] });
});

describe('vmail import vpopmail', () => {
  it('brings vpasswd accounts (MD5-crypt, clear passwords, quotas) and qmail Maildirs with the UIDLs qmail-pop3d served', async () => {
    const root = tempDir('vpopmail-');
    const home = (n: string) => join(root, 'domains/example.test', n);
    const qmailNames: [folder: 'new' | 'cur', name: string][] = [
      ['cur', '1700000001.12345.oldhost:2,S'],
      ['new', '1700000002.12346.oldhost'],
      // A comma in a name: qmail-pop3d's UIDL is the whole name, vmail's own would stop at it.
      ['new', '1700000003.12347.oldhost,x1'],
    ];
    maildir(join(home('ann'), 'Maildir'), qmailNames);
    maildir(join(home('bob'), 'Maildir'), qmailNames.slice(0, 2));
    writeFileSync(
      join(root, 'domains/example.test/vpasswd'),
      [
        `ann:${doveadm('MD5-CRYPT', 'ann-vpop-1')}:89:89:Ann:${home('ann')}:10485760S`,
        `bob:${doveadm('SHA512-CRYPT', 'not-this-one')}:89:89:Bob:${home('bob')}:NOQUOTA:bob-vpop-clear-1`,
        'broken line',
        `cid:${doveadm('SHA512-CRYPT', 'cid-vpop-1')}:89:89:Cid::NOQUOTA`,
        '',
      ].join('\n'),
    );
    const dry = await d.cli(['import', 'vpopmail', root, '--dry-run']);
    expect(dry.stdout.trimEnd().split('\n')).toEqual([
      `row 1: add account ann@example.test, with 3 message(s) copied from ${home('ann')}/Maildir, UIDLs kept (file names); quota 10 MB`,
      `row 2: add account bob@example.test, with 2 message(s) copied from ${home('bob')}/Maildir, UIDLs kept (file names)`,
      'row 3: refused "broken line@example.test": not a vpasswd line (name:crypt:uid:gid:gecos:dir:...)',
      `row 4: refused "cid@example.test": ${home('cid')}/Maildir does not exist`,
      'Dry run: 2 change(s) would be queued, 2 row(s) refused; nothing was queued.',
    ]);
    const r = await d.cli(['import', 'vpopmail', root, '--skip-bad']);
    expect(r.stdout).toMatch(/Queued 2 change\(s\), skipped 2 refused row\(s\)/);
    await d.cli(['pending', 'apply']);
    expect(await uidls(d.pop3Port, 'ann@example.test', 'ann-vpop-1')).toEqual(
      qmailNames.map(([, n]) => n.split(':')[0]),
    );
    // The clear password vpopmail kept is the one that logs in, not the hash beside it.
    expect((await pop3Login(d.pop3Port, 'bob@example.test', 'bob-vpop-clear-1')).ok).toBe(true);
    expect((await pop3Login(d.pop3Port, 'bob@example.test', 'not-this-one')).ok).toBe(false);
    const list = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as {
      address: string;
      quota: number | null;
      messages: number;
    }[];
    expect(list.find((a) => a.address === 'ann@example.test')).toMatchObject({ quota: 10485760, messages: 3 });
  });
});

describe('an import cut by kill -9 in the middle of its apply', () => {
  it('finishes after the restart: every Maildir whole, each message once, the old UIDLs, no work folder left', async () => {
    const root = tempDir('dovecot-tree-');
    const accounts = 30;
    const per = 150;
    const lines: string[] = [];
    for (let a = 0; a < accounts; a++) {
      const name = `mover${a}`;
      const dir = join(root, 'example.test', name, 'Maildir');
      maildir(
        dir,
        Array.from({ length: per }, (_, i) => ['cur', `${1700000000 + i}.M${i}P${a}.oldhost:2,S`] as ['cur', string]),
      );
      // As Dovecot leaves it: UIDs 1..per under one UIDVALIDITY.
      writeFileSync(
        join(dir, 'dovecot-uidlist'),
        `3 V1234567 N${per + 1}\n${Array.from({ length: per }, (_, i) => `${i + 1} :${1700000000 + i}.M${i}P${a}.oldhost`).join('\n')}\n`,
      );
      lines.push(`${name}@example.test:{PLAIN}mover-pass-${a}::::::`);
    }
    writeFileSync(join(root, 'passwd'), `${lines.join('\n')}\n`);
    const dataDir = d.dataDir;
    const r = await d.cli(['import', 'dovecot', '--passwd-file', join(root, 'passwd'), '--maildirs', root]);
    expect(r.stdout).toMatch(/Queued 30 change\(s\)/);
    await applyCutByKills(dataDir, [30, 120, 400]);
    await d.cli(['pending', 'apply']);
    expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout)).toEqual([]);
    const list = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as {
      address: string;
      messages: number;
    }[];
    for (let a = 0; a < accounts; a++)
      expect(list.find((x) => x.address === `mover${a}@example.test`)?.messages, `mover${a}`).toBe(per);
    const folder = join(dataDir, 'mail/example.test');
    expect(readdirSync(folder).filter((f) => f.startsWith('.'))).toEqual([]);
    for (const a of [0, 17, 29]) {
      const got = await uidls(d.pop3Port, `mover${a}@example.test`, `mover-pass-${a}`);
      expect(got).toEqual(Array.from({ length: per }, (_, i) => `${(i + 1).toString(16).padStart(8, '0')}0012d687`));
      expect(readdirSync(join(folder, `mover${a}`, 'cur'))).toHaveLength(per);
    }
    expect(existsSync(join(root, 'example.test/mover0/Maildir/cur'))).toBe(true);
  }, 120_000);

  it('with --move too: a Maildir a crash left half way (moved, not yet in place) is finished, never lost', async () => {
    const root = tempDir('dovecot-move-');
    const lines: string[] = [];
    for (let a = 0; a < 12; a++) {
      const dir = join(root, 'example.test', `mv${a}`, 'Maildir');
      maildir(
        dir,
        Array.from({ length: 100 }, (_, i) => ['new', `${1700000000 + i}.M${i}P${a}.oldhost`] as ['new', string]),
      );
      lines.push(`mv${a}@example.test:{PLAIN}mv-pass-${a}::::::`);
    }
    writeFileSync(join(root, 'passwd'), `${lines.join('\n')}\n`);
    const dataDir = d.dataDir;
    expect(
      (await d.cli(['import', 'dovecot', '--passwd-file', join(root, 'passwd'), '--maildirs', root, '--move'])).code,
    ).toBe(0);
    await applyCutByKills(dataDir, [20, 60, 150]);
    await d.cli(['pending', 'apply']);
    for (let a = 0; a < 12; a++) {
      expect(readdirSync(join(dataDir, 'mail/example.test', `mv${a}`, 'new')), `mv${a}`).toHaveLength(100);
      expect(existsSync(join(root, 'example.test', `mv${a}`, 'Maildir')), `mv${a} moved`).toBe(false);
    }
  }, 120_000);

  it('a move a crash cut between its two renames (the mail in the work folder, the source gone) is finished', async () => {
    const root = tempDir('dovecot-half-');
    const src = join(root, 'example.test', 'half', 'Maildir');
    maildir(src, [
      ['new', '1700000001.M1P1.oldhost'],
      ['cur', '1700000002.M2P1.oldhost:2,S'],
    ]);
    writeFileSync(join(root, 'passwd'), 'half@example.test:{PLAIN}half-pass-1::::::\n');
    await d.cli(['import', 'dovecot', '--passwd-file', join(root, 'passwd'), '--maildirs', root, '--move']);
    const [change] = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as { id: string }[];
    // What a crash right after the first rename leaves.
    const dataDir = d.dataDir;
    await d.stop();
    renameSync(src, join(dataDir, 'mail/example.test', `.import-${change.id}`));
    d = await startDaemon({ dataDir, domains: ['example.test'] });
    expect((await d.cli(['pending', 'apply'])).stdout).toMatch(/Applied 1 change/);
    expect(await uidls(d.pop3Port, 'half@example.test', 'half-pass-1')).toEqual([
      '1700000001.M1P1.oldhost',
      '1700000002.M2P1.oldhost',
    ]);
  });

  it('a work folder whose change is gone (cancelled after a crash) goes to the archive with its mail at the next start', async () => {
    const dataDir = d.dataDir;
    await d.stop();
    const left = join(dataDir, 'mail/example.test/.import-99999');
    maildir(left, [['cur', '1700000000.M1P1.oldhost:2,S']]);
    d = await startDaemon({ dataDir, domains: ['example.test'] });
    // The sweep runs once the daemon is ready.
    await waitFor(() => d.output().includes('import leftover archived'), 'the leftover sweep');
    expect(existsSync(left)).toBe(false);
    expect(readdirSync(join(dataDir, 'archive/example.test/import-99999/cur'))).toEqual([
      '1700000000.M1P1.oldhost:2,S',
    ]);
    expect(d.output()).toMatch(/import leftover archived dir=\S+import-99999/);
  });
});

describe('under the systemd unit, which hides home folders (ProtectHome)', () => {
  it('an import from /home that looks missing names the unit setting to change', async () => {
    // systemd sets INVOCATION_ID for a service; the Maildir under /home is "not there" to it.
    const u = await startDaemon({ domains: ['example.test'], env: { INVOCATION_ID: 'test-invocation' } });
    try {
      // The old server's tree under /home (made here, without the Maildir: what the unit would hide).
      const root = mkdtempSync('/home/vmail-test-');
      const gone = join(root, 'domains/example.test/dee/Maildir');
      mkdirSync(join(root, 'domains/example.test'), { recursive: true });
      writeFileSync(
        join(root, 'domains/example.test/vpasswd'),
        `dee:${doveadm('SHA512-CRYPT', 'dee-vpop-1')}:89:89:Dee:${join(root, 'domains/example.test/dee')}:NOQUOTA\n`,
      );
      const dry = await u.cli(['import', 'vpopmail', root, '--dry-run']);
      expect(dry.stdout).toContain(`${gone} does not exist`);
      expect(dry.stdout).toContain('systemctl edit vmail, and set ProtectHome=read-only');
      // Outside home folders, or not under systemd, the line is as it was.
      const plain = await d.cli(['import', 'vpopmail', root, '--dry-run']);
      expect(plain.stdout).toContain(`${gone} does not exist`);
      expect(plain.stdout).not.toContain('ProtectHome');
      rmSync(root, { recursive: true, force: true });
    } finally {
      await u.stop();
    }
  });
});
