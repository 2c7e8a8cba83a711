// Every DNS record a hosted domain needs for mail to reach it, leave it trusted and set mail
// clients up by themselves: MX, SPF, DKIM, DMARC, the SRV records of RFC 6186 and 8314, the
// autoconfig and autodiscover names, MTA-STS and TLS-RPT. `vmail domains dns` prints them to
// publish; `vmail domains check` (src/service/dns-check.ts) looks each one up. Pure.
import { visible } from './trail-format.js';

/** One record as `domains dns --json` gives it. */
export interface DnsRecord {
  /** PTR only in `domains check`: the reverse DNS of this server, set where its address is. */
  type: 'MX' | 'TXT' | 'SRV' | 'CNAME' | 'PTR';
  /** The owner name, without the final dot. */
  name: string;
  /** The data as a zone file writes it (a TXT's text unquoted, whole; zoneLine splits it). */
  value: string;
  /** What the record is for, in a sentence. */
  purpose: string;
}

/** A record with what a lookup found (`domains check --json` items). */
export interface CheckedRecord extends DnsRecord {
  status: 'ok' | 'missing' | 'wrong';
  /** What DNS answered, as text ('' when nothing). */
  found: string;
}

/** What the records are made from: this server's name, its listeners, the domain's DKIM key. */
export interface RecordSource {
  hostname: string;
  /** The ports the daemon listens on (null: that listener is off). */
  ports: { pop3s: number | null; pop3: number | null; submissions: number | null; submission: number | null };
  /** The domain's DKIM records (selector._domainkey name and its value), one per signing key. */
  dkim: { name: string; value: string }[];
  /** Where DMARC and TLS reports go (default postmaster@DOMAIN). */
  reports?: string;
}

/** The MTA-STS policy's id: changes whenever the policy does (it names the MX host). */
export function mtaStsId(hostname: string): string {
  let h = 0x811c9dc5;
  for (const c of `mx:${hostname.toLowerCase()}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return `vmail${h.toString(16).padStart(8, '0')}`;
}

/**
 * The MTA-STS policy vmail serves for its domains at https://mta-sts.DOMAIN (RFC 8461 section
 * 3.2): testing to start, naming this server as the MX. Its id in `_mta-sts` follows it.
 */
export function mtaStsPolicy(hostname: string): string {
  return `version: STSv1\r\nmode: testing\r\nmx: ${hostname.toLowerCase()}\r\nmax_age: 86400\r\n`;
}

/** Every record `domain` needs, in the order an admin publishes them. */
export function domainRecords(domain: string, s: RecordSource): DnsRecord[] {
  const host = s.hostname.toLowerCase();
  const reports = s.reports ?? `postmaster@${domain}`;
  const out: DnsRecord[] = [
    { type: 'MX', name: domain, value: `10 ${host}.`, purpose: `mail for ${domain} comes to this server` },
    {
      type: 'TXT',
      name: domain,
      value: `v=spf1 a:${host} mx ~all`,
      purpose: `SPF: this server (and the domain's MX) may send as ${domain}; others soft-fail`,
    },
  ];
  for (const key of s.dkim)
    out.push({
      type: 'TXT',
      name: key.name,
      value: key.value,
      purpose: `DKIM: the public key (${/k=ed25519/.test(key.value) ? 'ed25519' : 'RSA'}) that verifies the mail this server signs`,
    });
  out.push({
    type: 'TXT',
    name: `_dmarc.${domain}`,
    value: `v=DMARC1; p=none; rua=mailto:${reports}`,
    purpose:
      'DMARC: report only (p=none) to start; once the reports show only your own mail passing, move to p=quarantine, then p=reject',
  });
  const srv = (service: string, priority: number, port: number | null, what: string) => {
    if (port !== null)
      out.push({
        type: 'SRV',
        name: `${service}._tcp.${domain}`,
        value: `${priority} 1 ${port} ${host}.`,
        purpose: what,
      });
  };
  srv('_pop3s', 0, s.ports.pop3s, 'RFC 6186/8314: POP3 over TLS, for mail clients that look it up');
  srv('_pop3', 10, s.ports.pop3, 'RFC 6186: POP3 with STARTTLS');
  srv('_submissions', 0, s.ports.submissions, 'RFC 8314: sending over TLS');
  srv('_submission', 10, s.ports.submission, 'RFC 6186: sending with STARTTLS');
  out.push(
    {
      type: 'SRV',
      name: `_imap._tcp.${domain}`,
      value: '0 0 0 .',
      purpose: 'RFC 6186: no IMAP here (a client offers POP3 instead of guessing)',
    },
    {
      type: 'CNAME',
      name: `autoconfig.${domain}`,
      value: `${host}.`,
      purpose: "Thunderbird's autoconfig, answered by this server on --http",
    },
    {
      type: 'CNAME',
      name: `autodiscover.${domain}`,
      value: `${host}.`,
      purpose: "Outlook's autodiscover, answered by this server",
    },
    {
      type: 'CNAME',
      name: `mta-sts.${domain}`,
      value: `${host}.`,
      purpose: 'MTA-STS: where senders fetch the policy (https, once this server has a certificate for the name)',
    },
    {
      type: 'TXT',
      name: `_mta-sts.${domain}`,
      value: `v=STSv1; id=${mtaStsId(host)}`,
      purpose: 'MTA-STS: senders must use TLS to this server (the policy starts in testing mode)',
    },
    {
      type: 'TXT',
      name: `_smtp._tls.${domain}`,
      value: `v=TLSRPTv1; rua=mailto:${reports}`,
      purpose: 'TLS-RPT: where senders report TLS failures',
    },
  );
  return out;
}

/** A TXT value as zone file strings: each at most 255 octets (RFC 1035), quotes escaped. */
export function txtStrings(value: string): string[] {
  // The values made here are ASCII: a character is an octet.
  return (value.match(/[\s\S]{1,255}/g) ?? ['']).map((p) => `"${p.replace(/["\\]/g, '\\$&')}"`);
}

/** One record as a zone file line, ready to paste. */
export function zoneLine(r: DnsRecord): string {
  const value = r.type === 'TXT' ? txtStrings(r.value).join(' ') : r.value;
  return `${r.name}.\t3600\tIN\t${r.type}\t${value}`;
}

/** The checklist `domains check` prints and the console shows: a line per record, what was found under any not ok. */
export function checkLines(checked: readonly CheckedRecord[]): string[] {
  const lines: string[] = [];
  const width = Math.max(...checked.map((r) => r.name.length + r.type.length + 1));
  for (const r of checked) {
    lines.push(`${r.status.padEnd(8)}${`${r.type} ${r.name}`.padEnd(width)}  ${r.purpose}`);
    if (r.status !== 'ok') {
      lines.push(`${' '.repeat(8)}want:  ${r.value}`);
      // What DNS answered is whoever runs the domain's DNS (or spoofs it): its control bytes made visible.
      lines.push(`${' '.repeat(8)}found: ${visible(r.found) || 'nothing'}`);
    }
  }
  const bad = checked.filter((r) => r.status !== 'ok').length;
  lines.push(
    '',
    bad
      ? `${bad} of ${checked.length} records are not right yet (vmail domains dns prints them).`
      : `All ${checked.length} records are right.`,
  );
  return lines;
}
