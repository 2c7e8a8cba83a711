// A terminal for console tests: a command (usually the real `vmail console`) in a tmux session of
// its own at a given size, read with capture-pane and typed into with send-keys. `look` waits
// (bounded) for the screen to show something and fails with the screen as it was.
import { execFileSync } from 'node:child_process';
import { waitFor } from './process.js';

/**
 * tmux with `args`, on the one tmux server every test shares. That server exits when its last
 * session closes; a command that meets it as it exits ("server exited unexpectedly", a test
 * file's session closing while another file opens one) is run again, up to five times.
 */
export function tmux(...args: string[]): string {
  for (let attempt = 1; ; attempt++) {
    try {
      return execFileSync('tmux', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const said = String((err as { stderr?: unknown }).stderr ?? '');
      if (attempt >= 5 || !said.includes('server exited unexpectedly')) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}

let sessions = 0;

export interface Terminal {
  name: string;
  /** The screen now. */
  shot(): string;
  /** Waits for the screen to show `text`; the screen then. */
  look(text: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Keys by tmux's names (Enter, Escape, Down, C-u) or letters. */
  send(...keys: string[]): void;
  /** Text typed literally. */
  paste(text: string): void;
  close(): void;
}

/** Runs `command` in a new tmux session of `columns` x `rows` (in `cwd` when given). */
export function terminal(command: string, opts: { columns?: number; rows?: number; cwd?: string } = {}): Terminal {
  const name = `vmail-test-${process.pid}-${++sessions}`;
  const size = ['-x', String(opts.columns ?? 80), '-y', String(opts.rows ?? 24)];
  tmux('new-session', '-d', '-s', name, ...size, ...(opts.cwd ? ['-c', opts.cwd] : []), command);
  const shot = () => tmux('capture-pane', '-p', '-t', name);
  return {
    name,
    shot,
    look: (text, timeoutMs) =>
      waitFor(
        () => {
          const s = shot();
          return (typeof text === 'string' ? s.includes(text) : text.test(s)) ? s : null;
        },
        `the screen to show ${text}`,
        timeoutMs,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}\n--- screen ---\n${shot()}`);
      }),
    send: (...keys) => {
      tmux('send-keys', '-t', name, ...keys);
    },
    paste: (text) => {
      tmux('send-keys', '-l', '-t', name, text);
    },
    close: () => {
      try {
        tmux('kill-session', '-t', name);
      } catch {
        // The session ended with its command already: nothing left to close.
      }
    },
  };
}
