// A Maildir moved in with `import dovecot --move` from another server's user: the old owner
// keeps no hold on the live mailbox (its folders and files become the daemon's, 0700/0600, before
// any link is removed). And whatever a link in a live Maildir's new/ or cur/ points to, POP3
// neither counts nor serves it. By effect: owners and modes on disk, POP3 STAT/LIST/RETR.
import { execFile } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, tempDir } from '../helpers/daemon.js';
import { pop3Login, smtpSend } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';

const run = promisify(execFile);
const SECRET = 'TOP-SECRET-7d21be';
const FOREIGN = 4242;
let d: DaemonHandle;
let secret: string;

beforeAll(async () => {
  d = await startDaemon({ args: ['--auth-failure-delay', '10ms'] });
  secret = join(tempDir('outside-'), 'shadow');
  writeFileSync(secret, `root:${SECRET}:19000:0:99999:7:::\n`);
});

afterAll(async () => {
  await d?.stop();
});

/** Every message POP3 serves to `user`, as text (Python's poplib, RETR of each). */
async function pop3Texts(user: string, password: string): Promise<string[]> {
  const { stdout } = await run('python3', [
    join(ROOT, 'test/helpers/fetch_pop3.py'),
    String(d.pop3Port),
    user,
    password,
  ]);
  return (JSON.parse(stdout) as { messages: { data: string }[] }).messages.map((m) =>
    Buffer.from(m.data, 'base64').toString('latin1'),
  );
}

describe('import --move takes the moved Maildir from its old owner', () => {
  it('a tree owned by uid 4242 ends owned by the daemon, folders 0700 and files 0600', async () => {
    const root = tempDir('tree-');
    const dir = join(root, 'example.test', 'moved', 'Maildir');
    for (const f of ['new', 'cur', 'tmp', '.Sent/cur']) mkdirSync(join(dir, f), { recursive: true });
    writeFileSync(join(dir, 'new', '1700000001.M1P1.old'), 'Subject: one\n\none\n');
    writeFileSync(join(dir, 'cur', '1700000002.M2P1.old:2,S'), 'Subject: two\n\ntwo\n');
    writeFileSync(join(dir, '.Sent/cur', '1700000003.M3P1.old:2,S'), 'Subject: sent\n\nsent\n');
    const passwd = join(root, 'passwd');
    writeFileSync(passwd, 'moved@example.test:{PLAIN}moved-pass-0001::::::\n');
    // The old server's user owns its whole Maildir, as Dovecot's vmail user would.
    const walk = (p: string) => {
      chownSync(p, FOREIGN, FOREIGN);
      const st = lstatSync(p);
      if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    };
    walk(dir);
    expect((await d.cli(['import', 'dovecot', '--passwd-file', passwd, '--maildirs', root, '--move'])).code).toBe(0);
    const apply = await d.cli(['pending', 'apply']);
    expect(apply.stderr).toBe('');
    const account = join(d.dataDir, 'mail/example.test/moved');
    const uid = process.getuid!();
    const gid = process.getgid!();
    const seen: string[] = [];
    const check = (p: string) => {
      const st = lstatSync(p);
      seen.push(p);
      expect({ p, uid: st.uid, gid: st.gid }).toEqual({ p, uid, gid });
      expect({ p, mode: st.mode & 0o7777 }).toEqual({ p, mode: st.isDirectory() ? 0o700 : 0o600 });
      if (st.isDirectory()) for (const e of readdirSync(p)) if (!e.startsWith('vmail-')) check(join(p, e));
    };
    check(account);
    for (const f of ['new', 'cur', 'tmp', '.Sent/cur/1700000003.M3P1.old:2,S'])
      expect(seen).toContain(join(account, f));
    expect((await pop3Login(d.pop3Port, 'moved@example.test', 'moved-pass-0001')).stat?.[0]).toBe(2);
  });
});

describe('POP3 serves no link from a live Maildir', () => {
  it('links to a secret in new/ and cur/ are neither counted nor served', async () => {
    const csv = join(tempDir(), 'live.csv');
    writeFileSync(csv, 'name,password\nlive,live-pass-0001\n');
    await d.cli(['accounts', 'import', csv]);
    await d.cli(['pending', 'apply']);
    expect((await smtpSend(d.smtpPort, 'live@example.test', 'real-mail')).accepted).toBe(true);
    const account = join(d.dataDir, 'mail/example.test/live');
    // Untagged names (measured by reading), and tagged ones (listed from the name alone).
    symlinkSync(secret, join(account, 'new', '1700000000.M2P2.evil'));
    symlinkSync(secret, join(account, 'new', '1700000001.M3P2.evil,S=40,W=41'));
    symlinkSync(secret, join(account, 'cur', '1700000002.M4P2.evil:2,S'));
    symlinkSync(secret, join(account, 'cur', '1700000003.M5P2.evil,S=40,W=41:2,S'));
    expect((await pop3Login(d.pop3Port, 'live@example.test', 'live-pass-0001')).stat?.[0]).toBe(1);
    const texts = await pop3Texts('live@example.test', 'live-pass-0001');
    expect(texts).toHaveLength(1);
    expect(texts[0]).toContain('real-mail');
    const c = await RawPop3.open(d.pop3Port);
    await c.login('live@example.test', 'live-pass-0001');
    expect(await c.cmd('STAT')).toMatch(/^\+OK 1 /);
    const list = await c.multi('LIST');
    expect(list.body.toString('latin1').trim().split('\r\n')).toHaveLength(1);
    for (let n = 1; n <= 6; n++) {
      for (const cmd of [`RETR ${n}`, `TOP ${n} 5`]) {
        const r = await c.multi(cmd);
        expect(r.first + r.body.toString('latin1'), cmd).not.toContain(SECRET);
      }
    }
    await c.quit();
  });
});
