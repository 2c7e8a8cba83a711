// `vmail __complete domains|accounts|forwards [PREFIX]`: the words shell completion offers,
// asked of the daemon (hidden from --help). Quick and silent: a daemon that is down, slow or
// refuses the caller gives no words and exit 0, so a TAB never prints an error into the line.
import { Command } from 'commander';
import { unicodeDomain } from '../model/names.js';
import { type ClientFlags, daemonOptions, withDaemon } from './daemon-client.js';

/** How long a TAB may wait for the daemon. */
const WAIT_MS = 1500;
/** At most this many accounts or forwards are offered (a page of the daemon's list). */
const MOST = 1000;

async function words(what: string, prefix: string, flags: ClientFlags): Promise<string[]> {
  return withDaemon(flags, async (c) => {
    if (what === 'domains') {
      // Both forms of an international domain: bü<TAB> and xn--<TAB> each find it.
      const names = (await c.call('domains.list')).map((d) => d.domain);
      return [...new Set(names.flatMap((d) => [d, unicodeDomain(d)]))];
    }
    if (what === 'accounts')
      return (await c.call('accounts.list', { limit: MOST })).map((a) => a.address).filter((a) => a.startsWith(prefix));
    if (what === 'forwards')
      return (await c.call('forwards.list'))
        .map((f) => f.address)
        .filter((a) => a.startsWith(prefix))
        .slice(0, MOST);
    return [];
  });
}

export function completeCommand(): Command {
  return daemonOptions(new Command('__complete'))
    .argument('<WHAT>', 'domains, accounts or forwards')
    .argument('[PREFIX]', 'what has been typed')
    .action(async (what: string, prefix: string | undefined, flags: ClientFlags) => {
      const timeout = new Promise<string[]>((resolve) => setTimeout(() => resolve([]), WAIT_MS).unref());
      const found = await Promise.race([
        words(what, prefix ?? '', flags).catch(() => {
          // No daemon, no access, or a refusal: completion offers nothing rather than an error.
          return [] as string[];
        }),
        timeout,
      ]);
      if (found.length) process.stdout.write(`${found.join('\n')}\n`);
    });
}
