// An import's sources, attacked: links in a Dovecot tree (a message file to a secret outside,
// `new` to a folder outside, a Maildir to another account's), a layout into the daemon's own
// data dir with --move, links swapped in after the check and before the apply. By effect: what
// POP3 serves, where SMTP delivers, what is left outside, and how many messages an account has.
// Then --move's retries: mail moved before a failure is merged with what the old server
// delivered since, never deleted; and a copy that runs out of disk space frees what it copied.
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, tempDir, VMAIL } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';

const run = promisify(execFile);

function maildir(dir: string, files: [folder: 'new' | 'cur', name: string][], body = 'body'): void {
  for (const f of ['new', 'cur', 'tmp']) mkdirSync(join(dir, f), { recursive: true });
  for (const [folder, name] of files) writeFileSync(join(dir, folder, name), `Subject: ${name}\n\n${body}\n`);
}

/** Every message POP3 serves to `user`, as text (Python's poplib, RETR of each). */
async function pop3Texts(port: number, user: string, password: string): Promise<string[] | null> {
  try {
    const { stdout } = await run('python3', [join(ROOT, 'test/helpers/fetch_pop3.py'), String(port), user, password]);
    return (JSON.parse(stdout) as { messages: { data: string }[] }).messages.map((m) =>
      Buffer.from(m.data, 'base64').toString('latin1'),
    );
  } catch {
    // poplib raises on a refused login: no mailbox served at all.
    return null;
  }
}

/** Every file under `dir` whose bytes hold `marker`, links not followed. */
function filesWith(dir: string, marker: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isFile() && readFileSync(p, 'latin1').includes(marker)) out.push(p);
  }
  return out;
}

const SECRET = 'TOP-SECRET-0f3c9a';
let d: DaemonHandle;
let outside: string;
let secret: string;
const args = ['--auth-failure-delay', '10ms'];

beforeAll(async () => {
  d = await startDaemon({ args });
  outside = tempDir('outside-');
  secret = join(outside, 'shadow');
  writeFileSync(secret, `root:${SECRET}:19000:0:99999:7:::\n`);
});

/** A Dovecot tree with one user, its passwd-file, and the tree's root. */
function tree(
  user: string,
  files: [folder: 'new' | 'cur', name: string][],
): { root: string; dir: string; passwd: string } {
  const root = tempDir('tree-');
  const dir = join(root, 'example.test', user, 'Maildir');
  maildir(dir, files);
  const passwd = join(root, 'passwd');
  writeFileSync(passwd, `${user}@example.test:{PLAIN}${user}-pass-0001::::::\n`);
  return { root, dir, passwd };
}

const dovecot = (t: { root: string; passwd: string }, ...more: string[]) =>
  d.cli(['import', 'dovecot', '--passwd-file', t.passwd, '--maildirs', t.root, ...more]);

