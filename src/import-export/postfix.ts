// The maps a Postfix needs to deliver to the Maildirs vmail serves (`vmail export postfix`):
// hosted domains, mailboxes, aliases with catch-alls, and the main.cf lines that name them.
import { join } from 'node:path';
import type { AccountView, DomainView, ForwardView } from '../control/protocol.js';

/** What `vmail export postfix` writes: each file's name and text. */
export function postfixMaps(
  dataDir: string,
  dir: string,
  domains: readonly DomainView[],
  accounts: readonly AccountView[],
  forwards: readonly ForwardView[],
): { name: string; text: string }[] {
  const hosted = domains.filter((d) => d.hosted);
  const mailbox = accounts.filter((a) => a.active && !(a.suspended && a.refuseMail));
  const withCatchall = new Set(hosted.filter((d) => d.catchall).map((d) => d.domain));
  const line = (k: string, v: string) => `${k} ${v}\n`;
  const alias = [
    ...forwards.filter((f) => f.active).map((f) => line(f.address, f.destinations.join(', '))),
    // Postfix's @domain entry would catch the domain's mailboxes too: each names itself first.
    ...mailbox.filter((a) => withCatchall.has(a.domain)).map((a) => line(a.address, a.address)),
    ...hosted.filter((d) => d.catchall).map((d) => line(`@${d.domain}`, `${d.catchall}@${d.domain}`)),
  ];
  const map = (name: string) => `hash:${join(dir, name)}`;
  return [
    { name: 'virtual_mailbox_domains', text: hosted.map((d) => line(d.domain, 'OK')).join('') },
    { name: 'virtual_mailbox_maps', text: mailbox.map((a) => line(a.address, `${a.domain}/${a.name}/`)).join('') },
    { name: 'virtual_alias_maps', text: alias.join('') },
    {
      name: 'main.cf.vmail',
      text: [
        '# Settings for a Postfix that delivers to the Maildirs vmail serves (postconf -e each line,',
        '# or paste into main.cf); run postmap on the three maps after each export.',
        `virtual_mailbox_base = ${join(dataDir, 'mail')}`,
        `virtual_mailbox_domains = ${map('virtual_mailbox_domains')}`,
        `virtual_mailbox_maps = ${map('virtual_mailbox_maps')}`,
        `virtual_alias_maps = ${map('virtual_alias_maps')}`,
        '',
      ].join('\n'),
    },
  ];
}
