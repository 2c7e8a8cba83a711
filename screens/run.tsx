// `vmail console` and `vmail up`: puts the terminal in the alternate screen, renders the app,
// and puts everything back on exit, Ctrl-C, a signal or a crash.
import React from 'react';
import { render } from 'ink';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { socketPathFrom } from '../src/config.js';
import { InputError } from '../src/model/errors.js';
import { App } from './app.js';
import { DaemonSession } from './daemon-session.js';
import { pacedStdin } from './paced-stdin.js';

/**
 * Ink's render options for the console. Ink holds back a frame that follows the last one too
 * closely; at 120 frames a second a key that lands just after a countdown tick waits at most
 * 8 ms, so the key's own frame still comes within one 60 Hz frame. Frames are only drawn when
 * something changed, so the limit costs nothing while idle.
 */
export const RENDER_OPTIONS = { maxFps: 120, exitOnCtrlC: true, patchConsole: true } as const;

const ENTER_ALT = '\u001b[?1049h\u001b[H';
const LEAVE_ALT = '\u001b[?25h\u001b[?1049l';

export async function runConsole(command: 'console' | 'up', args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { socket: { type: 'string' }, 'data-dir': { type: 'string' } }, strict: true }));
  } catch (err) {
    throw new InputError(`${(err as Error).message.split('\n')[0]} (see vmail --help)`);
  }
  if (!process.stdout.isTTY || !process.stdin.isTTY) throw new InputError('the console needs a terminal: run it in an interactive shell (over SSH: ssh -t)');

  let demo: { socketPath: string; stop(): Promise<void>; started: boolean } | null = null;
  let socketPath: string;
  if (command === 'up') {
    const { startDemo } = await import('../src/daemon/demo.js');
    const dataDir = resolve(values['data-dir'] ?? process.env.VMAIL_DATA_DIR ?? '.vmail-demo');
    process.stderr.write(`vmail: starting the demo daemon in ${dataDir} ...\n`);
    demo = await startDemo(dataDir, values.socket ? resolve(values.socket) : undefined);
    socketPath = demo.socketPath;
  } else {
    socketPath = socketPathFrom(values);
  }

  const session = new DaemonSession(socketPath);
  session.start();
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.stdout.write(LEAVE_ALT);
  };
  const onSignal = () => {
    restore();
    void demo?.stop().finally(() => process.exit(130));
    if (!demo) process.exit(130);
  };
  const onCrash = (err: NodeJS.ErrnoException) => {
    restore();
    // The terminal went away (SSH dropped): nothing to tell anyone.
    if (err.code !== 'EIO' && err.code !== 'EPIPE') process.stderr.write(`vmail console crashed: ${err.stack ?? err.message}\n`);
    void (demo?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('uncaughtException', onCrash);
  process.stdout.write(ENTER_ALT);
  try {
    const stdin = pacedStdin(process.stdin);
    const instance = render(<App session={session} />, { ...RENDER_OPTIONS, stdin });
    await instance.waitUntilExit();
  } finally {
    restore();
    process.stdin.pause();
    session.close();
    if (demo?.started) {
      process.stderr.write('vmail: stopping the demo daemon\n');
      await demo.stop();
    }
  }
  return 0;
}