describe('an import follows no link and takes nothing of the daemon’s own', () => {
  it('a message file linked to a secret outside is refused with its row and path, and never served', async () => {
    const t = tree('mal', [['cur', '1700000001.M1P1.old:2,S']]);
    const link = join(t.dir, 'new', '1700000002.M2P1.old');
    symlinkSync(secret, link);
    const dry = await dovecot(t, '--dry-run');
    expect(dry.stdout).toMatch(new RegExp(`^row 1: refused "mal@example.test": ${link} is a symbolic link`, 'm'));
    expect(dry.code).toBe(1);
    // The link put there after the check, before the apply: the apply takes it neither.
    unlinkSync(link);
    writeFileSync(link, 'Subject: fine\n\nfine\n');
    expect((await dovecot(t)).code).toBe(0);
    unlinkSync(link);
    symlinkSync(secret, link);
    const apply = await d.cli(['pending', 'apply']);
    expect(apply.stderr).toMatch(
      new RegExp(`^vmail: change (\\d+) of \\S+ not applied: ${link} is a symbolic link`, 'm'),
    );
    await d.cli(['pending', 'cancel', /^vmail: change (\d+)/m.exec(apply.stderr)![1]]);
    expect(filesWith(join(d.dataDir, 'mail'), SECRET)).toEqual([]);
    for (const text of (await pop3Texts(d.pop3Port, 'mal@example.test', 'mal-pass-0001')) ?? [])
      expect(text).not.toContain(SECRET);
    expect(readFileSync(secret, 'utf8')).toContain(SECRET);
  });

  it("a message file hard-linked to the daemon's own SRS secret is refused at the apply with its path, and never served", async () => {
    const t = tree('hl', [['cur', '1700000011.M1P1.old:2,S']]);
    const own = join(d.dataDir, 'srs-secret');
    const ownText = readFileSync(own, 'utf8').trim();
    expect(ownText.length).toBeGreaterThan(8);
    const link = join(t.dir, 'new', '1700000012.M2P1.old');
    linkSync(own, link);
    expect((await dovecot(t)).code).toBe(0);
    const apply = await d.cli(['pending', 'apply']);
    expect(apply.stderr).toMatch(
      new RegExp(
        `^vmail: change (\\d+) of \\S+ not applied: ${link} has 2 hard links, one of them a file of the daemon's own: vmail imports no links$`,
        'm',
      ),
    );
    await d.cli(['pending', 'cancel', /^vmail: change (\d+)/m.exec(apply.stderr)![1]]);
    expect(filesWith(join(d.dataDir, 'mail'), ownText)).toEqual([]);
    for (const text of (await pop3Texts(d.pop3Port, 'hl@example.test', 'hl-pass-0001')) ?? [])
      expect(text).not.toContain(ownText);
    // Both names of the file are left as they were.
    expect(readFileSync(own, 'utf8').trim()).toBe(ownText);
    expect(readFileSync(link, 'utf8').trim()).toBe(ownText);
  });

  it('a message hard-linked within the source (as Dovecot copies between folders) is mail, and imported', async () => {
    const t = tree('hm', [['cur', '1700000021.M1P1.old:2,S']]);
    mkdirSync(join(t.dir, '.Saved/cur'), { recursive: true });
    linkSync(join(t.dir, 'cur', '1700000021.M1P1.old:2,S'), join(t.dir, '.Saved/cur', '1700000021.M1P1.old:2,S'));
    expect((await dovecot(t)).code).toBe(0);
    const apply = await d.cli(['pending', 'apply']);
    expect(apply.stderr).toBe('');
    expect((await pop3Texts(d.pop3Port, 'hm@example.test', 'hm-pass-0001'))?.length).toBe(1);
  });

  it('`new` linked to a folder outside, with --move: refused; swapped in before the apply, the account gets a real new/', async () => {
    const target = join(outside, 'etc-ssh');
    mkdirSync(target);
    writeFileSync(join(target, 'ssh_host_key'), `Subject: key\n\n${SECRET}\n`);
    const t = tree('nw', [['cur', '1700000001.M1P2.old:2,S']]);
    rmSync(join(t.dir, 'new'), { recursive: true });
    symlinkSync(target, join(t.dir, 'new'));
    const dry = await dovecot(t, '--move', '--dry-run');
    expect(dry.stdout).toMatch(
      new RegExp(`^row 1: refused "nw@example.test": ${join(t.dir, 'new')} is a symbolic link`, 'm'),
    );
    // Queued with a real new/, the link swapped in before the apply.
    unlinkSync(join(t.dir, 'new'));
    mkdirSync(join(t.dir, 'new'));
    expect((await dovecot(t, '--move')).code).toBe(0);
    rmSync(join(t.dir, 'new'), { recursive: true });
    symlinkSync(target, join(t.dir, 'new'));
    const apply = await d.cli(['pending', 'apply']);
    const refused = /^vmail: change (\d+) of \S+ not applied: (.*)$/m.exec(apply.stderr);
    expect(refused?.[2]).toBe(`${join(t.dir, 'new')} is a symbolic link: vmail imports no links`);
    await d.cli(['pending', 'cancel', refused![1]]);
    const account = join(d.dataDir, 'mail/example.test/nw');
    for (const texts of [await pop3Texts(d.pop3Port, 'nw@example.test', 'nw-pass-0001')])
      for (const text of texts ?? []) expect(text).not.toContain(SECRET);
    if (existsSync(account)) {
      expect(lstatSync(join(account, 'new')).isDirectory()).toBe(true);
      expect((await smtpSend(d.smtpPort, 'nw@example.test', 'after-the-move')).accepted).toBe(true);
    }
    // Nothing written into the folder outside, nothing taken from it.
    expect(readdirSync(target)).toEqual(['ssh_host_key']);
  });

  it('a Maildir linked to another one, or reached through a linked folder, is refused', async () => {
    const other = tree('other', [['new', '1700000001.M1P3.old']]);
    const t = tree('eve', []);
    rmSync(t.dir, { recursive: true });
    symlinkSync(other.dir, t.dir);
    expect((await dovecot(t, '--dry-run')).stdout).toMatch(
      new RegExp(`^row 1: refused "eve@example.test": ${t.dir} is a symbolic link`, 'm'),
    );
    const u = tree('eve2', []);
    rmSync(join(u.root, 'example.test', 'eve2'), { recursive: true });
    symlinkSync(join(other.root, 'example.test', 'other'), join(u.root, 'example.test', 'eve2'));
    expect((await dovecot(u, '--dry-run')).stdout).toMatch(
      /^row 1: refused "eve2@example\.test": \S+ is reached through a symbolic link/m,
    );
    expect((await dovecot(u, '--skip-bad')).stdout).not.toMatch(/Queued [1-9]/);
  });

  it('a layout or root into the data dir with --move is refused: the live account keeps its mail', async () => {
    const csv = join(tempDir(), 'victim.csv');
    writeFileSync(csv, 'name,password\nvictim,victim-pass-01\n');
    await d.cli(['accounts', 'import', csv]);
    await d.cli(['pending', 'apply']);
    for (const m of ['live-1', 'live-2'])
      expect((await smtpSend(d.smtpPort, 'victim@example.test', m)).accepted).toBe(true);
    const root = tempDir('thief-');
    writeFileSync(join(root, 'passwd'), 'thief@example.test:{PLAIN}thief-pass-01::::::\n');
    const mail = join(d.dataDir, 'mail');
    for (const how of [
      ['--maildirs', root, '--layout', join(mail, 'example.test/victim')],
      ['--maildirs', mail, '--layout', '%d/victim'],
      ['--maildirs', d.dataDir, '--layout', 'mail/%d/victim'],
    ]) {
      const r = await d.cli([
        'import',
        'dovecot',
        '--passwd-file',
        join(root, 'passwd'),
        ...how,
        '--move',
        '--skip-bad',
      ]);
      expect(r.stdout, how.join(' ')).toMatch(/^row 1: refused "thief@example\.test": .*the daemon's own data/m);
    }
    await d.cli(['pending', 'apply']);
    expect((await pop3Login(d.pop3Port, 'victim@example.test', 'victim-pass-01')).stat?.[0]).toBe(2);
    expect((await pop3Login(d.pop3Port, 'thief@example.test', 'thief-pass-01')).ok).toBe(false);
  });
});

describe('import --move never deletes mail it moved', () => {
  it('a retry after a failure merges: 5 moved, 1 delivered by the old server since, the account has 6', async () => {
    const t = tree(
      'late',
      Array.from({ length: 5 }, (_, i) => ['new', `170000000${i}.M${i}P9.old`] as ['new', string]),
    );
    writeFileSync(
      join(t.dir, 'dovecot-uidlist'),
      `3 V1234567 N6\n${Array.from({ length: 5 }, (_, i) => `${i + 1} :170000000${i}.M${i}P9.old`).join('\n')}\n`,
    );
    expect((await dovecot(t, '--move')).code).toBe(0);
    const [change] = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as { id: string }[];
    // The first try moved the Maildir into its work folder, then failed (a crash, here).
    const dataDir = d.dataDir;
    await d.kill9();
    renameSync(t.dir, join(dataDir, 'mail/example.test', `.import-${change.id}`));
    // The old server, still running, makes the Maildir again for a late message.
    maildir(t.dir, [['new', '1800000000.M7P9.old']]);
    d = await startDaemon({ dataDir, args });
    const retried = await d.cli(['pending', 'apply']);
    expect(retried.stderr).toBe('');
    expect(retried.code).toBe(0);
    expect((await pop3Login(d.pop3Port, 'late@example.test', 'late-pass-0001')).stat?.[0]).toBe(6);
    expect(readdirSync(join(dataDir, 'mail/example.test')).filter((f) => f.startsWith('.import-'))).toEqual([]);
  });
});

describe('import input files', () => {
  /** The CLI, killed after 20 s if it hangs (a read of /dev/zero never ends, and grows until memory runs out). */
  const bounded = (cliArgs: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
      const p = spawn(process.execPath, [VMAIL, ...cliArgs, '--socket', d.socket]);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b) => (stdout += b));
      p.stderr.on('data', (b) => (stderr += b));
      const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
      p.on('close', (code) => {
        clearTimeout(timer);
        res({ code, stdout, stderr });
      });
    });

  it('/dev/zero, a FIFO, a folder and a link are refused at once with one line, before anything is read', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'rows.fifo');
    execFileSync('mkfifo', [fifo]);
    const link = join(dir, 'link.csv');
    symlinkSync(secret, link);
    for (const [file, why] of [
      ['/dev/zero', /\/dev\/zero is not a plain file/],
      [fifo, /is not a plain file/],
      [dir, /is a folder, not a file/],
      [link, /is a symbolic link/],
    ] as const) {
      const r = await bounded(['accounts', 'import', file]);
      expect(r.code, file).toBe(1);
      expect(r.stderr.trim().split('\n'), file).toEqual([expect.stringMatching(why)]);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
    }
    const passwd = await bounded(['import', 'dovecot', '--passwd-file', link, '--maildirs', dir]);
    expect(passwd.stderr).toMatch(/is a symbolic link/);
    expect(passwd.stdout + passwd.stderr).not.toContain(SECRET);
  }, 120_000);

  it('vpopmail: a vpasswd that is a link is refused, a home outside the tree is refused with its row', async () => {
    const root = tempDir('vpop-');
    mkdirSync(join(root, 'domains/example.test'), { recursive: true });
    const elsewhere = tree('vpx', [['new', '1700000001.M1P5.old']]);
    maildir(join(root, 'domains/example.test/vin/Maildir'), [['new', '1700000002.M2P5.old']]);
    writeFileSync(
      join(root, 'domains/example.test/vpasswd'),
      `vpx:x:89:89::${join(elsewhere.root, 'example.test/vpx')}:NOQUOTA:vpx-pass-0001\nvin:x:89:89::${join(root, 'domains/example.test/vin')}:NOQUOTA:vin-pass-0001\nup:x:89:89::${join(root, 'domains/../..')}:NOQUOTA:up-pass-0001\n`,
    );
    const r = await d.cli(['import', 'vpopmail', root, '--dry-run']);
    expect(r.stdout).toMatch(/^row 1: refused "vpx@example\.test": its home \S+ is outside /m);
    expect(r.stdout).toMatch(/^row 2: add account vin@example\.test/m);
    expect(r.stdout).toMatch(/^row 3: refused "up@example\.test": its home \S+ is outside /m);
    const other = tempDir('vpop-');
    mkdirSync(join(other, 'domains/example.test'), { recursive: true });
    symlinkSync(join(root, 'domains/example.test/vpasswd'), join(other, 'domains/example.test/vpasswd'));
    expect((await d.cli(['import', 'vpopmail', other, '--dry-run'])).stderr).toMatch(/vpasswd is a symbolic link/);
  });

  it('rows sent ahead are held to a byte limit as well as a row limit', async () => {
    const sock = createConnection(d.socket);
    await new Promise((r) => sock.once('connect', r));
    const lines = createInterface({ input: sock });
    const replies = lines[Symbol.asyncIterator]();
    // 900 KB a request (the line limit is 1 MB), 80 of them: 72 MB, over the 64 MB limit.
    const row = { row: 2, name: 'big', password: 'big-pass-001', forward: ['x'.repeat(900_000)] };
    let refused = '';
    for (let i = 0; i < 80 && !refused; i++) {
      sock.write(
        `${JSON.stringify({ jsonrpc: '2.0', id: i, method: 'accounts.import', params: { rows: [row], more: true } })}\n`,
      );
      const reply = JSON.parse(String((await replies.next()).value)) as { error?: { message: string } };
      if (reply.error) refused = reply.error.message;
    }
    sock.destroy();
    expect(refused).toMatch(/at most 64 MB of rows: split the file/);
    expect((await d.cli(['status'])).code).toBe(0);
  }, 120_000);

  it('hashing a big file leaks no listener (no MaxListenersExceededWarning)', async () => {
    const file = join(tempDir(), 'plain.csv');
    writeFileSync(
      file,
      `name,password\n${Array.from({ length: 40 }, (_, i) => `leak${i},leak-pass-${i}`).join('\n')}\n`,
    );
    const r = await d.cli(['accounts', 'import', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/MaxListenersExceededWarning/);
    expect(JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout).length).toBeGreaterThanOrEqual(40);
  }, 120_000);

  it('the daemon hashes plain passwords off libuv’s pool: mail is delivered while an import hashes', async () => {
    const csv = join(tempDir(), 'rcpt.csv');
    writeFileSync(csv, 'name,password\nbusyrcpt,busyrcpt-pass-1\n');
    await d.cli(['accounts', 'import', csv]);
    await d.cli(['pending', 'apply']);
    const sock = createConnection(d.socket);
    await new Promise((r) => sock.once('connect', r));
    const rows = Array.from({ length: 200 }, (_, i) => ({ row: i + 2, name: `busy${i}`, password: `busy-pass-${i}` }));
    const started = Date.now();
    const imported = new Promise<number>((res) => sock.once('data', () => res(Date.now())));
    sock.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'accounts.import', params: { rows, total: 200 } })}\n`,
    );
    // Three deliveries one after the other, begun as the hashing begins.
    for (const m of ['busy-mail-1', 'busy-mail-2', 'busy-mail-3'])
      expect((await smtpSend(d.smtpPort, 'busyrcpt@example.test', m)).accepted).toBe(true);
    const delivered = Date.now();
    const done = await imported;
    sock.destroy();
    for (const m of ['busy-mail-1', 'busy-mail-2', 'busy-mail-3'])
      expect(maildirWith(join(d.dataDir, 'mail/example.test/busyrcpt'), m)).toHaveLength(1);
    // Measured against the import itself, not a clock: the mail did not wait for the hashing
    // (behind it on libuv's pool, the first delivery ended with the last hash).
    expect(delivered - started).toBeLessThan((done - started) / 2);
  }, 120_000);
});

describe('an import that runs out of disk space', () => {
  let mount: string | null = null;
  afterAll(async () => {
    await d?.stop();
    // Lazily: the daemon may still hold the folder open as it exits.
    if (mount) execFileSync('umount', ['-l', mount]);
  });

  it('frees what it copied, never the source; with room again, the retry brings every message', async () => {
    // A data dir whose domain folder is a 512 KiB tmpfs (the sources are on another file system,
    // so --move copies too).
    const dataDir = tempDir('full-');
    mount = join(dataDir, 'mail/example.test');
    mkdirSync(mount, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mount]);
    await d.stop();
    d = await startDaemon({ dataDir, args });
    const big = 'x'.repeat(32 * 1024);
    const t = tree('full', []);
    const u = tree('fullmv', []);
    for (const dir of [t.dir, u.dir])
      maildir(
        dir,
        Array.from({ length: 30 }, (_, i) => ['cur', `17000000${String(i).padStart(2, '0')}.M${i}.old:2,S`]),
        big,
      );
    const free = statfsSync(mount).bfree;
    expect((await dovecot(t)).code).toBe(0);
    expect((await dovecot(u, '--move')).code).toBe(0);
    const r = await d.cli(['pending', 'apply']);
    expect(r.stderr).toMatch(/no space left/);
    expect(r.code).toBe(1);
    // Every copy removed again: the space is back, and no work folder is left.
    expect(readdirSync(mount).filter((f) => f.startsWith('.import-'))).toEqual([]);
    expect(statfsSync(mount).bfree).toBeGreaterThanOrEqual(free - 4);
    for (const dir of [t.dir, u.dir]) expect(readdirSync(join(dir, 'cur'))).toHaveLength(30);
    execFileSync('mount', ['-o', 'remount,size=8m', mount]);
    expect((await d.cli(['pending', 'apply'])).stdout).toMatch(/Applied 2 change/);
    for (const user of ['full', 'fullmv'])
      expect((await pop3Login(d.pop3Port, `${user}@example.test`, `${user}-pass-0001`)).stat?.[0], user).toBe(30);
  });
});
