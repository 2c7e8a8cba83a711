// Spam verdicts a sender cannot forge (issue 24 item 3): whatever the sender wrote in X-Spam*,
// X-Spamd-*, X-Rspamd-* or an Authentication-Results: naming this server or a hosted domain is
// gone from the delivered message, which carries vmail's own X-Spam-Status; an action rspamd
// may answer that vmail does not know follows --rspamd-fail. The messages are read back with
// POP3 RETR. rspamd here is a stand-in (an HTTP server answering fixed JSON), for answers the
// real rspamd cannot be made to give; mail-auth.test.ts uses the real one.
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon } from '../helpers/daemon.js';
import { smtplib } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';
import { rspamdStandIn } from '../helpers/rspamd.js';

const HOST = hostname() || 'localhost';

/** A message with the headers a spammer would forge, and a body that looks like headers. */
const forgedMessage = (subject: string) =>
  [
    'From: Alice <alice@example.org>',
    'To: sales@example.test',
    `Subject: ${subject}`,
    'X-Spam-Status: No, score=-100.0 required=5.0 FORGED1',
    'X-Spam: No FORGED2',
    'X-SPAM-FLAG: NO FORGED3',
    'X-Spamd-Result: default: False [-50.00 / 15.00];',
    '\tFORGED4(1.00)',
    'X-Spamd-Bar: / FORGED5',
    'X-Rspamd-Score: -50 FORGED6',
    'X-Rspamd-Action: no action FORGED7',
    'X-Spam-Status : No FORGED8',
    'Authentication-Results: example.test; dkim=pass header.d=example.test FORGED9',
    `Authentication-Results: (our own) ${HOST.toUpperCase()} 1;`,
    ' dkim=pass FORGED10',
    'Authentication-Results: mx.sub.example.test; spf=pass FORGED11',
    'Authentication-Results: "example.test"; dmarc=pass FORGED12',
    'Authentication-Results: (x\\) example.test; dkim=pass FORGED13',
    'Authentication-Results: ((x) example.test; dkim=pass FORGED14',
    'Authentication-Results: ; dkim=pass header.d=example.test FORGED15',
    'Authentication-Results: mx.google.com; dkim=pass header.d=example.org KEPT1',
    'X-Virus-Scanned: clamav KEPT2',
    'Date: Sun, 29 Nov 2026 00:00:00 +0000',
    '',
    'X-Spam-Status: No, this line is the body KEPT3',
    'Authentication-Results: example.test; body KEPT4',
    '',
  ].join('\n');

/** Every message in the mailbox, as POP3 RETR gives it (dot-stuffing undone). */
async function retrAll(d: DaemonHandle, user: string): Promise<string[]> {
  const c = await RawPop3.open(d.pop3Port);
  await c.login(user, 'password-1');
  const stat = await c.ok('STAT');
  const n = Number(stat.split(' ')[1]);
  const out: string[] = [];
  for (let i = 1; i <= n; i++) {
    const { body } = await c.multi(`RETR ${i}`);
    out.push(body.toString('latin1').replace(/^\.\./gm, '.'));
  }
  await c.quit();
  return out;
}

