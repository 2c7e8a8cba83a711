// `vmail console` and `vmail up`: the full-screen console on a running daemon, or on a demo
// daemon started for it (and stopped after) when none answers.
import { Command } from 'commander';
import { InputError } from '../model/errors.js';
import { socketPathFrom } from '../service/control-socket.js';
import { type ClientFlags, daemonOptions } from './daemon-client.js';

export function consoleCommands(): Command[] {
  const run = async (command: 'console' | 'up', f: ClientFlags) => {
    // React's development build checks every element and is several times slower.
    process.env.NODE_ENV ??= 'production';
    // Ink draws only a final frame when it thinks it runs in CI; the console runs on a
    // terminal (it checks), so a CI variable inherited by the shell must not blank it.
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
    // The bundle npm run build makes of screens/run.ts (see screens/bundle.ts): dist/console/run.js.
    const bundle = '../../console/run.js';
    const { runConsole } = (await import(bundle)) as typeof import('../../screens/run.js');
    if (command === 'console') return runConsole(socketPathFrom(f));
    if (!process.stdout.isTTY || !process.stdin.isTTY)
      throw new InputError('the console needs a terminal: run it in an interactive shell (over SSH: ssh -t)');
    const { resolve } = await import('node:path');
    const { startDemo } = await import('../daemon/demo.js');
    // Not $VMAIL_DATA_DIR: on a server that is the real service's data, never the demo's.
    const dataDir = resolve(f.dataDir ?? '.vmail-demo');
    process.stderr.write(`vmail: starting the demo daemon in ${dataDir} ...\n`);
    const demo = await startDemo(dataDir, f.socket ? resolve(f.socket) : undefined);
    return runConsole(demo.socketPath, async () => {
      if (!demo.started) return;
      process.stderr.write('vmail: stopping the demo daemon\n');
      await demo.stop();
    });
  };
  return [
    daemonOptions(new Command('console').description('the full-screen console')).action(async (f: ClientFlags) => {
      process.exitCode = await run('console', f);
    }),
    new Command('up')
      .description('start a demo daemon (if none answers) and open the console on it')
      .option('--data-dir <DIR>', 'the demo data (default: ./.vmail-demo)')
      .option('--socket <PATH>', "the demo daemon's socket (default: DATA_DIR/control.sock)")
      .action(async (f: ClientFlags) => {
        process.exitCode = await run('up', f);
      }),
  ];
}
