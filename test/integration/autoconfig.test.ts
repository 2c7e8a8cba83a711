// Issue 28 item 2: mail clients that set themselves up. The daemon's --http listener answers
// Thunderbird's autoconfig (both paths, by the address asked about or the Host it came to) and
// Outlook's autodiscover (the request body from Microsoft's documentation), for hosted domains
// only. Requests are made with curl; answers are read with Python's XML parser, as a client would.
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon } from '../helpers/daemon.js';
import { testCa } from '../helpers/mta-sts-server.js';

let d: DaemonHandle;
let http = 0;
const HOST = 'mail.vmail-auto.test';

/** curl's status and body. */
function curl(path: string, args: string[] = []): { code: number; body: string } {
  const out = execFileSync(
    'curl',
    ['-s', '-m', '10', '-w', '\n%{http_code}', ...args, `http://127.0.0.1:${http}${path}`],
    { encoding: 'utf8' },
  );
  const at = out.lastIndexOf('\n');
  return { code: Number(out.slice(at + 1)), body: out.slice(0, at) };
}

/** What Python's XML parser reads of an answer: [tag path, text] pairs, namespaces dropped. */
function parse(xml: string): [string, string][] {
  const py = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
out = []
def walk(e, path):
    tag = e.tag.split('}')[-1]
    p = path + '/' + tag
    if e.get('type'): p += '[' + e.get('type') + ']'
    out.append([p, (e.text or '').strip()])
    for c in e: walk(c, p)
walk(root, '')
print(json.dumps(out))`;
  return JSON.parse(execFileSync('python3', ['-c', py], { input: xml, encoding: 'utf8' }));
}

const OUTLOOK_REQUEST = (address: string) => `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>${address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;

beforeAll(async () => {
  d = await startDaemon({
    args: ['--hostname', HOST, '--http', '127.0.0.1:0'],
    domains: ['example.test', 'other.test'],
  });
  const status = JSON.parse((await d.cli(['status', '--json'])).stdout) as { http: { port: number } | null };
  http = status.http?.port ?? 0;
  expect(http).toBeGreaterThan(0);
});

afterAll(async () => {
  await d?.stop();
});

describe("Thunderbird's autoconfig", () => {
  it('describes POP3 (no certificate here: plain) and submission with STARTTLS, the user name %EMAILADDRESS%', async () => {
    const r = curl('/mail/config-v1.1.xml?emailaddress=alice%40example.test');
    expect(r.code).toBe(200);
    const xml = parse(r.body);
    const text = (p: string) => xml.filter(([k]) => k === p).map(([, v]) => v);
    expect(text('/clientConfig/emailProvider/domain')).toEqual(['example.test']);
    // No certificate in this test: POP3 on its port without TLS, and submission with STARTTLS.
    expect(text('/clientConfig/emailProvider/incomingServer[pop3]/hostname')).toEqual([HOST]);
    expect(text('/clientConfig/emailProvider/incomingServer[pop3]/port')).toEqual([String(d.pop3Port)]);
    expect(text('/clientConfig/emailProvider/incomingServer[pop3]/username')).toEqual(['%EMAILADDRESS%']);
    const status = JSON.parse((await d.cli(['status', '--json'])).stdout) as { submission: { port: number } };
    expect(text('/clientConfig/emailProvider/outgoingServer[smtp]/port')).toEqual([String(status.submission.port)]);
    expect(text('/clientConfig/emailProvider/outgoingServer[smtp]/socketType')).toEqual(['STARTTLS']);
  });

  it('answers at the .well-known path by the Host it came to (autoconfig.DOMAIN), HEAD too', () => {
    const r = curl('/.well-known/autoconfig/mail/config-v1.1.xml', ['-H', 'Host: autoconfig.other.test']);
    expect(r.code).toBe(200);
    expect(parse(r.body).find(([k]) => k === '/clientConfig/emailProvider/domain')?.[1]).toBe('other.test');
    const head = curl('/.well-known/autoconfig/mail/config-v1.1.xml', ['-I', '-H', 'Host: other.test']);
    expect(head.code).toBe(200);
  });

  it('gives 404 for a domain not hosted, and for paths it does not serve', () => {
    expect(curl('/mail/config-v1.1.xml?emailaddress=a%40elsewhere.test').code).toBe(404);
    expect(curl('/mail/config-v1.1.xml', ['-H', 'Host: autoconfig.elsewhere.test']).code).toBe(404);
    expect(curl('/mail/config-v1.1.xml').code).toBe(404); // Host 127.0.0.1: no domain
    expect(curl('/etc/passwd').code).toBe(404);
    expect(curl('/mail/../../etc/passwd', ['--path-as-is']).code).toBe(404);
    expect(curl('/mail/config-v1.1.xml?emailaddress=a%40example.test', ['-X', 'DELETE']).code).toBe(405);
  });
});

describe("Outlook's autodiscover", () => {
  it('answers the documented request with POP3 and SMTP settings in the 2006a response schema', () => {
    const r = curl('/autodiscover/autodiscover.xml', [
      '-X',
      'POST',
      '-H',
      'Content-Type: text/xml',
      '--data-binary',
      OUTLOOK_REQUEST('bob@example.test'),
    ]);
    expect(r.code).toBe(200);
    expect(r.body).toContain('xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"');
    const xml = parse(r.body);
    const text = (p: string) => xml.filter(([k]) => k === p).map(([, v]) => v);
    expect(text('/Autodiscover/Response/Account/AccountType')).toEqual(['email']);
    expect(text('/Autodiscover/Response/Account/Action')).toEqual(['settings']);
    expect(text('/Autodiscover/Response/Account/Protocol/Type')).toEqual(['POP3', 'SMTP']);
    expect(text('/Autodiscover/Response/Account/Protocol/Server')).toEqual([HOST, HOST]);
    expect(text('/Autodiscover/Response/Account/Protocol/LoginName')).toEqual(['bob@example.test', 'bob@example.test']);
  });

  it('gives 404 for a domain not hosted, 405 for GET, 413 for a huge body; the daemon serves on', () => {
    const post = (body: string) =>
      execFileSync(
        'curl',
        [
          '-s',
          '-m',
          '10',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-X',
          'POST',
          '--data-binary',
          '@-',
          `http://127.0.0.1:${http}/Autodiscover/Autodiscover.xml`,
        ],
        { input: body, encoding: 'utf8' },
      );
    expect(post(OUTLOOK_REQUEST('eve@elsewhere.test'))).toBe('404');
    expect(post('<not xml at all')).toBe('404');
    expect(post(`<EMailAddress>${'a'.repeat(5000)}@example.test</EMailAddress>`)).toBe('404');
    expect(post('x'.repeat(200_000))).toBe('413');
    expect(curl('/autodiscover/autodiscover.xml').code).toBe(405);
    expect(curl('/mail/config-v1.1.xml?emailaddress=a%40example.test').code).toBe(200);
  });

  it('cuts off a client that sends its headers a byte at a time forever, and serves the next one', async () => {
    const slow = connect(http, '127.0.0.1');
    await new Promise((r) => slow.once('connect', r));
    slow.write('GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: example.test\r\n');
    let closed = false;
    slow.on('close', () => {
      closed = true;
    });
    slow.on('error', () => {
      // The daemon hangs up on it: that is what this test waits for.
    });
    const timer = setInterval(() => slow.writable && slow.write('X'), 500);
    try {
      expect(curl('/mail/config-v1.1.xml?emailaddress=a%40example.test').code).toBe(200);
      const until = Date.now() + 30_000;
      while (!closed && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      expect(closed).toBe(true);
    } finally {
      clearInterval(timer);
      slow.destroy();
    }
  }, 40_000);
});

describe('the MTA-STS policy over --https', () => {
  it('serves each hosted domain its policy at mta-sts.DOMAIN over TLS only; 404 elsewhere', async () => {
    const ca = await testCa();
    const pair = await ca.issue([HOST, 'mta-sts.example.test', 'mta-sts.elsewhere.test']);
    const t = await startDaemon({
      args: [
        '--hostname',
        HOST,
        '--tls-cert',
        pair.cert,
        '--tls-key',
        pair.key,
        '--https',
        '127.0.0.1:0',
        '--http',
        '127.0.0.1:0',
      ],
    });
    try {
      const status = JSON.parse((await t.cli(['status', '--json'])).stdout) as {
        https: { port: number } | null;
        http: { port: number } | null;
      };
      const port = status.https?.port ?? 0;
      expect(port).toBeGreaterThan(0);
      /** curl over TLS to `host`, trusting the test CA (the certificate names are checked). */
      const get = (host: string, path = '/.well-known/mta-sts.txt') => {
        const out = execFileSync(
          'curl',
          [
            '-s',
            '-m',
            '10',
            '-w',
            '\n%{http_code}',
            '--cacert',
            ca.cert,
            '--resolve',
            `${host}:${port}:127.0.0.1`,
          ].concat([`https://${host}:${port}${path}`]),
          { encoding: 'utf8' },
        );
        const at = out.lastIndexOf('\n');
        return { code: Number(out.slice(at + 1)), body: out.slice(0, at) };
      };
      const policy = get('mta-sts.example.test');
      expect(policy.code).toBe(200);
      expect(policy.body).toBe(`version: STSv1\r\nmode: testing\r\nmx: ${HOST}\r\nmax_age: 86400\r\n`);
      // Its id is the one `domains dns` tells the admin to publish.
      const records = JSON.parse((await t.cli(['domains', 'dns', 'example.test', '--json'])).stdout) as {
        name: string;
        value: string;
      }[];
      expect(records.find((r) => r.name === '_mta-sts.example.test')?.value).toMatch(/^v=STSv1; id=vmail[0-9a-f]{8}$/);
      // A domain not hosted, and every other path: 404; the autoconfig is there over TLS too.
      expect(get('mta-sts.elsewhere.test').code).toBe(404);
      expect(get('mta-sts.example.test', '/etc/passwd').code).toBe(404);
      expect(get(HOST, '/mail/config-v1.1.xml?emailaddress=a%40example.test').code).toBe(200);
      // Over plain HTTP the policy is not served (RFC 8461 3.3: HTTPS only).
      const plain = execFileSync(
        'curl',
        ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: mta-sts.example.test'].concat([
          `http://127.0.0.1:${status.http?.port}/.well-known/mta-sts.txt`,
        ]),
        { encoding: 'utf8' },
      );
      expect(plain).toBe('404');
    } finally {
      await t.stop();
    }
  }, 60_000);
});
