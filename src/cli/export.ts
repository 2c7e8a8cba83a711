// `vmail export`: accounts and mail for other servers: a Dovecot passwd-file, dovecot-uidlist
// files in the Maildirs, and Postfix's maps.
import { Command } from 'commander';
import { type ClientFlags, daemonOptions, inDomain, withDaemon } from './daemon-client.js';
import { out } from './output.js';

export function exportCommand(): Command {
  const exp = new Command('export').description('accounts and mail for other servers: Dovecot, Postfix');
  daemonOptions(
    exp
      .command('dovecot-passwd')
      .description('a passwd-file Dovecot accepts as it is: each account and its password hash'),
    { domain: true },
  ).action(async (f: ClientFlags) => {
    const rows = await withDaemon(f, (c) => c.call('export.passwd', inDomain(f)));
    for (const r of rows)
      out(
        r.passwordHash.startsWith('{')
          ? `${r.address}:${r.passwordHash}::::::`
          : `# ${r.address}: an older vmail hash (scrypt) Dovecot cannot check; it becomes {ARGON2ID} at the account's next login`,
      );
  });
  daemonOptions(
    exp
      .command('dovecot-uidlists')
      .description("write a dovecot-uidlist into each Maildir, so Dovecot serves vmail's UIDLs unchanged"),
    { domain: true },
  ).action(async (f: ClientFlags) => {
    const r = await withDaemon(f, (c) => c.call('export.uidlists', inDomain(f)));
    out(`Wrote dovecot-uidlist in ${r.maildirs} Maildir(s), listing ${r.messages} message(s).`);
  });
  daemonOptions(
    exp
      .command('postfix')
      .description(
        'virtual_mailbox_domains, virtual_mailbox_maps and virtual_alias_maps for postmap, and main.cf lines',
      )
      .argument('<DIR>'),
  ).action(async (dir: string, f: ClientFlags) => {
    const { mkdir } = await import('node:fs/promises');
    const { writeAtomic } = await import('../support/durable.js');
    const { join, resolve } = await import('node:path');
    const { postfixMaps } = await import('../import-export/postfix.js');
    const [status, domains, accounts, forwards] = await withDaemon(f, (c) =>
      Promise.all([c.call('status'), c.call('domains.list'), c.allAccounts(), c.call('forwards.list')]),
    );
    const to = resolve(dir);
    await mkdir(to, { recursive: true });
    for (const file of postfixMaps(status.dataDir, to, domains, accounts, forwards)) {
      await writeAtomic(join(to, file.name), file.text, { mode: 0o666 });
      out(`Wrote ${join(to, file.name)}`);
    }
    out(
      `Next: postmap ${['virtual_mailbox_domains', 'virtual_mailbox_maps', 'virtual_alias_maps'].map((m) => join(to, m)).join(' ')}`,
    );
  });
  return exp;
}
