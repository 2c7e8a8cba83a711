// `vmail up` (what `npm start` runs) on a server that is already set up: the demo daemon runs on
// its own data and ports whatever the admin's shell and /etc/vmail say. Here the settings file
// VMAIL_CONFIG names points at a PostgreSQL store that does not answer, an rspamd that is not
// there and another user, and VMAIL_DATA_DIR at the "service's" data dir: the console still opens
// on the demo domain, and the service's data dir is not touched.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, VMAIL } from '../helpers/daemon.js';
import { type Terminal, terminal } from '../helpers/tmux.js';

let t: Terminal | undefined;

afterAll(() => {
  // A test that failed half way: q first, so the demo daemon stops with the console.
  try {
    t?.send('q');
  } catch {
    // The session has ended already (the test closed it).
  }
  t?.close();
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
    t = terminal(`env VMAIL_CONFIG=${conf} VMAIL_DATA_DIR=${service} ${process.execPath} ${VMAIL} up; sleep 30`, {
      cwd: work,
    });
    const screen = await t.look('POP3 Accounts', 30_000);
    expect(screen).toContain('example.test');
    expect(existsSync(join(work, '.vmail-demo', 'vmail.sqlite'))).toBe(true);
    expect(readdirSync(service)).toEqual([]);
    t.send('q');
    await t.look('stopping the demo daemon', 20_000);
    t.close();
  }, 60_000);
});
