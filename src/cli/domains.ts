// `vmail domains`: the hosted domains listed, added, removed, and their quota, catch-all and
// DKIM key changed; the DNS records a domain needs, printed to publish and looked up.
import { Command } from 'commander';
import { clientSettingsLines } from '../model/client-settings.js';
import { checkLines, zoneLine } from '../model/dns-records.js';
import { InputError } from '../model/errors.js';
import { type ClientFlags, daemonOptions, withDaemon } from './daemon-client.js';
import { EXIT, json, out } from './output.js';
import { describeQueued, domainRows } from './tables.js';

export function domainsCommand(): Command {
  const domains = new Command('domains').description('hosted domains: list, add, remove, quota, catch-all, DKIM key');
  daemonOptions(
    domains.command('list').description('every hosted domain with its accounts, mail and pending changes'),
    {
      json: true,
    },
  ).action(async (f: ClientFlags) => {
    const list = await withDaemon(f, (c) => c.call('domains.list'));
    if (f.json) json(list);
    else out(domainRows(list));
  });
  daemonOptions(domains.command('add').description('queue a new hosted domain').argument('<DOMAIN>')).action(
    async (domain: string, f: ClientFlags) => {
      out(describeQueued(await withDaemon(f, (c) => c.call('domains.add', { domain }))));
    },
  );
  daemonOptions(
    domains
      .command('remove')
      .description('queue the removal of a domain: its mail is refused once applied')
      .argument('<DOMAIN>')
      .option('--with-accounts', 'also remove its accounts (their mail is archived) and forwards'),
  ).action(async (domain: string, f: ClientFlags & { withAccounts?: boolean }) => {
    const params = f.withAccounts ? { domain, withAccounts: true } : { domain };
    const r = await withDaemon(f, (c) => c.call('domains.remove', params));
    const extra =
      'queued' in r && f.withAccounts ? ' Its accounts and forwards go with it; their mail is archived.' : '';
    out(`${describeQueued(r)}${extra}`);
  });
  daemonOptions(
    domains
      .command('dkim')
      .description("show the DKIM key that signs a domain's bounces, making one if it has none; print its DNS record")
      .argument('<DOMAIN>')
      .option('--selector <S>', 'make a new key under this selector (key rotation); it signs from now on')
      .option('--algorithm <A>', 'rsa (default) or ed25519: an ed25519 key adds a second signature (RFC 8463)')
      .option('--ed25519', 'the same as --algorithm ed25519'),
    { json: true },
  ).action(async (domain: string, f: ClientFlags & { selector?: string; algorithm?: string; ed25519?: boolean }) => {
    const algorithm = f.ed25519 ? 'ed25519' : f.algorithm;
    const params = {
      domain,
      ...(f.selector === undefined ? {} : { selector: f.selector }),
      ...(algorithm === undefined ? {} : { algorithm }),
    };
    const k = await withDaemon(f, (c) => c.call('domains.dkim', params));
    if (f.json) return json(k);
    out(
      `${k.created ? 'Made a new DKIM key' : 'The DKIM key'} (${k.algorithm}) for ${k.domain}, selector ${k.selector}. Publish this TXT record in the domain's DNS:`,
    );
    out('');
    out(`  ${k.zone}`);
    out('');
    out(`Check it once published: dig +short TXT ${k.name}`);
  });
  daemonOptions(
    domains
      .command('quota')
      .description('queue a change of the quota new accounts of a domain get')
      .argument('<DOMAIN>')
      .argument('<SIZE>', 'like 25M or 2G, or none')
      .option('--messages <N>', 'also limit the number of messages'),
  ).action(async (domain: string, quota: string, f: ClientFlags & { messages?: string }) => {
    const params = { domain, quota, ...(f.messages === undefined ? {} : { messages: f.messages }) };
    out(describeQueued(await withDaemon(f, (c) => c.call('domains.quota', params))));
  });
  daemonOptions(
    domains
      .command('catchall')
      .description("queue a change of where mail for a domain's unknown names goes")
      .argument('<DOMAIN>')
      .argument('<TARGET>', 'an account or forward name of the domain, or none (refuse them: 550 5.1.1)'),
  ).action(async (domain: string, target: string, f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('domains.catchall', { domain, target }))));
  });
  daemonOptions(
    domains
      .command('settings')
      .description("what a domain's owners enter in a mail client: host, ports, user name (the console's page)")
      .argument('<DOMAIN>'),
  ).action(async (domain: string, f: ClientFlags) => {
    const status = await withDaemon(f, (c) => c.call('status'));
    const name = domain.trim().toLowerCase();
    if (!status.domains.includes(name)) throw new InputError(`${name} is not hosted here (vmail domains list)`);
    out(clientSettingsLines(name, status).join('\n'));
  });
  dnsCommands(domains);
  return domains;
}

/** `domains dns` and `domains check`. */
function dnsCommands(domains: Command): void {
  daemonOptions(
    domains
      .command('dns')
      .description(
        'every DNS record a domain needs (MX, SPF, DKIM, DMARC, SRV, autoconfig, MTA-STS, TLS-RPT), ready to paste',
      )
      .argument('<DOMAIN>'),
    { json: true },
  ).action(async (domain: string, f: ClientFlags) => {
    const records = await withDaemon(f, (c) => c.call('domains.dns', { domain }));
    if (f.json) return json(records);
    out(`; DNS records for ${records[0]?.name ?? domain}: paste into its zone (or your DNS host's panel).`);
    if (!records.some((r) => r.name.includes('._domainkey.')))
      out(`; No DKIM key yet: vmail domains dkim ${domain} makes one; then run this again.`);
    for (const r of records) out(`\n; ${r.purpose}\n${zoneLine(r)}`);
  });
  daemonOptions(
    domains
      .command('check')
      .description(
        'look up each record `domains dns` names: ok, missing or wrong (exit 1 unless all ok); and reverse DNS',
      )
      .argument('<DOMAIN>'),
    { json: true },
  ).action(async (domain: string, f: ClientFlags) => {
    const checked = await withDaemon(f, (c) => c.call('domains.check', { domain }));
    if (f.json) json(checked);
    else out(checkLines(checked).join('\n'));
    if (checked.some((r) => r.status !== 'ok')) process.exitCode = EXIT.failure;
  });
}
