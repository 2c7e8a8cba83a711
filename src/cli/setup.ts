// `vmail setup`: the vmail user, /var/lib/vmail, /etc/vmail/vmail.conf and a systemd unit made
// (or what it would make said, with --dry-run), and the steps left printed.
import { Command } from 'commander';
import { out, UsageError } from './output.js';

export function setupCommand(): Command {
  return new Command('setup')
    .description(
      'make the vmail user, /var/lib/vmail, /etc/vmail/vmail.conf and a systemd unit, and start it (as root)',
    )
    .requiredOption('--domain <D>', 'the first hosted domain')
    .option('--hostname <H>', "this server's name, as mail clients and other servers see it (default: the system's)")
    .option('--postmaster <ADDRESS>', "where postmaster@ the domains goes (default: root's mail, root@HOSTNAME)")
    .option('--root <DIR>', 'write under DIR instead of / (a staging tree)', '/')
    .option('--dry-run', 'say what it would do, and do nothing')
    .action(async (f: { domain: string; hostname?: string; postmaster?: string; root: string; dryRun?: boolean }) => {
      const { resolve } = await import('node:path');
      const { hostname } = await import('node:os');
      const { existsSync } = await import('node:fs');
      const { nextSteps, setup } = await import('../service/setup.js');
      const host = f.hostname ?? (hostname() || 'localhost');
      if (f.postmaster !== undefined && !/^[^\s@<>"(),;:\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}$/.test(f.postmaster))
        throw new UsageError(`--postmaster ${JSON.stringify(f.postmaster)}: write an address like root@${host}`);
      const opts = {
        domain: f.domain,
        hostname: host,
        postmaster: f.postmaster ?? `root@${host}`,
        root: resolve(f.root),
        dryRun: Boolean(f.dryRun),
      };
      setup(opts, (s) => out(`  ${s.outcome.padEnd(12)} ${s.what}`));
      for (const line of nextSteps(opts, opts.root === '/' && existsSync('/run/systemd/system'))) out(line);
    });
}
