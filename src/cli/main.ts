// The `vmail` command, on commander: the program made of one command group per file in this
// folder, each command and subcommand with --help, and every error one line on stderr. The exit
// statuses are in output.ts. bin/vmail.js runs `main`.
import { Command, CommanderError } from 'commander';
import { InputError } from '../model/errors.js';
import { ConfigError } from '../service/settings.js';
import { VERSION } from '../support/package-root.js';
import { accountsCommand } from './accounts.js';
import { logCommand } from './audit-log.js';
import { backupCommand, restoreCommand } from './backup.js';
import { completeCommand } from './complete-words.js';
import { configCommand } from './config.js';
import { consoleCommands } from './console.js';
import { daemonCommand } from './daemon.js';
import { domainsCommand } from './domains.js';
import { exportCommand } from './export.js';
import { forwardsCommand } from './forwards.js';
import { importCommand } from './import.js';
import { EXIT, UsageError } from './output.js';
import { pendingCommand } from './pending.js';
import { queueCommand } from './queue.js';
import { setupCommand } from './setup.js';
import { statusCommand } from './status.js';
import { storeCommand } from './store.js';
import { traceCommand } from './trace.js';

export function program(): Command {
  const p = new Command('vmail')
    .description('mail for virtual domains: POP3 accounts, forwarding, hourly-applied changes, and a console')
    .version(`vmail ${VERSION}`, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) =>
        write(
          `vmail: ${text
            .replace(/^error: /, '')
            .replace(/\s*\n\s*/g, ' ')
            .trim()} (see vmail --help)\n`,
        ),
    });
  for (const cmd of [
    daemonCommand(),
    ...consoleCommands(),
    statusCommand(),
    domainsCommand(),
    accountsCommand(),
    forwardsCommand(),
    pendingCommand(),
    queueCommand(),
    logCommand(),
    traceCommand(),
    importCommand(),
    exportCommand(),
    storeCommand(),
    backupCommand(),
    restoreCommand(),
    configCommand(),
    setupCommand(),
  ]) {
    p.addCommand(cmd);
  }
  // What shell completion asks the daemon for; not for people, so not in --help.
  p.addCommand(completeCommand(), { hidden: true });
  // Subcommands answer usage errors, --help and --version as the program does.
  const inherit = (cmd: Command) => {
    cmd.exitOverride().configureOutput(p.configureOutput()).showSuggestionAfterError(true);
    for (const sub of cmd.commands) inherit(sub);
  };
  for (const cmd of p.commands) inherit(cmd);
  return p;
}

export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`vmail status | head -1`) ends the output, not with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`vmail: cannot write the output: ${err.message}\n`);
    process.exit(err.code === 'EPIPE' ? EXIT.ok : EXIT.failure);
  });
  const p = program();
  if (argv.length === 0) {
    process.stderr.write(p.helpInformation());
    return EXIT.usage;
  }
  try {
    await p.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return EXIT.ok;
      // commander has printed the one line already.
      return EXIT.usage;
    }
    const { UnreachableError, RpcError } = await import('../control/client.js');
    const e = err as Error;
    process.stderr.write(`vmail: ${(e.message || String(e)).split('\n')[0]}\n`);
    if (err instanceof UnreachableError) return EXIT.unreachable;
    if (err instanceof ConfigError) return EXIT.config;
    if (err instanceof UsageError) return EXIT.usage;
    if (err instanceof InputError || err instanceof RpcError) return EXIT.failure;
    return EXIT.failure;
  }
}
