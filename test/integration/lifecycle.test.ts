// A mailbox's lifecycle under mail: renames, removals, a domain's removal and imports applied
// while Python's smtplib delivers in a loop, live and cut by kill -9 at each point of the apply
// (VMAIL_CRASH_AT). Afterwards every message answered 250 is in exactly one Maildir, and that
// Maildir is its recipient's (or the one it was renamed to), or in the archive; a message whose
// answer never came is there at most once; and a later account of a removed or renamed name
// starts empty (POP3 STAT 0).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { pop3Login } from '../helpers/effects.js';
import { answers, checkMail, json, messageIds, smtpLoop } from '../helpers/mail-count.js';

async function addAccounts(d: DaemonHandle, names: string[]): Promise<void> {
  for (const a of names) {
    const address = a.includes('@') ? a : `${a}@example.test`;
    const r = await d.cli(['accounts', 'add', address, '--password-stdin'], 'password-1\n');
    expect(r.code, `accounts add ${a}: ${r.stderr}`).toBe(0);
  }
  const r = json(await d.cli(['pending', 'apply', '--json']));
  expect(r.failed).toEqual([]);
}

async function queueDrained(d: DaemonHandle): Promise<void> {
  await waitFor(
    async () => json(await d.cli(['queue', 'list', '--json'])).length === 0,
    'the forward queue to drain',
    30_000,
  );
}

const DOMAINS = ['example.test', 'gone.test'];
const RCPTS = ['t1@example.test', 'r1@example.test', 'k1@example.test', 'g1@gone.test', 'i1@example.test'];
/** Where mail for each recipient may be once every change below is applied (rename t1 -> u1). */
const belongs = (to: string) => (to === 't1@example.test' ? [to, 'u1@example.test'] : [to]);

/** The changes under test: each queued by one command. */
const OPS: Record<string, (d: DaemonHandle, source: string) => string[]> = {
  rename: () => ['accounts', 'rename', 't1@example.test', 'u1', '--keep-forward', '1h'],
  removal: () => ['accounts', 'remove', 'r1@example.test'],
  'domain removal': () => ['domains', 'remove', 'gone.test', '--with-accounts'],
  import: (_d, source) => [
    'import',
    'dovecot',
    '--passwd-file',
    join(source, 'passwd'),
    '--maildirs',
    source,
    '--move',
  ],
};

/** A Dovecot tree with i1's Maildir of 20 messages (Message-IDs <src-N@import.test>). */
function importSource(): string {
  const root = tempDir('lifecycle-src-');
  const dir = join(root, 'example.test', 'i1', 'Maildir');
  for (const f of ['new', 'cur', 'tmp']) mkdirSync(join(dir, f), { recursive: true });
  for (let i = 0; i < 20; i++)
    writeFileSync(
      join(dir, 'cur', `${1700000000 + i}.M${i}P1.oldhost:2,S`),
      `Message-ID: <src-${i}@import.test>\n\nx\n`,
    );
  writeFileSync(join(root, 'passwd'), 'i1@example.test:{PLAIN}import-pass-1::::::\n');
  return root;
}

describe('a mailbox moved, archived or imported while mail arrives', () => {
  it('live: rename, removal and a domain removal under a delivery loop; every 250 once, in its owner; a new t1 and r1 start empty', async () => {
    const d = await startDaemon({ domains: DOMAINS });
    await addAccounts(d, ['t1', 'r1', 'k1', 'g1@gone.test']);
    const loops = [0, 1, 2].map((n) => smtpLoop(d.smtpPort, `live${n}`, RCPTS, 2000));
    await answers(loops[0], 30);
    for (const op of ['rename', 'removal', 'domain removal']) expect((await d.cli(OPS[op](d, ''))).code).toBe(0);
    const r = json(await d.cli(['pending', 'apply', '--json']));
    expect(r.failed).toEqual([]);
    await answers(loops[0], 30);
    const sent = (await Promise.all(loops.map((l) => l.stop()))).flat();
    await queueDrained(d);
    const accepted = await checkMail(d, sent, belongs);
    expect(accepted).toBeGreaterThan(0);
    // Nothing was made for the old names behind the apply's back.
    for (const gone of ['t1', 'r1']) expect(existsSync(join(d.dataDir, 'mail/example.test', gone)), gone).toBe(false);
    expect(existsSync(join(d.dataDir, 'mail/gone.test/g1'))).toBe(false);
    await d.cli(['forwards', 'remove', 't1@example.test']);
    await d.cli(['pending', 'apply']);
    await addAccounts(d, ['t1', 'r1']);
    for (const a of ['t1', 'r1'])
      expect((await pop3Login(d.pop3Port, `${a}@example.test`, 'password-1')).stat, a).toEqual([0, 0]);
    await d.stop();
  }, 120_000);

  for (const op of Object.keys(OPS))
    it(`kill -9 at each point of a ${op}'s apply, deliveries running: it converges, every 250 once, in its owner`, async () => {
      for (const point of ['files', 'commit']) {
        const dataDir = tempDir();
        const source = importSource();
        let d = await startDaemon({ dataDir, domains: DOMAINS });
        await addAccounts(d, ['t1', 'r1', 'k1', 'g1@gone.test']);
        await d.stop();
        d = await startDaemon({ dataDir, domains: DOMAINS, env: { VMAIL_CRASH_AT: point } });
        const before = smtpLoop(d.smtpPort, `${point}-before`, RCPTS, 2000);
        await answers(before, 20);
        expect((await d.cli(OPS[op](d, source))).code, `${op} queued`).toBe(0);
        const exited = new Promise((res) => d.proc.once('exit', res));
        await d.cli(['pending', 'apply']);
        await exited;
        const sent = await before.stop();
        // Restarted, the crashed change still pending (files) or done (commit); mail first, then the apply.
        d = await startDaemon({ dataDir, domains: DOMAINS });
        const after = smtpLoop(d.smtpPort, `${point}-after`, RCPTS, 2000);
        await answers(after, 20);
        const r = json(await d.cli(['pending', 'apply', '--json']));
        expect(r.failed, `${op} killed at ${point}`).toEqual([]);
        await answers(after, 20);
        sent.push(...(await after.stop()));
        await queueDrained(d);
        expect(json(await d.cli(['pending', 'list', '--json']))).toEqual([]);
        await checkMail(d, sent, belongs);
        if (op === 'import') {
          const found = messageIds(dataDir);
          for (let i = 0; i < 20; i++)
            expect(found.get(`<src-${i}@import.test>`), `src-${i}`).toEqual(['i1@example.test']);
        }
        // A new account of the old name starts empty.
        const name = { rename: 't1', removal: 'r1', 'domain removal': null, import: null }[op];
        if (name) {
          if (op === 'rename') {
            await d.cli(['forwards', 'remove', 't1@example.test']);
            await d.cli(['pending', 'apply']);
          }
          await addAccounts(d, [name]);
          expect((await pop3Login(d.pop3Port, `${name}@example.test`, 'password-1')).stat, `${op} at ${point}`).toEqual(
            [0, 0],
          );
        }
        await d.stop();
      }
    }, 180_000);
});
