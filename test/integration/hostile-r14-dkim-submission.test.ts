// Hostile tests, round 14: DKIM signing on a worker thread, attacked through a real daemon's
// submission port (raw SMTP from 127.0.0.1, which may log in without TLS) with the test relay
// behind --relay: concurrent clients of two domains, a key rotated mid-burst, big messages and
// the daemon's memory, SIGTERM and kill -9 while messages are being signed. Every message that
// reaches the relay is checked with mailauth's verifier against the records `vmail domains dkim`
// prints, and must be one that a client was told was queued, whole.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, waitFor } from '../helpers/daemon.js';
import { type DkimRecords, dkimVerdicts } from '../helpers/dkim-verdicts.js';
import { TestRelay } from '../helpers/relay.js';
import { RawSmtp } from '../helpers/smtp-raw.js';

type Records = DkimRecords;

const verdicts = (records: Records, signed: Buffer) => dkimVerdicts(records, signed);

/** The daemon's flags: the test relay, no waits after a failed login, no limit these bursts meet. */
const daemonArgs = (relayPort: number) => [
  '--relay',
  `smtp://127.0.0.1:${relayPort}`,
  '--auth-failure-delay',
  '1ms',
  '--send-limit',
  '10000/1h',
  '--max-connections-per-address',
  '200',
];

