// Issue 28 items 3 and 4: `vmail domains dns` prints every record a domain needs, and `vmail
// domains check` looks each one up. The check runs against a real DNS server (Debian's dnsmasq
// on a loopback port, named with --resolver) that serves the records `domains dns --json` gave,
// all but DMARC, then DMARC too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsRecord } from '../../src/model/dns-records.js';
import { type DaemonHandle, startDaemon } from '../helpers/daemon.js';
import { type DnsServer, dns, published, startDns } from '../helpers/dns-server.js';

let d: DaemonHandle;
let server: DnsServer;
const HOST = 'mx.vmail-dns.test';

beforeAll(async () => {
  server = await startDns([]);
  d = await startDaemon({ args: ['--hostname', HOST, '--resolver', server.address] });
  expect((await d.cli(['domains', 'dkim', 'example.test'])).code).toBe(0);
});

afterAll(async () => {
  await d?.stop();
  await server?.stop();
});

interface Checked extends DnsRecord {
  status: string;
  found: string;
}

const check = async () => {
  const r = await d.cli(['domains', 'check', 'example.test', '--json']);
  return { code: r.code, list: JSON.parse(r.stdout) as Checked[], stderr: r.stderr };
};

const records = async (domain = 'example.test'): Promise<DnsRecord[]> => {
  const r = await d.cli(['domains', 'dns', domain, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as DnsRecord[];
};

describe('vmail domains dns', () => {
  it('names every record the domain needs, each with {type, name, value, purpose}', async () => {
    const list = await records();
    const find = (type: string, name: string) => list.find((r) => r.type === type && r.name === name);
    expect(find('MX', 'example.test')?.value).toBe(`10 ${HOST}.`);
    expect(find('TXT', 'example.test')?.value).toMatch(new RegExp(`^v=spf1 a:${HOST.replace(/\./g, '\\.')} `));
    const dkim = list.find((r) => r.name.endsWith('._domainkey.example.test'));
    expect(dkim?.value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
    expect(find('TXT', '_dmarc.example.test')?.value).toMatch(/^v=DMARC1; p=none; rua=mailto:/);
    expect(find('TXT', '_dmarc.example.test')?.purpose).toMatch(/quarantine/);
    expect(find('SRV', '_pop3._tcp.example.test')?.value).toBe(`10 1 ${d.pop3Port} ${HOST}.`);
    expect(find('SRV', '_imap._tcp.example.test')?.value).toBe('0 0 0 .');
    for (const name of ['autoconfig', 'autodiscover', 'mta-sts'])
      expect(find('CNAME', `${name}.example.test`)?.value).toBe(`${HOST}.`);
    expect(find('TXT', '_mta-sts.example.test')?.value).toMatch(/^v=STSv1; id=[A-Za-z0-9]{1,32}$/);
    expect(find('TXT', '_smtp._tls.example.test')?.value).toMatch(/^v=TLSRPTv1; rua=mailto:/);
    for (const r of list) expect(Object.keys(r).sort()).toEqual(['name', 'purpose', 'type', 'value']);
  });

  it('prints zone-file lines, the DKIM key split into strings of at most 255 octets', async () => {
    const r = await d.cli(['domains', 'dns', 'example.test']);
    expect(r.code, r.stderr).toBe(0);
    const dkimLine = r.stdout.split('\n').find((l) => l.includes('._domainkey.example.test.'));
    expect(dkimLine).toMatch(/\tIN\tTXT\t"v=DKIM1; k=rsa; p=[^"]+" "[^"]+"/);
    const strings = [...(dkimLine ?? '').matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    expect(strings.length).toBeGreaterThan(1);
    for (const s of strings) expect(Buffer.byteLength(s)).toBeLessThanOrEqual(255);
    const dkim = (await records()).find((x) => x.name.includes('._domainkey.'));
    expect(strings.join('')).toBe(dkim?.value);
    expect(r.stdout).toMatch(/^example\.test\.\t3600\tIN\tMX\t10 mx\.vmail-dns\.test\.$/m);
  });

  it('refuses a domain not hosted here, and names that are not domains, with one clear line', async () => {
    for (const bad of ['other.test', '../../etc/passwd', 'a'.repeat(300), 'exa mple.test']) {
      const r = await d.cli(['domains', 'dns', bad]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });
});

describe('vmail domains check, against a real DNS server', () => {
  it('finds every record dnsmasq serves but DMARC: exactly DMARC missing, exit 1; then all ok, exit 0', async () => {
    const list = await records();
    const host = [dns.a(HOST, '127.0.0.9')]; // and so the PTR of 127.0.0.9 names it back
    const dmarc = (r: DnsRecord) => r.name.startsWith('_dmarc.');
    await server.restart([...host, ...list.filter((r) => !dmarc(r)).map(published)]);
    const first = await check();
    expect(first.code, first.stderr).toBe(1);
    expect(first.list.filter((r) => r.status !== 'ok').map((r) => `${r.status} ${r.name}`)).toEqual([
      'missing _dmarc.example.test',
    ]);
    expect(first.list.find((r) => r.type === 'PTR')).toMatchObject({ status: 'ok', found: `127.0.0.9 -> ${HOST}` });
    await server.restart([...host, ...list.map(published)]);
    const second = await check();
    expect(second.code, second.stderr).toBe(0);
    expect(second.list.every((r) => r.status === 'ok')).toBe(true);
    expect(second.list).toHaveLength(list.length + 1);
    const text = await d.cli(['domains', 'check', 'example.test']);
    expect(text.stdout).toMatch(/All \d+ records are right\./);
  });

  it('says wrong, with what it found, for an MX elsewhere and a stale DKIM key', async () => {
    const list = await records();
    const dkim = list.find((r) => r.name.includes('._domainkey.'))!;
    await server.restart([
      dns.a(HOST, '127.0.0.9'),
      dns.a('mx.elsewhere.test', '127.0.0.10'),
      ...list.filter((r) => r.type !== 'MX' && r !== dkim).map(published),
      dns.mx('example.test', 'mx.elsewhere.test', 10),
      published({ ...dkim, value: dkim.value.replace(/p=.{8}/, 'p=AAAAAAAA') }),
    ]);
    const r = await check();
    expect(r.code).toBe(1);
    const bad = r.list.filter((x) => x.status !== 'ok');
    expect(bad.map((x) => `${x.status} ${x.type} ${x.name}`).sort()).toEqual(
      ['wrong MX example.test', `wrong TXT ${dkim.name}`].sort(),
    );
    expect(bad.find((x) => x.type === 'MX')?.found).toBe('10 mx.elsewhere.test');
    const text = await d.cli(['domains', 'check', 'example.test']);
    expect(text.stdout).toMatch(/^wrong +MX example\.test/m);
    expect(text.stdout).toMatch(/found: 10 mx\.elsewhere\.test/);
  });

  it('a DNS server that is down: each record missing with the lookup failure, in bounded time', async () => {
    await server.stop();
    const started = Date.now();
    const r = await check();
    expect(r.code).toBe(1);
    expect(r.list.every((x) => x.status === 'missing')).toBe(true);
    expect(r.list[0].found).toMatch(/lookup failed|ECONNREFUSED|timeout/i);
    // Bounded: every lookup times out together, not one after another (a generous bound).
    expect(Date.now() - started).toBeLessThan(30_000);
    server = await startDns([]);
  }, 40_000);
});
