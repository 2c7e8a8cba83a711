// `vmail up` (what `npm start` runs) on a server that is already set up: the demo daemon runs on
// its own data and ports whatever the admin's shell and /etc/vmail say. Here the settings file
// VMAIL_CONFIG names points at a PostgreSQL store that does not answer, an rspamd that is not
// there and another user, and VMAIL_DATA_DIR at the "service's" data dir: the console still opens
// on the demo domain, and the service's data dir is not touched.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, VMAIL, waitFor } from '../helpers/daemon.js';

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const name = `vmail-up-${process.pid}`;

afterAll(() => {
  try {
    tmux('send-keys', '-t', name, 'q');
  } catch {
    // The session may have ended with the console already.
  }
  try {
    tmux('kill-session', '-t', name);
  } catch {
    // Already gone: nothing to end.
  }
});

describe('vmail up on a configured server', () => {
  it('opens the demo beside the service: its own config, store and ports, not the admin environment', async () => {
    const home = tempDir('up-');
    const service = join(home, 'service-data');
    mkdirSync(service);
    const conf = join(home, 'vmail.conf');
    writeFileSync(
      conf,
      ['store = "postgres://vmail@127.0.0.1:1/vmail"', 'rspamd = "http://127.0.0.1:1"', 'user = "nobody"', ''].join(
        '\n',
      ),
    );
    const work = join(home, 'work');
    mkdirSync(work);
    tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      '80',
      '-y',
      '24',
      '-c',
      work,
      `env VMAIL_CONFIG=${conf} VMAIL_DATA_DIR=${service} ${process.execPath} ${VMAIL} up; sleep 30`,
    );
    const shot = () => tmux('capture-pane', '-p', '-t', name);
    const screen = await waitFor(
      () => (/POP3 Accounts/.test(shot()) ? shot() : null),
      'the console to open on the demo',
      30_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- screen ---\n${shot()}`);
    });
    expect(screen).toContain('example.test');
    expect(existsSync(join(work, '.vmail-demo', 'vmail.sqlite'))).toBe(true);
    expect(readdirSync(service)).toEqual([]);
    tmux('send-keys', '-t', name, 'q');
    await waitFor(() => (/stopping the demo daemon/.test(shot()) ? true : null), 'the demo to stop', 20_000);
  }, 60_000);
});
