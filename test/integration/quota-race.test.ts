// A mailbox's quota under parallel delivery: 20 smtplib clients at once into a 10K quota, on one
// daemon and on two daemons that share a mail root over PostgreSQL. What is being written counts
// (a reservation taken before the write), so the mailbox ends at most one message over its quota;
// every refusal is the 452 or 552 it is today, and every message answered 250 is there once.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, type DaemonHandle, ROOT, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { pop3Login, smtplib } from '../helpers/effects.js';
import { ensurePostgres, type Postgres, startPostgres } from '../helpers/postgres.js';

const QUOTA = 10 * 1024;
const PARALLEL = 20;
const run = promisify(execFile);

interface Sent {
  marker: string;
  /** The answer to RCPT TO, and to DATA (null when RCPT was refused). */
  rcpt: number;
  data: number | null;
}

/** The files in the Maildir's new/ and cur/, with their text. */
function stored(dir: string): { bytes: number; texts: string[] } {
  let bytes = 0;
  const texts: string[] = [];
  for (const sub of ['new', 'cur']) {
    for (const f of readdirSync(join(dir, sub))) {
      bytes += statSync(join(dir, sub, f)).size;
      texts.push(readFileSync(join(dir, sub, f), 'latin1'));
    }
  }
  return { bytes, texts };
}

/**
 * `n` smtplib clients over `ports` give MAIL and RCPT, then all send DATA together: messages
 * of about 3,000 bytes, each with its marker.
 */
async function burst(ports: number[], n: number, tag: string): Promise<Sent[]> {
  const { stdout } = await run('python3', [
    join(ROOT, 'test/helpers/smtp_burst.py'),
    ports.join(','),
    'alice@example.org',
    'kim@example.test',
    String(n),
    tag,
    '29',
  ]);
  return JSON.parse(stdout) as Sent[];
}

/** Checks the outcome: within one message of the quota, refusals 452/552, accepted ones stored once. */
function check(dir: string, sent: Sent[]): void {
  const { bytes, texts } = stored(dir);
  const one = Math.max(...texts.map((t) => t.length));
  const accepted = sent.filter((s) => s.data === 250);
  const refused = sent.filter((s) => s.data !== 250);
  expect(accepted.length, JSON.stringify(sent)).toBeGreaterThan(0);
  expect(refused.length).toBeGreaterThan(0);
  for (const s of refused) expect([452, 552], JSON.stringify(s)).toContain(s.data ?? s.rcpt);
  for (const s of accepted)
    expect(
      texts.filter((t) => t.includes(s.marker)),
      s.marker,
    ).toHaveLength(1);
  expect(texts).toHaveLength(accepted.length);
  expect(bytes, `${texts.length} messages of up to ${one} bytes`).toBeLessThanOrEqual(QUOTA + one);
}

afterAll(() => cleanUp());

describe('quota under parallel delivery', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    // Quota warnings off: these count the messages the races let in (warnings race in quota-warn.test.ts).
    d = await startDaemon({ args: ['--quota-warn', 'none'] });
    expect((await d.cli(['accounts', 'add', 'kim', '--password-stdin'], 'password-1\n')).code).toBe(0);
    expect((await d.cli(['accounts', 'quota', 'kim', '10K'])).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
  }, 30_000);
  afterAll(async () => {
    await d?.stop();
  });

  it('20 parallel deliveries of 3,000 bytes into a 10K quota store at most one message over it', async () => {
    const sent = await burst([d.smtpPort], PARALLEL, 'one');
    check(join(d.dataDir, 'mail/example.test/kim'), sent);
    // The daemon's count agrees with the disk: one more message of that size is refused, not stored.
    const next = await smtplib(
      d.smtpPort,
      'alice@example.org',
      ['kim@example.test'],
      `Subject: after\n\n${`${'q'.repeat(99)}\n`.repeat(29)}`,
    );
    expect(next.ok && !next.refused?.['kim@example.test']).toBe(false);
  }, 60_000);
});

const missing = ensurePostgres();
if (missing) console.warn(`cluster quota test skipped: ${missing}`);

describe.skipIf(missing)('quota under parallel delivery on two daemons sharing a mail root', () => {
  let pg: Postgres;
  const running: DaemonHandle[] = [];
  beforeAll(async () => {
    pg = await startPostgres({ fsync: false });
  }, 120_000);
  afterEach(async () => {
    for (const x of running.splice(0)) if (x.proc.exitCode === null && x.proc.signalCode === null) await x.kill9();
  });
  afterAll(() => pg?.stop());

  it('20 parallel deliveries over two daemons into a 10K quota store at most one message over it', async () => {
    const url = await pg.database('quota');
    const root = tempDir();
    const sockets = tempDir();
    const nodes: DaemonHandle[] = [];
    for (const name of ['a', 'b']) {
      const x = await startDaemon({
        dataDir: root,
        socket: join(sockets, `${name}.sock`),
        args: ['--store', url, '--node', name, '--quota-warn', 'none'],
      });
      running.push(x);
      nodes.push(x);
    }
    const [a, b] = nodes;
    expect((await a.cli(['accounts', 'add', 'kim', '--password-stdin'], 'password-1\n')).code).toBe(0);
    expect((await a.cli(['accounts', 'quota', 'kim', '10K'])).code).toBe(0);
    expect((await a.cli(['pending', 'apply'])).code).toBe(0);
    await waitFor(async () => (await pop3Login(b.pop3Port, 'kim', 'password-1')).ok, 'B knows kim', 5000);
    const sent = await burst([a.smtpPort, b.smtpPort], PARALLEL, 'two');
    check(join(root, 'mail/example.test/kim'), sent);
  }, 120_000);
});