/** Sends with smtplib; the message must be accepted (the refusal is shown if not). */
async function sent(d: DaemonHandle, data: string, from = 'a@example.org'): Promise<void> {
  const r = await smtplib(d.smtpPort, from, ['sales@example.test'], data);
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

async function withAccount(d: DaemonHandle, name = 'sales'): Promise<void> {
  const add = await d.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n');
  expect(add.code, add.stderr).toBe(0);
  const apply = await d.cli(['pending', 'apply']);
  expect(apply.code, apply.stderr).toBe(0);
}

/** The header block of a message, one unfolded field per entry. */
const fields = (msg: string) =>
  msg
    .slice(0, msg.indexOf('\r\n\r\n') + 2)
    .replace(/\r\n[ \t]/g, ' ')
    .split('\r\n')
    .filter(Boolean);

describe('forged verdicts are removed and vmail writes its own', () => {
  const ham = {
    action: 'no action',
    score: 1.5,
    required_score: 15,
    // add_headers and no remove_headers: the case that let the sender's copies through.
    milter: {
      add_headers: {
        'X-Spamd-Result': { value: 'default: False [1.50 / 15.00];\n MISSING_MID(1.50)', order: 0 },
        'Authentication-Results': `${HOST}; dkim=none; spf=none smtp.mailfrom=alice@example.org`,
      },
    },
  };
  let standIn: Awaited<ReturnType<typeof rspamdStandIn>>;
  let d: DaemonHandle;
  beforeAll(async () => {
    standIn = await rspamdStandIn(ham);
    d = await startDaemon({ args: ['--rspamd', standIn.url] });
    await withAccount(d);
  }, 30_000);
  afterAll(async () => {
    await d?.stop();
    standIn?.close();
  });

  it("rspamd's add_headers without remove_headers: the sender's X-Spam*, X-Spamd-*, X-Rspamd-* and our Authentication-Results are gone", async () => {
    await sent(d, forgedMessage('ham'), 'alice@example.org');
    const [msg] = await retrAll(d, 'sales');
    const head = fields(msg);
    expect(msg).not.toMatch(/FORGED/);
    for (const kept of ['KEPT1', 'KEPT2', 'KEPT3', 'KEPT4']) expect(msg).toContain(kept);
    // vmail's own verdict, once, and rspamd's headers as it asked.
    expect(head.filter((h) => /^x-spam-status\s*:/i.test(h))).toEqual([
      'X-Spam-Status: No, score=1.50 required=15.00 action=no-action',
    ]);
    expect(head).toContain('X-Spamd-Result: default: False [1.50 / 15.00]; MISSING_MID(1.50)');
    expect(head.filter((h) => /^authentication-results:/i.test(h))).toEqual([
      `Authentication-Results: ${HOST}; dkim=none; spf=none smtp.mailfrom=alice@example.org`,
      'Authentication-Results: mx.google.com; dkim=pass header.d=example.org KEPT1',
    ]);
    // The body is untouched.
    expect(msg).toContain('\r\n\r\nX-Spam-Status: No, this line is the body KEPT3\r\n');
  });

  it('a message with no body, folded forgeries and 5,000 forged fields loses only those', async () => {
    const many = Array.from({ length: 5000 }, (_, i) => `X-Spam-Flood-${i}: FORGED`).join('\n');
    const data = `From: a@example.org\nSubject: flood\n${many}\nX-Rspamd-Queue-Id:\n  FORGED\n continued FORGED\nX-Last: KEPT\n`;
    await sent(d, data, 'a@example.org');
    const msg = (await retrAll(d, 'sales')).find((m) => m.includes('Subject: flood'))!;
    expect(msg).not.toMatch(/FORGED/);
    expect(msg).toMatch(/\r\nX-Last: KEPT$/);
    expect(msg).toMatch(/\r\nX-Spam-Status: No, score=1\.50 required=15\.00 action=no-action\r\n/);
  });
});

describe('the verdict whatever rspamd answers', () => {
  it("spam marked by rspamd: vmail's X-Spam-Status says Yes, rspamd's own copy of it is not doubled", async () => {
    const standIn = await rspamdStandIn({
      action: 'add header',
      score: 9.25,
      required_score: 15,
      milter: { add_headers: { 'X-Spam-Status': 'Yes, score=9.25' } },
    });
    const d = await startDaemon({ args: ['--rspamd', standIn.url] });
    await withAccount(d);
    await sent(d, forgedMessage('spam'), 'a@example.org');
    const [msg] = await retrAll(d, 'sales');
    const head = fields(msg);
    expect(head.filter((h) => /^x-spam-status\s*:/i.test(h))).toEqual([
      'X-Spam-Status: Yes, score=9.25 required=15.00 action=add-header',
    ]);
    expect(head).toContain('X-Spam: Yes');
    expect(msg).not.toMatch(/FORGED/);
    await d.stop();
    standIn.close();
  });

  it('rspamd that asks for no headers at all (milter_headers off): the message still carries the verdict', async () => {
    const standIn = await rspamdStandIn({ action: 'no action', score: -0.1, required_score: 15 });
    const d = await startDaemon({ args: ['--rspamd', standIn.url] });
    await withAccount(d);
    await sent(d, forgedMessage('bare'), 'a@example.org');
    const [msg] = await retrAll(d, 'sales');
    expect(fields(msg).filter((h) => /^x-spam/i.test(h))).toEqual([
      'X-Spam-Status: No, score=-0.10 required=15.00 action=no-action',
    ]);
    expect(msg).not.toMatch(/FORGED/);
    await d.stop();
    standIn.close();
  });

  it('an action vmail does not know is deferred (451) under tempfail, nothing stored; accepted unchecked under open', async () => {
    const standIn = await rspamdStandIn({ action: 'quarantine-ish', score: 30, required_score: 15 });
    const d = await startDaemon({ args: ['--rspamd', standIn.url] });
    await withAccount(d);
    const r = await smtplib(d.smtpPort, 'a@example.org', ['sales@example.test'], forgedMessage('unknown'));
    expect([r.ok, r.code]).toEqual([false, 451]);
    expect(await retrAll(d, 'sales')).toEqual([]);
    expect(d.output()).toMatch(/spam filter unknown action .*action=quarantine-ish outcome=deferred/);
    await d.stop();

    const open = await startDaemon({ args: ['--rspamd', standIn.url, '--rspamd-fail', 'open'] });
    await withAccount(open);
    await sent(open, forgedMessage('open'), 'a@example.org');
    const [msg] = await retrAll(open, 'sales');
    // Unchecked: no verdict is claimed, and the sender's forged ones are still removed.
    expect(msg).not.toMatch(/FORGED/);
    expect(fields(msg).filter((h) => /^x-spam/i.test(h))).toEqual([]);
    expect(open.output()).toMatch(/spam filter unknown action .*outcome="accepted unchecked"/);
    await open.stop();
    standIn.close();
  });

  it('without rspamd the forged verdicts are removed too, and none is claimed', async () => {
    const d = await startDaemon();
    await withAccount(d);
    await sent(d, forgedMessage('none'), 'a@example.org');
    const [msg] = await retrAll(d, 'sales');
    expect(msg).not.toMatch(/FORGED/);
    expect(fields(msg).filter((h) => /^x-spam/i.test(h))).toEqual([]);
    for (const kept of ['KEPT1', 'KEPT2', 'KEPT3', 'KEPT4']) expect(msg).toContain(kept);
    await d.stop();
  });
});
