// --metrics: the real daemon's Prometheus endpoint, scraped with curl before and after real
// mail (smtplib), real POP3 logins (poplib) and a forward held in the queue (the relay's port
// is closed); and what a hostile client can do to the endpoint (other paths and methods, a
// huge request, many idle connections) while mail goes on being accepted.
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, runCli, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { mailbox, pop3Login, setup, smtplib } from '../helpers/effects.js';
import { closedPort } from '../helpers/relay.js';

const run = promisify(execFile);

/** curl's answer: status code, headers and body. */
async function curl(url: string, ...args: string[]): Promise<{ code: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '-o', '-', '-w', '\n%{http_code}', '--max-time', '10', ...args, url]);
  const cut = stdout.lastIndexOf('\n');
  return { code: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** Writes `text` on a raw connection and reads until the server closes it. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('error', () => {
      // A reset while the head is still being written is one of the answers expected.
    });
    s.on('close', () => resolve(got));
    s.end(text);
  });
}

/** One sample's value from Prometheus text (0 when the series is not there yet). */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

const MESSAGE = 'From: a@elsewhere.example\nTo: bob@example.test\nSubject: counted\n\nhello\n';

describe('metrics', () => {
  let d: DaemonHandle;
  let port: number;
  const scrape = async () => {
    const r = await curl(`http://127.0.0.1:${port}/metrics`);
    expect(r.code).toBe(200);
    return r.body;
  };
  beforeAll(async () => {
    d = await startDaemon({
      args: ['--metrics', '127.0.0.1:0', '--relay', `smtp://127.0.0.1:${await closedPort()}`],
    });
    port = Number(/metrics=(\d+)/.exec(d.output())?.[1]);
    await setup(d, ['bob'], [['away', ['someone@far.example']]]);
  });

  it('says its port in the ready line and in status --json', async () => {
    expect(port).toBeGreaterThan(0);
    const status = JSON.parse((await d.cli(['status', '--json'])).stdout);
    expect(status.metrics).toEqual({ port });
  });

  it('counts one more accepted message after one delivery, and its bytes in the domain', async () => {
    const before = await scrape();
    expect(before).toContain('# TYPE vmail_smtp_accepted_total counter');
    expect(sample(before, 'vmail_domain_mailboxes', 'domain="example.test"')).toBe(1);
    const sent = await smtplib(d.smtpPort, 'a@elsewhere.example', ['bob@example.test'], MESSAGE);
    expect(sent.ok).toBe(true);
    expect(mailbox(d, 'bob')).toHaveLength(1);
    const after = await scrape();
    expect(sample(after, 'vmail_smtp_accepted_total')).toBe(sample(before, 'vmail_smtp_accepted_total') + 1);
    expect(sample(after, 'vmail_smtp_sessions_total')).toBeGreaterThan(sample(before, 'vmail_smtp_sessions_total'));
    // The size index learns of the message as the Maildir changes: waited for, not assumed.
    await waitFor(
      async () => sample(await scrape(), 'vmail_domain_messages', 'domain="example.test"') === 1,
      'the message in the domain total',
    );
    expect(sample(await scrape(), 'vmail_domain_bytes', 'domain="example.test"')).toBeGreaterThan(50);
  });

  it('counts refusals by their code', async () => {
    const before = sample(await scrape(), 'vmail_smtp_refused_total', 'code="550"');
    const sent = await smtplib(d.smtpPort, 'a@elsewhere.example', ['nobody@example.test'], MESSAGE);
    expect(sent.refused?.['nobody@example.test']?.[0]).toBe(550);
    expect(sample(await scrape(), 'vmail_smtp_refused_total', 'code="550"')).toBe(before + 1);
  });

  it('moves the POP3 failures counter on a wrong password, logins and bytes on a right one', async () => {
    const before = await scrape();
    expect((await pop3Login(d.pop3Port, 'bob@example.test', 'wrong-password')).ok).toBe(false);
    const failed = await scrape();
    expect(sample(failed, 'vmail_pop3_login_failures_total')).toBe(
      sample(before, 'vmail_pop3_login_failures_total') + 1,
    );
    expect(sample(failed, 'vmail_pop3_logins_total')).toBe(sample(before, 'vmail_pop3_logins_total'));
    const ok = await pop3Login(d.pop3Port, 'bob@example.test', 'password-1');
    expect(ok.ok).toBe(true);
    const after = await waitFor(async () => {
      const t = await scrape();
      return sample(t, 'vmail_pop3_bytes_sent_total') > sample(failed, 'vmail_pop3_bytes_sent_total') ? t : null;
    }, 'the session bytes counted at its close');
    expect(sample(after, 'vmail_pop3_logins_total')).toBe(sample(before, 'vmail_pop3_logins_total') + 1);
  });

  it('shows a forward waiting in the queue, with its age', async () => {
    expect(sample(await scrape(), 'vmail_queue_messages')).toBe(0);
    const sent = await smtplib(d.smtpPort, 'a@elsewhere.example', ['away@example.test'], MESSAGE);
    expect(sent.ok).toBe(true);
    const text = await scrape();
    expect(sample(text, 'vmail_queue_messages')).toBe(1);
    expect(text).toMatch(/^vmail_queue_oldest_age_seconds \d/m);
  });

  it('counts the applies, and event-loop lag comes with the default metrics', async () => {
    const before = sample(await scrape(), 'vmail_apply_runs_total');
    expect((await d.cli(['accounts', 'add', 'carol', '--password-stdin'], 'password-1\n')).code).toBe(0);
    expect((await d.cli(['pending', 'apply'])).code).toBe(0);
    const text = await scrape();
    expect(sample(text, 'vmail_apply_runs_total')).toBe(before + 1);
    expect(sample(text, 'vmail_domain_mailboxes', 'domain="example.test"')).toBe(2);
    expect(text).toMatch(/^vmail_nodejs_eventloop_lag_seconds \d/m);
  });

  it('answers 404 elsewhere, 405 to other methods, HEAD without a body, 431 to a huge request', async () => {
    const base = `http://127.0.0.1:${port}`;
    expect((await curl(`${base}/`)).code).toBe(404);
    expect((await curl(`${base}/metrics/../etc/passwd`, '--path-as-is')).code).toBe(404);
    expect((await curl(`${base}/metricsx`)).code).toBe(404);
    expect((await curl(`${base}/metrics`, '-X', 'POST', '-d', 'x=1')).code).toBe(405);
    expect((await curl(`${base}/metrics`, '-X', 'DELETE')).code).toBe(405);
    const head = await curl(`${base}/metrics`, '-I');
    expect(head.code).toBe(200);
    expect(head.body).not.toContain('vmail_smtp');
    // A 64 KB request head: refused (431) or cut off, never read whole; the endpoint lives on.
    const answer = await rawRequest(
      port,
      `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
    );
    expect(answer.slice(0, 40)).toMatch(/^(HTTP\/1\.1 431 |)/);
    expect(answer).not.toContain('vmail_smtp');
    expect((await curl(`${base}/metrics?x=1`)).code).toBe(200);
  });

  it('never blocks mail: 100 idle connections to the endpoint, and SMTP still accepts', async () => {
    const idle: Socket[] = [];
    for (let i = 0; i < 100; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {
        // Closed by the daemon past its limit: that is the point.
      });
      s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      idle.push(s);
    }
    const before = mailbox(d, 'bob').length;
    const sent = await smtplib(d.smtpPort, 'a@elsewhere.example', ['bob@example.test'], MESSAGE);
    expect(sent.ok).toBe(true);
    expect(mailbox(d, 'bob')).toHaveLength(before + 1);
    for (const s of idle) s.destroy();
    // The endpoint serves again once they are gone.
    await waitFor(
      async () => (await curl(`http://127.0.0.1:${port}/metrics`).catch(() => ({ code: 0 }))).code === 200,
      'a scrape',
    );
  });

  afterAll(async () => {
    await d?.stop();
  });
});

describe('metrics settings', () => {
  it('is off by default and with 0; a bad address is a configuration error (exit 78)', async () => {
    const off = await startDaemon({ args: ['--metrics', '0'] });
    expect(off.output()).not.toMatch(/metrics=/);
    const status = JSON.parse((await off.cli(['status', '--json'])).stdout);
    expect(status.metrics).toBeNull();
    await off.stop();
    const bad = await runCli(['daemon', '--data-dir', tempDir(), '--metrics', 'nowhere']);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/metrics.*HOST:PORT/);
  });
});
