// Issue 28 item 4 in the console: on Domains, n shows the selected domain's DNS records looked
// up (as `vmail domains check`), a checklist at 80x24; r looks them up again. Against a real DNS
// server (dnsmasq on loopback, named with --resolver) serving what `domains dns` printed, all
// but DMARC, then DMARC too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsRecord } from '../../src/model/dns-records.js';
import { type DaemonHandle, startDaemon, VMAIL } from '../helpers/daemon.js';
import { type DnsServer, dns, published, startDns } from '../helpers/dns-server.js';
import { terminal } from '../helpers/tmux.js';

const HOST = 'mx.console-dns.test';
let d: DaemonHandle;
let server: DnsServer;
let records: DnsRecord[];

beforeAll(async () => {
  server = await startDns([]);
  d = await startDaemon({ args: ['--hostname', HOST, '--resolver', server.address] });
  expect((await d.cli(['domains', 'dkim', 'example.test'])).code).toBe(0);
  records = JSON.parse((await d.cli(['domains', 'dns', 'example.test', '--json'])).stdout) as DnsRecord[];
  await server.restart([
    dns.a(HOST, '127.0.0.9'),
    ...records.filter((r) => !r.name.startsWith('_dmarc.')).map(published),
  ]);
});

afterAll(async () => {
  await d?.stop();
  await server?.stop();
});

describe("the console checks a domain's DNS", () => {
  it('n on Domains shows the checklist; r looks again once the record is published; Esc back', async () => {
    const c = terminal(`${process.execPath} ${VMAIL} console --socket ${d.socket}`);
    try {
      await c.look('1. POP3 Accounts');
      c.send('5');
      await c.look(/DOMAIN +ACCOUNTS/);
      c.send('n');
      const first = await c.look(/1 of \d+ records are not right yet/);
      expect(first).toContain('DNS Check');
      expect(first).toMatch(/missing +TXT _dmarc\.example\.test/);
      expect(first).toMatch(/ok +MX example\.test/);
      // Published now: r looks again.
      await server.restart([dns.a(HOST, '127.0.0.9'), ...records.map(published)]);
      c.send('r');
      await c.look(/All \d+ records are right\./);
      c.send('Escape');
      await c.look(/DOMAIN +ACCOUNTS/);
    } finally {
      c.close();
    }
  }, 60_000);
});
