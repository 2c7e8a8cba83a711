// Submission throughput (issue 27): 20 clients submit 1,000 messages through port 587 with
// STARTTLS, AUTH and DKIM signing, delivered by direct delivery (MX found through dnsmasq) into
// a local Postfix MX on 127.0.0.31:25; beside it, a second Postfix as the sending server, taking
// the same messages from the same clients over STARTTLS (no AUTH: Postfix's SASL needs Dovecot
// or Cyrus, which this bench does not set up) and relaying them unsigned into the same MX.
// Each rate is from the first connection to the last message stored in the MX's Maildir.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { dns, startDns } from '../helpers/dns-server.js';
import { postfixMissing, type RunningPostfix, startPostfix } from '../helpers/postfix.js';
import { freePort, selfSignedCert, startDaemon, tempDir, waitFor } from '../helpers/process.js';
import { heading, performance, report, seedAccounts } from './lib.js';

const CLIENTS = 20;
const MESSAGES = 1000;
const SIZE = 4 * 1024;
// Not 127.0.0.2: the tests' MX address, which a test run beside the bench may hold.
const MX = '127.0.0.31';
const PASSWORD = 'bench-password-1';

function message(i: number, from: string, to: string): string {
  const head = `From: ${from}\r\nTo: ${to}\r\nSubject: bench ${i}\r\n\r\n`;
  const line = `${'0123456789abcdefghij'.repeat(3)}\r\n`;
  return head + line.repeat(Math.ceil((SIZE - head.length) / line.length));
}

const count = (p: RunningPostfix, box: string) => {
  const dir = join(p.maildir(box), 'new');
  return existsSync(dir) ? readdirSync(dir).length : 0;
};

/** 20 clients, each one connection, sending their share; then waits for all to be stored. */
async function run(
  port: number,
  user: (c: number) => { user: string; pass: string } | null,
  to: string,
  stored: () => number,
): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const auth = user(c);
      const t = nodemailer.createTransport({
        host: '127.0.0.1',
        port,
        secure: false,
        requireTLS: true,
        pool: true,
        maxConnections: 1,
        maxMessages: Number.POSITIVE_INFINITY,
        tls: { rejectUnauthorized: false },
        ...(auth ? { auth } : {}),
      });
      const from = auth?.user ?? `client${c}@example.test`;
      for (let i = c; i < MESSAGES; i += CLIENTS)
        await t.sendMail({ envelope: { from, to: [to] }, raw: message(i, from, to) });
      t.close();
    }),
  );
  const accepted = (performance.now() - t0) / 1000;
  await waitFor(() => stored() >= MESSAGES, `${MESSAGES} messages at the MX`, 600_000);
  const done = (performance.now() - t0) / 1000;
  // Where the time goes: taking the messages in, or sending them on.
  console.log(`    (all accepted after ${accepted.toFixed(1)} s, all stored at the MX after ${done.toFixed(1)} s)`);
  return MESSAGES / done;
}

export async function benchSubmission(): Promise<void> {
  heading(`Submission: ${CLIENTS} clients, ${MESSAGES} messages of ${SIZE / 1024} KB, STARTTLS, to one MX`);
  const missing = postfixMissing();
  if (missing) throw new Error(missing);
  const { cert, key } = await selfSignedCert();
  // A TTL as real zones have (dnsmasq's own default is 0: never kept by a caching resolver).
  const dnsServer = await startDns(['local-ttl=300', dns.mx('far.test', 'mx1.far.test'), dns.a('mx1.far.test', MX)]);
  const mx = startPostfix({ address: MX, boxes: ['vmail@far.test', 'postfix@far.test'], hostname: 'mx1.far.test' });
  const relayPort = await freePort();
  const relay = startPostfix({
    address: '127.0.0.1',
    port: relayPort,
    boxes: ['nobody@relay.invalid'],
    hostname: 'relay.example.test',
    tls: { cert, key },
    relayhost: `[${MX}]:25`,
  });
  const dataDir = tempDir();
  const names = Array.from({ length: CLIENTS }, (_, c) => `sender${c}`);
  await seedAccounts(dataDir, names, PASSWORD, Date.now());
  const d = await startDaemon({
    dataDir,
    args: [
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--resolver',
      dnsServer.address,
      '--hostname',
      'mail.example.test',
      '--send-limit',
      '1000000/1d',
    ],
    // VMAIL_BENCH_PROF=DIR: the daemon writes a CPU profile there (node --cpu-prof) as it stops.
    ...(process.env.VMAIL_BENCH_PROF
      ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', process.env.VMAIL_BENCH_PROF] }
      : {}),
  });
  try {
    await d.cli(['pending', 'apply']);
    const k = await d.cli(['domains', 'dkim', 'example.test']);
    if (k.code !== 0) throw new Error(k.stderr);
    const sub = JSON.parse((await d.cli(['status', '--json'])).stdout).submission.port as number;
    const vmail = await run(
      sub,
      (c) => ({ user: `${names[c]}@example.test`, pass: PASSWORD }),
      'vmail@far.test',
      () => count(mx, 'vmail@far.test'),
    );
    const postfix = await run(
      relayPort,
      () => null,
      'postfix@far.test',
      () => count(mx, 'postfix@far.test'),
    );
    report('vmail: 587, STARTTLS + AUTH + DKIM, direct delivery', `${vmail.toFixed(0)} msg/s`);
    report('Postfix: STARTTLS, no AUTH, unsigned, relayhost', `${postfix.toFixed(0)} msg/s`);
    const ratio = vmail / postfix;
    report('vmail / Postfix', `${ratio.toFixed(2)}x`, { text: '>= 1.0x', met: ratio >= 1 });
  } finally {
    await d.stop();
    relay.stop();
    mx.stop();
    await dnsServer.stop();
  }
}
