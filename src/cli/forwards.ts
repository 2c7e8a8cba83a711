// `vmail forwards`: the forwarding addresses listed, added or changed, and removed.
import { Command } from 'commander';
import { type ClientFlags, daemonOptions, inDomain, withDaemon } from './daemon-client.js';
import { json, out } from './output.js';
import { describeQueued, forwardRows } from './tables.js';

export function forwardsCommand(): Command {
  const forwards = new Command('forwards').description('forwarding addresses: list, add or change, remove');
  daemonOptions(forwards.command('list').description('every forwarding address and where it sends mail'), {
    json: true,
    domain: true,
  }).action(async (f: ClientFlags) => {
    const list = await withDaemon(f, (c) => c.call('forwards.list', inDomain(f)));
    if (f.json) json(list);
    else out(forwardRows(list));
  });
  daemonOptions(
    forwards
      .command('add')
      .description('queue a forward, or a change of its destinations')
      .argument('<NAME[@DOMAIN]>')
      .argument('<DEST...>'),
    { domain: true },
  ).action(async (name: string, destinations: string[], f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('forwards.add', { name, destinations, ...inDomain(f) }))));
  });
  daemonOptions(forwards.command('remove').description('queue the removal of a forward').argument('<NAME[@DOMAIN]>'), {
    domain: true,
  }).action(async (name: string, f: ClientFlags) => {
    out(describeQueued(await withDaemon(f, (c) => c.call('forwards.remove', { name, ...inDomain(f) }))));
  });
  return forwards;
}
