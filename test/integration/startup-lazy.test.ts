// Issue 30, target 1: what a start does not need before ready is loaded after it. A load hook
// in the real daemon writes each library's first load to its stderr, in the same stream as its
// log, so the order of the lines is the order of the events: nodemailer (only mail that leaves
// needs it) comes after 'daemon ready', by itself, before any mail is sent; prom-client only
// with --metrics.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';

/** A node --import file whose load hook writes `LOADED <package>` to fd 2 at each package's entry. */
function loadHook(): string {
  const file = join(tempDir('vmail-lazy-hook-'), 'hook.mjs');
  const hook = `
import { writeSync } from 'node:fs';
export async function load(url, context, next) {
  const m = /node_modules\\/(nodemailer|prom-client)\\/(dist\\/esm\\/nodemailer|index)\\.js$/.exec(url);
  if (m) writeSync(2, 'LOADED ' + m[1] + '\\n');
  return next(url, context);
}`;
  writeFileSync(
    file,
    `import { register } from 'node:module';\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));\n`,
  );
  return file;
}

const lines = (d: DaemonHandle) => d.output().split('\n');
const at = (d: DaemonHandle, what: RegExp) => lines(d).findIndex((l) => what.test(l));

describe('libraries loaded after ready', () => {
  const daemons: DaemonHandle[] = [];
  afterAll(async () => {
    for (const d of daemons) await d.stop();
  });

  it('loads nodemailer after ready, by itself, and prom-client never without --metrics', async () => {
    const d = await startDaemon({ nodeArgs: ['--import', loadHook()] });
    daemons.push(d);
    const ready = at(d, /daemon ready/);
    expect(ready).toBeGreaterThanOrEqual(0);
    // Loaded in the background with no mail sent: the first forward finds it there.
    await waitFor(() => at(d, /^LOADED nodemailer$/) >= 0, 'nodemailer loaded', 20_000);
    expect(at(d, /^LOADED nodemailer$/)).toBeGreaterThan(ready);
    expect(at(d, /^LOADED prom-client$/)).toBe(-1);
    expect(d.output()).not.toMatch(/nodemailer not loaded/);
  });

  it('loads prom-client before ready with --metrics, and serves it', async () => {
    const d = await startDaemon({ nodeArgs: ['--import', loadHook()], args: ['--metrics', '127.0.0.1:0'] });
    daemons.push(d);
    const loaded = at(d, /^LOADED prom-client$/);
    expect(loaded).toBeGreaterThanOrEqual(0);
    expect(loaded).toBeLessThan(at(d, /daemon ready/));
    const port = Number(/metrics=(\d+)/.exec(d.output())?.[1]);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/^vmail_smtp_sessions_total 0$/m);
    expect(text).toMatch(/^vmail_process_cpu_seconds_total /m);
  });
});
