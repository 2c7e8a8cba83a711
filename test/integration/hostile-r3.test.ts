// A hostile tester's probes of the refactor (issue 25), which was to change no behaviour: what a
// mailbox's life does to an open POP3 session now that the MailboxLifecycle tells the sessions
// (a rename, a removal with deletions marked), and SIGHUP when the certificate has gone from
// under the daemon. A real daemon, raw POP3 over real sockets, the CLI, files on disk.
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, selfSignedCert, startDaemon, waitFor } from '../helpers/daemon.js';
import { pop3Login, setup, smtpSend } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';

let d: DaemonHandle;
let cert: string;
let key: string;

beforeAll(async () => {
  ({ cert, key } = await selfSignedCert());
  d = await startDaemon({
    applyInterval: '1h',
    args: ['--auth-failure-delay', '1ms', '--tls-cert', cert, '--tls-key', key],
  });
  await setup(d, ['ren', 'gone', 'keep', 'other']);
}, 30_000);

afterAll(async () => {
  await d?.stop();
});

interface AccountRow {
  address: string;
  messages: number;
  lastLoginAt: string | null;
}
const accounts = async (): Promise<AccountRow[]> => JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout);

/** Every message file under `dir` (new/ and cur/ of a Maildir). */
const messagesIn = (dir: string): string[] =>
  ['new', 'cur'].flatMap((f) => (existsSync(join(dir, f)) ? readdirSync(join(dir, f)) : []));

describe("a mailbox's life under an open POP3 session", () => {
  it('a rename ends the old name’s open session; its mail, and its last login, go to the new name', async () => {
    expect((await smtpSend(d.smtpPort, 'ren@example.test', 'before-rename')).accepted).toBe(true);
    const open = await RawPop3.open(d.pop3Port);
    await open.login('ren', 'password-1');
    const seen = (await accounts()).find((a) => a.address === 'ren@example.test');
    expect(seen?.lastLoginAt).not.toBeNull();
    expect((await d.cli(['accounts', 'rename', 'ren', 'renamed'])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    await waitFor(() => open.closed, 'the old name’s session to end');
    expect((await pop3Login(d.pop3Port, 'ren', 'password-1')).ok).toBe(false);
    expect(await pop3Login(d.pop3Port, 'renamed', 'password-1')).toMatchObject({
      ok: true,
      stat: [1, expect.any(Number)],
    });
    const after = (await accounts()).find((a) => a.address === 'renamed@example.test');
    expect(after?.lastLoginAt).not.toBeNull();
  });

  it('a removal ends the open session with deletions marked: nothing is deleted, the mail is in the archive', async () => {
    for (const m of ['one', 'two']) expect((await smtpSend(d.smtpPort, 'gone@example.test', m)).accepted).toBe(true);
    const open = await RawPop3.open(d.pop3Port);
    await open.login('gone', 'password-1');
    expect(await open.cmd('DELE 1')).toMatch(/^\+OK/);
    expect((await d.cli(['accounts', 'remove', 'gone'])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    await waitFor(() => open.closed, 'the removed account’s session to end');
    const archive = join(d.dataDir, 'archive/example.test');
    const dirs = readdirSync(archive).filter((n) => n.startsWith('gone'));
    expect(dirs).toHaveLength(1);
    expect(messagesIn(join(archive, dirs[0]))).toHaveLength(2);
  });
});

describe('SIGHUP with the certificate gone from under the daemon', () => {
  it('the reload is refused and changes nothing: STLS and open sessions go on; with the file back the next SIGHUP reads it', async () => {
    const open = await RawPop3.open(d.pop3Port);
    await open.login('keep', 'password-1');
    const away = `${cert}.away`;
    renameSync(cert, away);
    try {
      d.proc.kill('SIGHUP');
      await waitFor(() => /daemon reload failed/.test(d.output()), 'the refused reload');
      expect(d.output()).toMatch(/daemon reload failed .*kept=/);
      // The session opened before goes on, and a new one still gets STLS with the certificate read at start.
      expect(await open.cmd('STAT')).toMatch(/^\+OK/);
      const tls = await RawPop3.open(d.pop3Port);
      await tls.startTls();
      await tls.login('other', 'password-1');
      expect(await tls.cmd('STAT')).toMatch(/^\+OK/);
      tls.close();
    } finally {
      renameSync(away, cert);
    }
    d.proc.kill('SIGHUP');
    await waitFor(
      () => /daemon reloaded .*certificate="read again"/.test(d.output()),
      'the reload once the file is back',
    );
    expect(await open.cmd('STAT')).toMatch(/^\+OK/);
    await open.quit();
  });
});
