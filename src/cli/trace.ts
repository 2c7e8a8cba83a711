// `vmail trace ADDRESS`: one address's mail and logins, event by event, from the trail the
// daemon keeps (--trail-days): newest message first, one line per message's life.
import { Command } from 'commander';
import { traceLines } from '../model/trail-format.js';
import { type ClientFlags, daemonOptions, withDaemon } from './daemon-client.js';
import { json, out } from './output.js';

export function traceCommand(): Command {
  return daemonOptions(
    new Command('trace')
      .description("one address's mail, event by event: accepted, refused, delivered, forwarded, fetched, deleted")
      .argument('<ADDRESS>', 'name@domain (an account, a forward, or an address mail was refused for)')
      .option('--since <DURATION>', 'events from this long ago (2d, 12h, 30m) or this date (2026-11-01)')
      .option('--from <SENDER>', 'only messages from this envelope sender')
      .option(
        '--message-id <ID>',
        'only the message with this Message-ID (with or without <>; as stored, or as trace shows it)',
      ),
    { json: true },
  ).action(async (address: string, f: ClientFlags & { since?: string; from?: string; messageId?: string }) => {
    const params = {
      address,
      ...(f.since === undefined ? {} : { since: f.since }),
      ...(f.from === undefined ? {} : { from: f.from }),
      ...(f.messageId === undefined ? {} : { messageId: f.messageId }),
    };
    const list = await withDaemon(f, (c) => c.call('trace', params));
    if (f.json) json(list);
    else out(list.length ? traceLines(list).join('\n') : `no events for ${address}`);
  });
}
