// Direct delivery (issue 27 item 2): without --relay, queued mail goes to the recipient
// domain's MX hosts found through a real DNS server (dnsmasq), into real Postfix instances on
// 127.0.0.2 and 127.0.0.3 port 25, with MTA-STS policies served over HTTPS on 127.0.0.5:443 by a
// test CA the daemon trusts (NODE_EXTRA_CA_CERTS). Judged by what Postfix stored, what reached a
// local mailbox, and what `queue list` says.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, type DaemonHandle, startDaemon, waitFor } from '../helpers/daemon.js';
import { type DnsServer, dns, silentDns, startDns } from '../helpers/dns-server.js';
import { mailbox, setup, smtplib } from '../helpers/effects.js';
import { type PolicyServer, startPolicyServer, type TestCa, testCa } from '../helpers/mta-sts-server.js';
import { type RunningPostfix, startPostfix } from '../helpers/postfix.js';

afterAll(cleanUp);

const PF_A = '127.0.0.2'; // accepts, STARTTLS with a certificate for mx1.far.test from the test CA
const PF_B = '127.0.0.3'; // no STARTTLS; answers 451 until told otherwise
const DOWN = '127.0.0.4'; // nothing listens
const HTTPS = '127.0.0.5'; // the MTA-STS policies
const COUNTER = '127.0.0.6'; // counts connections and answers 421

const policy = (mode: string, mx: string[]) =>
  `version: STSv1\nmode: ${mode}\n${mx.map((m) => `mx: ${m}\n`).join('')}max_age: 86400\n`;

const STS_DOMAINS = ['enforce', 'enforce-ok', 'testing', 'huge', 'bad', 'redirect'].map((d) => `${d}.test`);

function records(): string[] {
  const many = Array.from({ length: 100 }, (_, i) => dns.mx('many.test', `mx${i}.many.test`, i));
  return [
    dns.a('mx1.far.test', PF_A),
    dns.mx('far.test', 'mx1.far.test'),
    dns.mx('sender.test', 'mx1.far.test'),
    dns.mx('deferring.test', 'mx.deferring.test'),
    dns.a('mx.deferring.test', PF_B),
    dns.mx('fallthrough.test', 'down.fallthrough.test', 10),
    dns.a('down.fallthrough.test', DOWN),
    dns.mx('fallthrough.test', 'mx1.far.test', 20),
    // No MX: the domain's own address takes its mail.
    dns.a('bare.test', PF_A),
    dns.nullMx('null.test'),
    dns.mx('loop.test', 'mx.loop.test'),
    dns.a('mx.loop.test', '127.0.0.1'),
    // A chain of CNAMEs from the MX name to the host.
    dns.mx('cname.test', 'c1.cname.test'),
    ...Array.from({ length: 7 }, (_, i) => dns.cname(`c${i + 1}.cname.test`, `c${i + 2}.cname.test`)),
    dns.cname('c8.cname.test', 'mx1.far.test'),
    ...many,
    ...many.map((_, i) => dns.a(`mx${i}.many.test`, COUNTER)),
    // MTA-STS: each domain publishes an id and a policy host on HTTPS.
    ...STS_DOMAINS.flatMap((d) => [dns.txt(`_mta-sts.${d}`, 'v=STSv1; id=20261201'), dns.a(`mta-sts.${d}`, HTTPS)]),
    dns.mx('enforce.test', 'mx.enforce.test'),
    dns.a('mx.enforce.test', PF_B),
    dns.mx('enforce-ok.test', 'mx1.far.test'),
    dns.mx('testing.test', 'mx.testing.test'),
    dns.a('mx.testing.test', PF_B),
    ...['huge', 'bad', 'redirect'].map((d) => dns.mx(`${d}.test`, 'mx1.far.test')),
  ];
}

const FORWARDS: [string, string[]][] = [
  ['far', ['someone@far.test']],
  ['nouser', ['nobody-here@far.test']],
  ['deferring', ['user@deferring.test']],
  ['fallthrough', ['user@fallthrough.test']],
  ['bare', ['user@bare.test']],
  ['nullmx', ['user@null.test']],
  ['loop', ['user@loop.test']],
  ['cname', ['user@cname.test']],
  ['many', ['user@many.test']],
  ['enforce', ['user@enforce.test']],
  ['enforceok', ['user@enforce-ok.test']],
  ['testing', ['user@testing.test']],
  ['huge', ['user@huge.test']],
  ['bad', ['user@bad.test']],
  ['redirect', ['user@redirect.test']],
];

