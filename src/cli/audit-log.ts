// `vmail log`: who changed what and when, from the daemon's audit log, picked by time, user or
// address.
import { Command } from 'commander';
import { type ClientFlags, daemonOptions, withDaemon } from './daemon-client.js';
import { json, out, UsageError } from './output.js';
import { logRows } from './tables.js';

export function logCommand(): Command {
  return daemonOptions(
    new Command('log')
      .description('who changed what and when: every request that changed something, and every change applied')
      .option('--since <WHEN>', 'entries from this long ago (2d, 12h, 30m) or this date (2026-11-01)')
      .option('--user <USER>', "only this user's requests (a name or a uid)")
      .option('--address <NAME@DOMAIN>', 'only those about this account or forward (and its domain)')
      .option('--limit <N>', 'at most this many, the newest (default 1000)'),
    { json: true },
  ).action(async (f: ClientFlags & { since?: string; user?: string; address?: string; limit?: string }) => {
    if (f.limit !== undefined && !/^[1-9]\d{0,5}$/.test(f.limit))
      throw new UsageError(`--limit ${JSON.stringify(f.limit)}: write a whole number from 1`);
    const params = {
      ...(f.since === undefined ? {} : { since: f.since }),
      ...(f.user === undefined ? {} : { user: f.user }),
      ...(f.address === undefined ? {} : { address: f.address }),
      ...(f.limit === undefined ? {} : { limit: Number(f.limit) }),
    };
    const list = await withDaemon(f, (c) => c.call('log.list', params));
    if (f.json) json(list);
    else out(logRows(list));
  });
}
