// The Postfix helper never leaves a master listening after the process that started it: not
// after a normal exit without stop(), not after SIGINT (Ctrl-C on a bench) or SIGTERM (a killed
// run). And a start on an address and port something already listens on fails, naming the
// holder, instead of sharing the port with it (Postfix binds with SO_REUSEPORT).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { postfixMissing, startPostfix } from '../helpers/postfix.js';
import { cleanUp, ROOT } from '../helpers/process.js';
import { closedPort } from '../helpers/relay.js';

const HELPER = join(ROOT, 'dist/test/helpers/postfix.js');
const RELAY = join(ROOT, 'dist/test/helpers/relay.js');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A child process that starts a Postfix (from the build), prints its master's pid, then does
 * `then`: `exit` (process.exit without stop()), or `wait` (for the signal the test sends).
 */
async function child(then: 'exit' | 'wait'): Promise<{ pid: number; master: number; done: Promise<unknown> }> {
  const code = `
    const { startPostfix } = await import(${JSON.stringify(HELPER)});
    const { closedPort } = await import(${JSON.stringify(RELAY)});
    const fs = await import('node:fs');
    const pf = startPostfix({ address: '127.0.0.1', port: await closedPort(), boxes: ['box0'] });
    const dir = pf.maildir('box0').split('/mail/')[0];
    process.stdout.write(fs.readFileSync(dir + '/queue/pid/master.pid', 'utf8').trim() + '\\n');
    if (${JSON.stringify(then)} === 'exit') process.exit(0);
    setInterval(() => {}, 1000);
  `;
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const done = new Promise((r) => p.on('exit', r));
  await Promise.race([
    until('the child to start Postfix', () => /^\d+\n/.test(out), 30_000),
    // The `exit` child ends right after printing: that is only a failure if it printed no pid.
    done.then(() => {
      if (!/^\d+\n/.test(out)) throw new Error(`the child ended before Postfix started:\n${out}`);
    }),
  ]);
  return { pid: p.pid!, master: Number(out.trim().split('\n')[0]), done };
}

describe('the Postfix helper', () => {
  afterAll(() => cleanUp());

  it('is available (a missing Postfix fails, never skips)', () => {
    expect(postfixMissing()).toBeNull();
  });

  for (const how of ['exit', 'SIGINT', 'SIGTERM'] as const) {
    it(`stops its master when the process ends by ${how === 'exit' ? 'exiting without stop()' : how}`, async () => {
      const c = await child(how === 'exit' ? 'exit' : 'wait');
      expect(c.master).toBeGreaterThan(1);
      if (how !== 'exit') {
        expect(alive(c.master)).toBe(true);
        process.kill(c.pid, how);
      }
      await c.done;
      await until('the master to stop', () => !alive(c.master));
    }, 60_000);
  }

  it('refuses to start where something listens already, naming it, and starts once it is gone', async () => {
    const port = await closedPort();
    const first = startPostfix({ address: '127.0.0.1', port, boxes: ['box0'] });
    try {
      expect(() => startPostfix({ address: '127.0.0.1', port, boxes: ['box0'] })).toThrow(
        new RegExp(`127\\.0\\.0\\.1:${port} is taken already .*master`),
      );
    } finally {
      first.stop();
    }
    // stop() ends the master: the address is free for the next start.
    const { execFileSync } = await import('node:child_process');
    await until(
      'the port to be free',
      () => !execFileSync('ss', ['-Hltn', `( sport = :${port} )`], { encoding: 'utf8' }).trim(),
    );
    const second = startPostfix({ address: '127.0.0.1', port, boxes: ['box0'] });
    second.stop();
  }, 60_000);
});
