// A mailbox's lifecycle under mail: renames, removals, a domain's removal and imports applied
// while Python's smtplib delivers in a loop, live and cut by kill -9 at each point of the apply
// (VMAIL_CRASH_AT). Afterwards every message answered 250 is in exactly one Maildir, and that
// Maildir is its recipient's (or the one it was renamed to), or in the archive; a message whose
// answer never came is there at most once; and a later account of a removed or renamed name
// starts empty (POP3 STAT 0).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { pop3Login } from '../helpers/effects.js';

interface Sent {
  id: string;
  to: string;
  code: number | null;
}

/** A smtplib loop (test/helpers/smtp_loop.py) against `port`; `stop` ends it and gives every answer. */
function smtpLoop(port: number, tag: string, rcpts: string[], count: number) {
  const stopFile = join(tempDir('loop-'), 'stop');
  const p = spawn(
    'python3',
    [join(ROOT, 'test/helpers/smtp_loop.py'), String(port), tag, String(count), stopFile, rcpts.join(',')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => p.on('close', () => r()));
  const sent = () =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Sent);
  return {
    sent,
    stop: async (): Promise<Sent[]> => {
      writeFileSync(stopFile, '');
      await exited;
      return sent();
    },
  };
}

/** Where each Message-ID is: the Maildirs (mail/DOMAIN/NAME, work folders too) and the archive. */
function messageIds(dataDir: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const top of ['mail', 'archive']) {
    const root = join(dataDir, top);
    if (!existsSync(root)) continue;
    for (const domain of readdirSync(root)) {
      for (const box of readdirSync(join(root, domain))) {
        for (const folder of ['new', 'cur']) {
          const dir = join(root, domain, box, folder);
          if (!existsSync(dir)) continue;
          for (const f of readdirSync(dir)) {
            const id = /^Message-ID: (<[^>]+>)/im.exec(readFileSync(join(dir, f), 'latin1'))?.[1];
            if (!id) continue;
            const at = top === 'archive' ? 'archive' : `${box}@${domain}`;
            found.set(id, [...(found.get(id) ?? []), at]);
          }
        }
      }
    }
  }
  return found;
}

/**
 * Every message answered 250 is in exactly one place: the archive, or a live account's Maildir
 * that `belongs` allows for its recipient; one whose answer is unknown (the daemon died) or was
 * refused is in at most one place. Returns how many were answered 250.
 */
async function checkMail(d: DaemonHandle, sent: Sent[]): Promise<number> {
  const live = new Set(
    (json(await d.cli(['accounts', 'list', '--json'])) as { address: string }[]).map((a) => a.address),
  );
  const found = messageIds(d.dataDir);
  let accepted = 0;
  for (const s of sent) {
    const at = found.get(s.id) ?? [];
    if (s.code === 250) {
      accepted++;
      expect(at, `${s.id} to ${s.to}, answered 250`).toHaveLength(1);
      const where = `${s.id} to ${s.to} is in ${at[0]}`;
      if (at[0] !== 'archive') {
        expect(belongs(s.to), where).toContain(at[0]);
        expect(live.has(at[0]), `${where}, not a live account`).toBe(true);
      }
    } else expect(at.length, `${s.id} to ${s.to}, answered ${s.code}: in ${at.join(', ')}`).toBeLessThanOrEqual(1);
  }
  return accepted;
}

const json = (r: { stdout: string }) => JSON.parse(r.stdout);

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

/** Waits until the loop has had `n` more answers. */
async function answers(loop: ReturnType<typeof smtpLoop>, n: number): Promise<void> {
  const from = loop.sent().length;
  await waitFor(() => loop.sent().length >= from + n, `${n} more answers`, 30_000);
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
    const accepted = await checkMail(d, sent);
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
        await checkMail(d, sent);
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
