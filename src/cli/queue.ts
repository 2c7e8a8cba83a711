// `vmail queue`: the forwarded mail waiting for the relay listed, and one message tried again now.
import { Command } from 'commander';
import { type ClientFlags, daemonOptions, withDaemon } from './daemon-client.js';
import { json, out } from './output.js';
import { queueRows } from './tables.js';

export function queueCommand(): Command {
  const queue = new Command('queue').description('outgoing mail (forwarded, bounces) waiting to leave');
  daemonOptions(queue.command('list').description('every queued message with its next try and last answer'), {
    json: true,
  }).action(async (f: ClientFlags) => {
    const list = await withDaemon(f, (c) => c.call('queue.list'));
    if (f.json) json(list);
    else out(queueRows(list));
  });
  daemonOptions(queue.command('retry').description('try a queued message again now').argument('<ID>')).action(
    async (id: string, f: ClientFlags) => {
      const q = await withDaemon(f, (c) => c.call('queue.retry', { id }));
      out(`Retrying message ${id} now${q.node ? ` (daemon ${q.node} sends it)` : ''}.`);
    },
  );
  return queue;
}
