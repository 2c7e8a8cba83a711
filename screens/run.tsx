// `vmail console`: puts the terminal in the alternate screen, renders the app with its keys
// coming through the key gate, and puts everything back on exit, Ctrl-C, a signal or a crash.
// Exit status as a shell expects: 0 after q, 130 after Ctrl-C, 129/143 after SIGHUP/SIGTERM.

import { render } from 'ink';
import { InputError } from '../src/model/errors.js';
import { App } from './app/app.js';
import { DaemonSession } from './shared/daemon-session.js';
import { gatedStdin } from './shared/key-gate.js';

/**
 * Ink's render options for the console. Ink holds back a frame that follows the last one too
 * closely, and the key gate's own (empty) commit before each key counts as a frame: at 240
 * frames a second a key's frame waits at most 4 ms behind it (measured: keypress p99 13.5 ms
 * over 10,000 accounts, against 16.6 ms at 120). Frames are only drawn when something changed,
 * so the limit costs nothing while idle. Ctrl-C is the gate's to handle.
 */
export const RENDER_OPTIONS = { maxFps: 240, exitOnCtrlC: false, patchConsole: true } as const;

/** The alternate screen, and bracketed paste on (a paste comes marked, as one event: key-gate.ts). */
const ENTER_ALT = '\u001b[?1049h\u001b[H\u001b[?2004h';
const LEAVE_ALT = '\u001b[?2004l\u001b[?25h\u001b[?1049l';

/** Runs the console on the daemon at `socketPath`; `atExit` runs once it is closed. */
export async function runConsole(socketPath: string, atExit: () => Promise<void> = async () => {}): Promise<number> {
  if (!process.stdout.isTTY || !process.stdin.isTTY)
    throw new InputError('the console needs a terminal: run it in an interactive shell (over SSH: ssh -t)');
  const session = new DaemonSession(socketPath);
  session.start();
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.stdout.write(LEAVE_ALT);
  };
  const leave = (code: number) => {
    restore();
    void atExit().finally(() => process.exit(code));
  };
  process.on('SIGTERM', () => leave(143));
  process.on('SIGHUP', () => leave(129));
  process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
    // The terminal went away (SSH dropped): nothing to tell anyone.
    if (err.code !== 'EIO' && err.code !== 'EPIPE') {
      restore();
      process.stderr.write(`vmail console crashed: ${err.stack ?? err.message}\n`);
    }
    leave(1);
  });
  process.stdout.write(ENTER_ALT);
  let code = 0;
  const { stdin, gate } = gatedStdin(process.stdin);
  try {
    const instance = render(<App session={session} gate={gate} />, { ...RENDER_OPTIONS, stdin });
    gate.onInterrupt = () => {
      code = 130;
      instance.unmount();
    };
    await instance.waitUntilExit();
  } finally {
    gate.close();
    restore();
    process.stdin.pause();
    session.close();
    await atExit();
  }
  return code;
}