let d: DaemonHandle;
let dnsServer: DnsServer;
let ca: TestCa;
let pfA: RunningPostfix;
let pfB: RunningPostfix;
let https: PolicyServer;
let counter: Server;
let counted = 0;

const message = (subject: string) =>
  `From: Alice <alice@sender.test>\nTo: x@example.test\nSubject: ${subject}\nMessage-ID: <${subject.replace(/\W/g, '')}-${Date.now()}@sender.test>\nDate: Tue, 1 Dec 2026 00:00:00 +0000\n\nHello, ${subject}.\n`;

/** The messages in a Postfix Maildir's new/, as text. */
function stored(pf: RunningPostfix, box: string): string[] {
  const dir = join(pf.maildir(box), 'new');
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'latin1')) : [];
}

async function send(to: string, subject: string, from = 'alice@sender.test'): Promise<void> {
  const r = await smtplib(d.smtpPort, from, [to], message(subject));
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

async function queueEntry(to: string): Promise<{ id: string; attempts: number; lastError: string | null }> {
  const list = JSON.parse((await d.cli(['queue', 'list', '--json'])).stdout) as {
    id: string;
    to: string;
    attempts: number;
    lastError: string | null;
  }[];
  return list.find((e) => e.to === to) as never;
}

beforeAll(async () => {
  ca = await testCa();
  dnsServer = await startDns(records());
  const mxCert = await ca.issue(['mx1.far.test']);
  pfA = startPostfix({
    address: PF_A,
    boxes: [
      'someone@far.test',
      'alice@sender.test',
      'user@fallthrough.test',
      'user@bare.test',
      'user@cname.test',
    ].concat(['user@enforce-ok.test', 'user@huge.test', 'user@bad.test', 'user@redirect.test']),
    tls: mxCert,
    hostname: 'mx1.far.test',
  });
  pfB = startPostfix({
    address: PF_B,
    boxes: ['user@deferring.test', 'user@enforce.test', 'user@testing.test'],
    mode: 'defer',
    hostname: 'mx.b.test',
  });
  https = await startPolicyServer(HTTPS, await ca.issue(STS_DOMAINS.map((s) => `mta-sts.${s}`)));
  https.answers.set('mta-sts.enforce.test', policy('enforce', ['mx.enforce.test']));
  https.answers.set('mta-sts.enforce-ok.test', policy('enforce', ['*.far.test']));
  https.answers.set('mta-sts.testing.test', policy('testing', ['mx.testing.test']));
  https.answers.set('mta-sts.huge.test', { bytes: 2_000_000 });
  https.answers.set('mta-sts.bad.test', 'version: STSv9\nmode: enforce\nmx: nowhere.test\n\u0000\u0001garbage');
  https.answers.set('mta-sts.redirect.test', {
    status: 301,
    location: 'https://mta-sts.enforce.test/.well-known/mta-sts.txt',
  });
  counter = createServer((socket) => {
    counted++;
    socket.on('error', () => {});
    socket.end('421 4.3.2 busy, try later\r\n');
  });
  await new Promise<void>((r) => counter.listen(25, COUNTER, () => r()));
  d = await startDaemon({
    args: ['--resolver', dnsServer.address, '--hostname', 'vmail.example.test', '--relay-timeout', '5s'],
    env: { NODE_EXTRA_CA_CERTS: ca.cert },
  });
  await setup(d, ['bob'], FORWARDS);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  pfA?.stop();
  pfB?.stop();
  await https?.close();
  counter?.close();
  await dnsServer?.stop();
});

describe('direct delivery to the MX hosts (no --relay)', () => {
  it('a forwarded copy reaches the MX found through the DNS, with an SRS sender and an ARC seal', async () => {
    const key = JSON.parse((await d.cli(['domains', 'dkim', 'example.test', '--json'])).stdout);
    expect(key.selector).toBeTruthy();
    await send('far@example.test', 'forwarded copy');
    const copy = await waitFor(
      () => stored(pfA, 'someone@far.test').find((m) => m.includes('Subject: forwarded copy')),
      `the copy in Postfix's Maildir\n${pfA.logTail()}`,
      30_000,
    );
    expect(copy).toMatch(/^Return-Path: <SRS0=[^=]+=[^=]+=sender\.test=alice@example\.test>/);
    expect(copy).toMatch(/\nARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=example\.test;/);
    // Postfix's Received line: it came from us, named as we said in EHLO, over STARTTLS (ESMTPS).
    expect(copy).toMatch(
      /Received: from vmail\.example\.test \([^)]*\)\r?\n\s+by mx1\.far\.test \(Postfix\) with ESMTPS /,
    );
    await waitFor(
      () => /queue sent .*to=<someone@far\.test> .*mx1\.far\.test\[127\.0\.0\.2\] said: 250/.test(d.output()),
      'the log line',
    );
  });

  it('a bounce leaves by direct delivery too: to the remote sender of a copy the MX refused (550)', async () => {
    await send('nouser@example.test', 'no such user there');
    const bounce = await waitFor(
      () => stored(pfA, 'alice@sender.test').find((m) => m.includes('no such user there')),
      `the bounce at the sender's MX\n${pfA.logTail()}`,
      30_000,
    );
    expect(bounce).toMatch(/^Return-Path: <>/);
    expect(bounce).toMatch(/Status: 5\.1\.1/);
    expect(bounce).toMatch(/mx1\.far\.test\[127\.0\.0\.2\] said: 550 5\.1\.1/);
  });

  it('an MX answering 451 keeps the message queued with the answer shown; it leaves once the MX takes it', async () => {
    await send('deferring@example.test', 'deferred for now');
    const entry = await waitFor(
      async () => {
        const e = await queueEntry('user@deferring.test');
        return e?.lastError ? e : null;
      },
      'the deferral in queue list',
      30_000,
    );
    expect(entry.lastError).toMatch(/mx\.deferring\.test\[127\.0\.0\.3\] said: 451 4\.\d\.\d <user@deferring\.test>/);
    const table = (await d.cli(['queue', 'list'])).stdout;
    expect(table).toMatch(
      /<user@deferring\.test>.*next try \d\d:\d\d.*: mx\.deferring\.test\[127\.0\.0\.3\] said: 451/,
    );
    expect(stored(pfB, 'user@deferring.test')).toEqual([]);
    pfB.reconfigure({ mode: 'accept' });
    expect((await d.cli(['queue', 'retry', entry.id])).code).toBe(0);
    // A retry may go over the connection the first attempt left cached, to an smtpd that Postfix's
    // reload lets finish its session with the old setting (451 again): asked again every 3 s, as an
    // admin would, until one reaches a new smtpd.
    let asked = Date.now();
    await waitFor(
      async () => {
        if (stored(pfB, 'user@deferring.test').length === 1) return true;
        if (Date.now() - asked > 3_000) {
          asked = Date.now();
          // Gone from the queue between the look and the call: delivered, the next look says so.
          await d.cli(['queue', 'retry', entry.id]);
        }
        return false;
      },
      () => `delivery after the retry\n${pfB.logTail()}\n${d.output().slice(-4000)}`,
      30_000,
    );
    await waitFor(async () => !(await queueEntry('user@deferring.test')), 'the queue to let it go');
    // Its own waits allow 30 s each: the test as a whole gets their sum, not vitest's 30 s.
  }, 90_000);

  it('a null MX bounces at once to the sender, a local account here (5.1.10)', async () => {
    await send('nullmx@example.test', 'to a null MX', 'bob@example.test');
    const bounce = await waitFor(() => mailbox(d, 'bob').find((m) => m.includes('to a null MX')), 'the bounce', 30_000);
    expect(bounce).toMatch(/Status: 5\.1\.10/);
    expect(bounce).toMatch(/null\.test accepts no mail \(null MX/);
  });

  it('an MX that is down: the next MX takes it; a domain without MX: its own address takes it', async () => {
    await send('fallthrough@example.test', 'through the second MX');
    await send('bare@example.test', 'to the bare domain');
    await waitFor(() => stored(pfA, 'user@fallthrough.test').length === 1, 'the second MX', 30_000);
    await waitFor(() => stored(pfA, 'user@bare.test').length === 1, 'the A record host', 30_000);
  });

  it('MTA-STS enforce: an MX that offers no STARTTLS gets nothing, and queue list says why', async () => {
    await send('enforce@example.test', 'enforced');
    const entry = await waitFor(
      async () => {
        const e = await queueEntry('user@enforce.test');
        return e?.lastError ? e : null;
      },
      'the MTA-STS reason in queue list',
      30_000,
    );
    expect(entry.lastError).toBe('MTA-STS: mx.enforce.test[127.0.0.3] offers no STARTTLS');
    expect((await d.cli(['queue', 'list'])).stdout).toMatch(
      /MTA-STS: mx\.enforce\.test\[127\.0\.0\.3\] offers no STARTTLS/,
    );
    expect(stored(pfB, 'user@enforce.test')).toEqual([]);
    // The policy is cached in the data dir, for a restart to keep.
    expect(JSON.parse(readFileSync(join(d.dataDir, 'mta-sts/enforce.test.json'), 'utf8'))).toMatchObject({
      id: '20261201',
      policy: { mode: 'enforce', mx: ['mx.enforce.test'] },
    });
  });

  it('MTA-STS enforce with a policy MX and a valid certificate for it: delivered over verified TLS', async () => {
    await send('enforceok@example.test', 'enforced and fine');
    await waitFor(
      () => stored(pfA, 'user@enforce-ok.test').length === 1,
      `delivery\n${d.output().slice(-2000)}`,
      30_000,
    );
  });

  it('MTA-STS testing: delivered anyway, with a log line naming the failure', async () => {
    await send('testing@example.test', 'testing mode');
    await waitFor(() => stored(pfB, 'user@testing.test').length === 1, 'delivery', 30_000);
    expect(d.output()).toMatch(/mta-sts testing failure .*domain=testing\.test .*offers no STARTTLS/);
  });
});

describe('direct delivery: the attacker', () => {
  it('an MX pointing at our own address is a loop: bounced at once, not sent to ourselves', async () => {
    await send('loop@example.test', 'looping', 'bob@example.test');
    const bounce = await waitFor(
      () => mailbox(d, 'bob').find((m) => m.includes('Subject: looping')),
      'the bounce',
      30_000,
    );
    expect(bounce).toMatch(/Status: 5\.4\.6/);
    expect(bounce).toMatch(/mail for loop\.test loops back to myself/);
  });

  it('a huge, a malformed and a redirected policy: no policy (mail goes out opportunistically), each logged', async () => {
    for (const name of ['huge', 'bad', 'redirect']) await send(`${name}@example.test`, `policy ${name}`);
    for (const name of ['huge', 'bad', 'redirect'])
      await waitFor(() => stored(pfA, `user@${name}.test`).length === 1, `${name}: delivery`, 30_000);
    const out = d.output();
    expect(out).toMatch(/mta-sts policy fetch failed .*domain=huge\.test .*over 65536 bytes/);
    expect(out).toMatch(/mta-sts policy fetch failed .*domain=bad\.test .*not valid/);
    expect(out).toMatch(/mta-sts policy fetch failed .*domain=redirect\.test .*answered 301/);
    // The redirect was not followed.
    expect(https.requests.filter((h) => h === 'mta-sts.enforce.test').length).toBeLessThanOrEqual(1);
  });

  it('an MX list of 100 hosts: one attempt makes 5 connections, and the message stays queued', async () => {
    const before = counted;
    await send('many@example.test', 'a hundred MX');
    const entry = await waitFor(
      async () => {
        const e = await queueEntry('user@many.test');
        return e?.lastError ? e : null;
      },
      'the deferral',
      60_000,
    );
    expect(counted - before).toBe(5);
    expect(entry.lastError).toMatch(/said: 421 4\.3\.2 busy/);
    expect(entry.attempts).toBe(1);
  });

  it('a chain of eight CNAMEs from the MX name to its host is followed', async () => {
    await send('cname@example.test', 'through cnames');
    await waitFor(() => stored(pfA, 'user@cname.test').length === 1, 'delivery', 30_000);
  });

  it('a DNS server that never answers: the lookup times out and the message stays queued', async () => {
    const silent = await silentDns();
    const other = await startDaemon({ args: ['--resolver', silent.address, '--hostname', 'vmail2.example.test'] });
    try {
      await setup(other, [], [['far', ['someone@far.test']]]);
      const before = stored(pfA, 'someone@far.test').length;
      expect((await smtplib(other.smtpPort, 'alice@sender.test', ['far@example.test'], message('no dns'))).ok).toBe(
        true,
      );
      const entry = await waitFor(
        async () => {
          const list = JSON.parse((await other.cli(['queue', 'list', '--json'])).stdout);
          return list[0]?.lastError ? list[0] : null;
        },
        'the deferral',
        60_000,
      );
      expect(entry.lastError).toMatch(/DNS lookup of MX of far\.test failed: ETIMEOUT/);
      expect(stored(pfA, 'someone@far.test').length).toBe(before);
    } finally {
      await other.stop();
      silent.close();
    }
  });
});
