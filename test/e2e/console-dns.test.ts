// Issue 28 item 4 in the console: on Domains, n shows the selected domain's DNS records looked
// up (as `vmail domains check`), a checklist at 80x24; r looks them up again. Against a real DNS
// server (dnsmasq on loopback, named with --resolver) serving what `domains dns` printed, all
// but DMARC, then DMARC too.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsRecord } from '../../src/model/dns-records.js';
import { type DaemonHandle, startDaemon, VMAIL, waitFor } from '../helpers/daemon.js';
import { type DnsServer, dns, startDns } from '../helpers/dns-server.js';

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const HOST = 'mx.console-dns.test';
let d: DaemonHandle;
let server: DnsServer;
let records: DnsRecord[];

/** A record as dnsmasq serves it (TXT in strings of at most 255 octets). */
function served(r: DnsRecord): string {
  if (r.type === 'MX') return dns.mx(r.name, r.value.split(' ')[1].replace(/\.$/, ''), 10);
  if (r.type === 'CNAME') return dns.cname(r.name, r.value.replace(/\.$/, ''));
  if (r.type === 'SRV') {
    const [priority, weight, port, target] = r.value.split(' ');
    return target === '.'
      ? `srv-host=${r.name}`
      : `srv-host=${r.name},${target.replace(/\.$/, '')},${port},${priority},${weight}`;
  }
  return `txt-record=${r.name},${(r.value.match(/[\s\S]{1,255}/g) ?? []).map((s) => `"${s}"`).join(',')}`;
}

beforeAll(async () => {
  server = await startDns([]);
  d = await startDaemon({ args: ['--hostname', HOST, '--resolver', server.address] });
  expect((await d.cli(['domains', 'dkim', 'example.test'])).code).toBe(0);
  records = JSON.parse((await d.cli(['domains', 'dns', 'example.test', '--json'])).stdout) as DnsRecord[];
  await server.restart([dns.a(HOST, '127.0.0.9'), ...records.filter((r) => !r.name.startsWith('_dmarc.')).map(served)]);
});

afterAll(async () => {
  await d?.stop();
  await server?.stop();
});

describe("the console checks a domain's DNS", () => {
  it('n on Domains shows the checklist; r looks again once the record is published; Esc back', async () => {
    const name = `vmail-dns-${process.pid}`;
    tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      '80',
      '-y',
      '24',
      `${process.execPath} ${VMAIL} console --socket ${d.socket}`,
    );
    const shot = () => tmux('capture-pane', '-p', '-t', name);
    const look = (text: string | RegExp) =>
      waitFor(() => {
        const s = shot();
        return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
      }, `the console to show ${text}`).catch((err) => {
        throw new Error(`${(err as Error).message}\n--- screen ---\n${shot()}`);
      });
    try {
      await look('1. POP3 Accounts');
      tmux('send-keys', '-t', name, '5');
      await look(/DOMAIN +ACCOUNTS/);
      tmux('send-keys', '-t', name, 'n');
      const first = await look(/1 of \d+ records are not right yet/);
      expect(first).toContain('DNS Check');
      expect(first).toMatch(/missing +TXT _dmarc\.example\.test/);
      expect(first).toMatch(/ok +MX example\.test/);
      // Published now: r looks again.
      await server.restart([dns.a(HOST, '127.0.0.9'), ...records.map(served)]);
      tmux('send-keys', '-t', name, 'r');
      await look(/All \d+ records are right\./);
      tmux('send-keys', '-t', name, 'Escape');
      await look(/DOMAIN +ACCOUNTS/);
    } finally {
      tmux('kill-session', '-t', name);
    }
  }, 60_000);
});
