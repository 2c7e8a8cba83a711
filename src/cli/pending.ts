// `vmail pending`: the changes waiting for the next apply listed, one cancelled, or all applied
// now (exit 1 when one fails).
import { Command } from 'commander';
import { changeWord } from '../model/format.js';
import { type ClientFlags, daemonOptions, inDomain, withDaemon } from './daemon-client.js';
import { EXIT, json, out } from './output.js';
import { pendingRows } from './tables.js';

export function pendingCommand(): Command {
  const pending = new Command('pending').description('changes waiting for the next apply');
  daemonOptions(pending.command('list').description('every pending change with when it applies'), {
    json: true,
    domain: true,
  }).action(async (f: ClientFlags) => {
    const list = await withDaemon(f, (c) => c.call('pending.list', inDomain(f)));
    if (f.json) json(list);
    else out(pendingRows(list));
  });
  daemonOptions(
    pending
      .command('cancel')
      .description('cancel one pending change (every part of it: see pending list), or one part with --part')
      .argument('<ID>')
      .option('--part <PART>', 'cancel only this part of the change (password, quota, suspend, resume, catchall)'),
  ).action(async (id: string, f: ClientFlags & { part?: string }) => {
    const p = await withDaemon(f, (c) =>
      c.call('pending.cancel', { id, ...(f.part === undefined ? {} : { part: f.part }) }),
    );
    const kept = p.kept ? `; the ${changeWord(p.kept)} stays pending` : '';
    out(`Cancelled: ${changeWord(p)} ${p.address} [id ${p.id}]${kept}`);
  });
  daemonOptions(
    pending.command('apply').description('apply the pending changes now, not on the hour (exit 1 if one failed)'),
    {
      json: true,
      domain: true,
    },
  ).action(async (f: ClientFlags) => {
    const r = await withDaemon(f, (c) => c.call('pending.apply', inDomain(f)));
    if (r.failed.length) process.exitCode = EXIT.failure;
    if (f.json) return json(r);
    const left = r.left ? ` ${r.left} change(s) of other domains stay pending.` : '';
    out(`Applied ${r.applied.length} change(s)${f.domain ? ` of ${f.domain}` : ''}.${left}`);
    // A change that failed is a failure of the command: each on stderr, and exit 1.
    for (const failed of r.failed)
      process.stderr.write(
        `vmail: change ${failed.id} of ${failed.address} not applied: ${failed.error.split('\n')[0]}\n`,
      );
  });
  return pending;
}