/** Submits one message (dot-stuffed here); the final reply's code, or -1 if the connection died. */
async function submit(
  port: number,
  user: string,
  password: string,
  from: string,
  to: string,
  data: string,
): Promise<number> {
  let c: RawSmtp | null = null;
  try {
    c = await RawSmtp.open(port);
    await c.reply();
    await c.cmd('EHLO client.example');
    const auth = await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
    if (auth?.code !== 235) return auth?.code ?? -1;
    if ((await c.cmd(`MAIL FROM:<${from}>`))?.code !== 250) return -2;
    if ((await c.cmd(`RCPT TO:<${to}>`))?.code !== 250) return -3;
    if ((await c.cmd('DATA'))?.code !== 354) return -4;
    const stuffed = data.replace(/\r\n\./g, '\r\n..');
    c.write(`${stuffed}${stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
    const r = await c.reply(60_000);
    c.write('QUIT\r\n');
    return r?.code ?? -1;
  } catch {
    return -1;
  } finally {
    c?.socket.destroy();
  }
}

const mail = (from: string, tag: string, body: string) =>
  `From: ${from}\r\nTo: someone@far.example\r\nSubject: ${tag}\r\n\r\n${body}`;

const tagOf = (data: Buffer) => /\r\nSubject: ([^\r]*)\r\n/.exec(data.subarray(0, 8192).toString('latin1'))?.[1];

async function recordsOf(d: DaemonHandle, domain: string, extra: string[] = []): Promise<Records> {
  const r = await d.cli(['domains', 'dkim', domain, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  const v = JSON.parse(r.stdout) as { name: string; value: string };
  return new Map([[v.name, v.value]]);
}

const vmRss = (pid: number, field = 'VmRSS') =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

describe('submission under attack: concurrent clients, two domains, a rotation mid-burst', () => {
  let relay: TestRelay;
  let d: DaemonHandle;
  let records: Records;
  const accounts = ['a1', 'a2', 'a3'].map((a) => `${a}@example.test`);
  const others = ['b1', 'b2', 'b3'].map((a) => `${a}@other.test`);

  beforeAll(async () => {
    relay = new TestRelay();
    await relay.listen();
    d = await startDaemon({
      domains: ['example.test', 'other.test'],
      args: daemonArgs(relay.port),
    });
    for (const a of [...accounts, ...others])
      expect((await d.cli(['accounts', 'add', a, '--password-stdin'], `pw-${a}\n`)).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    records = new Map([
      ...(await recordsOf(d, 'example.test')),
      ...(await recordsOf(d, 'example.test', ['--selector', 'ex-ed', '--ed25519'])),
      ...(await recordsOf(d, 'other.test')),
    ]);
  }, 60_000);

  afterAll(async () => {
    await d?.stop();
    await relay?.close();
  });

  it('6 clients x 10 messages of two domains at once: each arrives once, signed by its own domain, for its own body', async () => {
    const sent = new Map<string, { from: string; body: string }>();
    const jobs: Promise<number>[] = [];
    for (const [ci, from] of [...accounts, ...others].entries())
      jobs.push(
        (async () => {
          let bad = 0;
          for (let k = 0; k < 10; k++) {
            const tag = `conc-${ci}-${k}`;
            const body = `${`${tag} ${'z'.repeat(ci * 7 + k)}\r\n`.repeat(1 + ((ci * 13 + k * 7) % 40))}\u00e9\u00ff8bit\r\n`;
            sent.set(tag, { from, body });
            if (
              (await submit(
                d.submissionPort,
                from,
                `pw-${from}`,
                from,
                'someone@far.example',
                mail(from, tag, body),
              )) !== 250
            )
              bad++;
          }
          return bad;
        })(),
      );
    expect(await Promise.all(jobs)).toEqual([0, 0, 0, 0, 0, 0]);
    await waitFor(
      () => relay.received.filter((m) => tagOf(m.data)?.startsWith('conc-')).length >= 60 || null,
      'all 60',
      30_000,
    );
    const got = relay.received.filter((m) => tagOf(m.data)?.startsWith('conc-'));
    expect(got.length).toBe(60);
    expect(new Set(got.map((m) => tagOf(m.data))).size).toBe(60);
    for (const m of got) {
      const tag = tagOf(m.data)!;
      const { from, body } = sent.get(tag)!;
      // The body that arrived is the one sent (as UTF-8: the 8-bit bytes too).
      const b = Buffer.from(body);
      expect(m.data.subarray(m.data.length - b.length).equals(b), tag).toBe(true);
      const want = from.endsWith('@example.test')
        ? [`example.test ${[...records.keys()][0].split('.')[0]} pass`, 'example.test ex-ed pass']
        : [`other.test ${[...records.keys()][2].split('.')[0]} pass`];
      expect(await verdicts(records, m.data), tag).toEqual(want);
    }
  }, 120_000);

  it('a key rotated (vmail domains dkim --selector) during a burst: every message verifies with the old key or the new one', async () => {
    const burst = Array.from({ length: 30 }, (_, k) =>
      submit(
        d.submissionPort,
        accounts[k % 3],
        `pw-${accounts[k % 3]}`,
        accounts[k % 3],
        'someone@far.example',
        mail(accounts[k % 3], `rot-${k}`, `rotation ${k}\r\n`),
      ),
    );
    const rotated = recordsOf(d, 'example.test', ['--selector', 'rot2']);
    expect(await Promise.all(burst)).toEqual(Array(30).fill(250));
    const all = new Map([...records, ...(await rotated)]);
    records = all;
    await waitFor(
      () => relay.received.filter((m) => tagOf(m.data)?.startsWith('rot-')).length >= 30 || null,
      'all 30',
      30_000,
    );
    for (const m of relay.received.filter((x) => tagOf(x.data)?.startsWith('rot-'))) {
      const v = await verdicts(all, m.data);
      expect(v.length, tagOf(m.data)).toBe(2);
      expect(v[0], tagOf(m.data)).toMatch(/^example\.test (vmail\d+|rot2) pass$/);
      expect(v[1]).toBe('example.test ex-ed pass');
    }
  }, 120_000);

  it('a message just under --max-message-size (25M) with a 100 kB header line and NUL bytes: accepted whole and signed; one just over: refused', async () => {
    const head = `X-Long: ${'h'.repeat(100_000)}\r\n`;
    const line = `${'n'.repeat(40)}\u0000${'n'.repeat(35)}\r\n`;
    const body = line.repeat(Math.floor((24_500_000 - head.length) / line.length));
    const from = accounts[0];
    const big = `From: ${from}\r\nTo: someone@far.example\r\nSubject: near-max\r\n${head}\r\n${body}`;
    expect(await submit(d.submissionPort, from, `pw-${from}`, from, 'someone@far.example', big)).toBe(250);
    const got = await waitFor(() => relay.received.find((m) => tagOf(m.data) === 'near-max'), 'near-max', 60_000);
    const b = Buffer.from(body);
    expect(got.data.subarray(got.data.length - b.length).equals(b)).toBe(true);
    expect((await verdicts(records, got.data)).every((v) => v.endsWith(' pass'))).toBe(true);
    const over =
      `From: ${from}\r\nSubject: over-max\r\n\r\n${'o'.repeat(76)}\r\n`.repeat(1) +
      `${'o'.repeat(98)}\r\n`.repeat(266_000);
    expect(await submit(d.submissionPort, from, `pw-${from}`, from, 'someone@far.example', over)).toBe(552);
  }, 120_000);

  it('memory: 6 rounds of 6 concurrent 6 MB submissions; the daemon RSS does not keep growing', async () => {
    const pid = d.proc.pid!;
    const body = `${'m'.repeat(76)}\r\n`.repeat(80_000); // 6.2 MB
    const rss: number[] = [];
    for (let round = 0; round < 6; round++) {
      const codes = await Promise.all(
        Array.from({ length: 6 }, (_, k) =>
          submit(
            d.submissionPort,
            accounts[k % 3],
            `pw-${accounts[k % 3]}`,
            accounts[k % 3],
            'someone@far.example',
            mail(accounts[k % 3], `mem-${round}-${k}`, body),
          ),
        ),
      );
      expect(codes).toEqual(Array(6).fill(250));
      await waitFor(
        () => relay.received.filter((m) => tagOf(m.data)?.startsWith(`mem-${round}-`)).length >= 6 || null,
        `round ${round}`,
        60_000,
      );
      await new Promise((r) => setTimeout(r, 1000));
      rss.push(vmRss(pid));
    }
    const peak = vmRss(pid, 'VmHWM');
    // 36 MB in flight per round, several copies each (received, with Received:, the worker's
    // copy, signed): RSS moves with the garbage collector, but a leak of the copies sent to the
    // worker would add ~37 MB a round; the last rounds must stay near the first ones.
    const text = `RSS after each round (MB): ${rss.map((r) => r.toFixed(0)).join(', ')}; peak ${peak.toFixed(0)}`;
    console.info(text);
    expect(Math.max(...rss.slice(3)) - Math.max(...rss.slice(0, 3)), text).toBeLessThan(80);
    expect(peak).toBeLessThan(1500);
    for (const m of relay.received.filter((x) => tagOf(x.data)?.startsWith('mem-5-')))
      expect((await verdicts(records, m.data))[0]).toMatch(/ pass$/);
  }, 240_000);
});

describe('the daemon stopped while it signs', () => {
  async function burstAndStop(how: 'SIGTERM' | 'SIGKILL') {
    const relay = new TestRelay();
    await relay.listen();
    // The relay refuses for now: what was queued stays in the queue to be looked at after.
    relay.mode = 451;
    const args = daemonArgs(relay.port);
    let d = await startDaemon({ args });
    try {
      expect((await d.cli(['accounts', 'add', 'k@example.test', '--password-stdin'], 'pw-k-long-1\n')).code).toBe(0);
      expect((await d.cli(['pending', 'apply'])).code).toBe(0);
      const records = await recordsOf(d, 'example.test');
      const bodies = new Map<string, string>();
      const codes = Array.from({ length: 16 }, (_, k) => {
        const tag = `${how}-${k}`;
        const body = `${`${tag} ${'q'.repeat(70)}\r\n`.repeat(k % 2 ? 40_000 : 50)}`;
        bodies.set(tag, body);
        return submit(
          d.submissionPort,
          'k@example.test',
          'pw-k-long-1',
          'k@example.test',
          'someone@far.example',
          mail('k@example.test', tag, body),
        ).then((code) => [tag, code] as const);
      });
      // Stop once a first message has been accepted: others are being received and signed.
      await Promise.race(codes);
      const t0 = Date.now();
      let exited: number | null | undefined;
      if (how === 'SIGTERM') exited = await d.stop();
      else await d.kill9();
      const took = Date.now() - t0;
      const results = await Promise.all(codes);
      if (how === 'SIGTERM') {
        // Messages being stored get 10 s to finish (submission close()); no worker may keep it up.
        expect(took, 'SIGTERM took').toBeLessThan(15_000);
        expect(exited).toBe(0);
      }
      const accepted = results.filter(([, c]) => c === 250).map(([t]) => t);
      expect(accepted.length).toBeGreaterThan(0);
      relay.mode = 'accept';
      d = await startDaemon({ dataDir: d.dataDir, args });
      const list = await d.cli(['queue', 'list', '--json']);
      expect(list.code, list.stderr).toBe(0);
      const ids = [...list.stdout.matchAll(/"id":\s*"([^"]+)"/g)].map((m) => m[1]);
      // Retried now (one the restarted daemon already sent is no longer there to retry).
      for (const id of ids) await d.cli(['queue', 'retry', id]);
      await waitFor(
        async () => ((await d.cli(['queue', 'list', '--json'])).stdout.trim() === '[]' ? true : null),
        'an empty queue',
        60_000,
      );
      // The restarted daemon sends its queue at once: most may be gone before the list is read.
      expect(relay.received.length).toBeGreaterThanOrEqual(ids.length);
      const got = relay.received.map((m) => ({ tag: tagOf(m.data), m }));
      // Every message told 250 is there, once; nothing else but those, each whole and signed.
      for (const t of accepted) expect(got.filter((g) => g.tag === t).length, t).toBe(1);
      for (const { tag, m } of got) {
        expect(tag && bodies.has(tag), `unexpected message ${tag}`).toBe(true);
        expect(m.data.toString('latin1').endsWith(bodies.get(tag!)!), `${tag} whole`).toBe(true);
        expect(await verdicts(records, m.data), `${tag} signed`).toEqual([
          `example.test ${[...records.keys()][0].split('.')[0]} pass`,
        ]);
      }
      return { accepted: accepted.length, arrived: relay.received.length, took };
    } finally {
      await d.stop();
      await relay.close();
    }
  }

  it('SIGTERM during a burst of big and small messages: the daemon stops promptly; the queue holds only whole, signed messages, every accepted one', async () => {
    console.info('SIGTERM', await burstAndStop('SIGTERM'));
  }, 180_000);

  it('kill -9 during a burst: after a restart the queue holds only whole, signed messages, every accepted one', async () => {
    console.info('SIGKILL', await burstAndStop('SIGKILL'));
  }, 180_000);
});
