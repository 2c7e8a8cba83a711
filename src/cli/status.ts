// `vmail status`: what the daemon hosts, listens on and waits for, its nodes, its forward queue
// and its spam filter, with what needs attention.
import { Command } from 'commander';
import { whenApplies } from '../model/format.js';
import { type ClientFlags, daemonOptions, withDaemon } from './daemon-client.js';
import { json, out } from './output.js';

export function statusCommand(): Command {
  return daemonOptions(new Command('status').description('what the daemon hosts, listens on, and waits for'), {
    json: true,
  }).action(async (f: ClientFlags) => {
    const s = await withDaemon(f, (c) => c.call('status'));
    if (f.json) return json(s);
    out(`vmail ${s.version}: ${s.domains.join(', ')}`);
    out(
      `  ${s.accounts} accounts, ${s.forwards} forwards, ${s.pending} pending change(s); next apply ${whenApplies(s.nextApplyAt).replace('applies at ', '')}`,
    );
    out(`  POP3 port ${s.pop3.port ?? '-'}, SMTP port ${s.smtp.port ?? '-'}, data in ${s.dataDir}`);
    if (s.nodes) {
      const alive = s.nodes.filter((n) => n.alive).length;
      out(`  nodes: ${alive} of ${s.nodes.length} alive (this one: ${s.node})`);
      for (const n of s.nodes)
        out(
          `    ${n.id}  ${n.host}  ${n.version}  ${n.alive ? 'alive' : `gone (last seen ${n.seenAt})`}${n.applyLease ? '  apply lease' : ''}`,
        );
    }
    out(`  forward queue: ${s.queue.messages} message(s)${s.relay ? `, relay ${s.relay}` : ', no relay'}`);
    if (s.queue.problem) out(`  attention: ${s.queue.problem}`);
    const sf = s.spamFilter;
    out(
      sf
        ? `  spam filter: rspamd at ${sf.url} ${sf.state}${sf.lastError ? ` (${sf.lastError})` : ''}; ${sf.checked} checked, ${sf.rejected} rejected, ${sf.deferred} deferred${sf.unchecked ? `, ${sf.unchecked} accepted unchecked` : ''}; when down: ${sf.fail}`
        : '  spam filter: none (see --rspamd)',
    );
    if (s.lastApplyError) out(`  last apply: ${s.lastApplyError}`);
    if (s.storeProblem) out(`  attention: ${s.storeProblem}`);
  });
}
