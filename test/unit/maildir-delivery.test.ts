// Maildir delivery: of a named copy (a forwarded message, which may be delivered again after a
// crash), where a partial file an interrupted attempt left in tmp/ does not block the next
// attempt and a copy already in new/ is not written twice; deliveries into one Maildir sharing
// the fsync of new/; a small message's steps in one trip to the thread pool (the addon in
// native/durable) in the order rule 4 of src/support/durable.ts sets, as strace sees them, and
// the same steps in JavaScript without it (VMAIL_NO_WRITE_RENAME=1); every file whole after
// kill -9 at any point. Real files in a temp dir.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanTmp, deliver } from '../../src/maildir/maildir.js';
import { createMaildir } from '../../src/maildir/paths.js';
import { PACKAGE_ROOT } from '../../src/support/package-root.js';
import { tempDir, waitFor } from '../helpers/daemon.js';
import { tracedCalls } from '../helpers/strace.js';

describe('deliver with a copy name', () => {
  const message = Buffer.from('Subject: again\r\n\r\nthe whole body\r\n');

  it('writes over what a crash left in tmp/ under the same name, and keeps one copy', async () => {
    const dir = join(tempDir('vmail-maildir-'), 'box');
    await createMaildir(dir);
    const first = await deliver(dir, [message], { base: '1795909021.Qabc' });
    // As a kill -9 between the write and the rename leaves it: the file in tmp/, cut short.
    const name = basename(first.file);
    renameSync(first.file, join(dir, 'tmp', name));
    truncateSync(join(dir, 'tmp', name), 10);

    const again = await deliver(dir, [message], { base: '1795909021.Qabc' });
    expect(basename(again.file)).toBe(name);
    expect(readFileSync(again.file)).toEqual(message);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'new'))).toEqual([name]);

    // Delivered already: found in new/, nothing written.
    const third = await deliver(dir, [message], { base: '1795909021.Qabc' });
    expect(third.file).toBe(again.file);
    expect(readdirSync(join(dir, 'new'))).toEqual([name]);
  });
});

describe('deliveries that finish together (group commit of the directory fsync)', () => {
  it('200 at once into one Maildir all land whole; with new/ removed under them they land too', async () => {
    const dir = join(tempDir('vmail-maildir-'), 'box');
    await createMaildir(dir);
    const body = (i: number) => Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`);
    const done = await Promise.all(Array.from({ length: 200 }, (_, i) => deliver(dir, [body(i)])));
    expect(readdirSync(join(dir, 'new')).sort()).toEqual(done.map((d) => basename(d.file)).sort());
    for (const [i, d] of done.entries()) expect(readFileSync(d.file)).toEqual(body(i));

    // new/ taken away (by hand, or a broken restore): the next 50, all at once, make it again
    // as Dovecot does, and each lands; nothing is left half-made in tmp/.
    rmSync(join(dir, 'new'), { recursive: true, force: true });
    const again = await Promise.all(Array.from({ length: 50 }, (_, i) => deliver(dir, [body(i)])));
    expect(readdirSync(join(dir, 'new')).sort()).toEqual(again.map((d) => basename(d.file)).sort());
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });
});

describe('the fsyncs of 20 deliveries finishing together', () => {
  // Counted by strace in a process of their own: 20 file fsyncs, and the directory fsyncs
  // shared among them (one each without group commit: 40 in all).
  it.skipIf(!existsSync('/usr/bin/strace'))(
    'are 20 for the files and a few for new/, not 20 more (strace needed)',
    () => {
      const dir = join(tempDir('vmail-maildir-'), 'box');
      const out = join(tempDir('vmail-strace-'), 'count');
      const script = `
      const { deliver } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist/src/maildir/maildir.js'))});
      const { createMaildir } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist/src/maildir/paths.js'))});
      await createMaildir(${JSON.stringify(dir)});
      await Promise.all(Array.from({ length: 20 }, (_, i) => deliver(${JSON.stringify(dir)}, [Buffer.from('Subject: ' + i + '\\r\\n\\r\\nbody\\r\\n')])));
    `;
      execFileSync('strace', [
        '-f',
        '-qq',
        '-e',
        'trace=fsync',
        '-c',
        '-o',
        out,
        process.execPath,
        '--input-type=module',
        '-e',
        script,
      ]);
      expect(readdirSync(join(dir, 'new'))).toHaveLength(20);
      // The calls column is the last number before the name (no fsync here fails, so no errors column).
      const calls = Number(/(\d+)\s+fsync\n/.exec(readFileSync(out, 'utf8'))?.[1]);
      expect(calls).toBeGreaterThanOrEqual(21);
      expect(calls).toBeLessThanOrEqual(30);
    },
  );
});

/** A script that delivers `count` messages (or for ever) into `dir`, one after another or `atOnce`. */
function deliveries(dir: string, count: number, atOnce = 1): string {
  const m = (f: string) => JSON.stringify(join(PACKAGE_ROOT, 'dist/src/maildir', f));
  return `
    const { deliver } = await import(${m('maildir.js')});
    const { createMaildir } = await import(${m('paths.js')});
    await createMaildir(${JSON.stringify(dir)});
    const body = (i) => [Buffer.from('Subject: ' + i + '\\r\\n'), Buffer.from('\\r\\n' + 'line of ' + i + '\\r\\n'.repeat(1 + (i % 50)))];
    for (let i = 0; i < ${count}; i += ${atOnce}) await Promise.all(Array.from({ length: ${atOnce} }, (_, k) => deliver(${JSON.stringify(dir)}, body(i + k))));
  `;
}

describe('a small message delivered alone, as strace sees it', () => {
  for (const [way, env] of [
    ['in one trip to the thread pool (the addon)', {}],
    ['in JavaScript, step by step (VMAIL_NO_WRITE_RENAME=1)', { VMAIL_NO_WRITE_RENAME: '1' }],
  ] as const)
    it(`${way}: tmp/NAME fsynced, renamed to new/NAME, new/ fsynced, in that order`, () => {
      const dir = join(tempDir('vmail-maildir-'), 'box');
      const calls = tracedCalls(deliveries(dir, 1), env);
      const [name] = readdirSync(join(dir, 'new'));
      // createMaildir's own fsyncs come first: the delivery's are the last three.
      expect(
        calls.slice(-3).map((c) => c.call),
        calls.map((c) => c.call).join('\n'),
      ).toEqual([
        `fsync ${join(dir, 'tmp', name)}`,
        `rename ${join(dir, 'tmp', name)} -> ${join(dir, 'new', name)}`,
        `fsync ${join(dir, 'new')}`,
      ]);
      // One trip: the three calls made by one thread.
      if (!env.VMAIL_NO_WRITE_RENAME) expect(new Set(calls.slice(-3).map((c) => c.tid)).size).toBe(1);
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    });

  it('lands when tmp/ or new/ was removed by hand (made again, as Dovecot does), leaving nothing in tmp/', async () => {
    const dir = join(tempDir('vmail-maildir-'), 'box');
    await createMaildir(dir);
    const message = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    for (const folder of ['tmp', 'new', 'tmp']) {
      rmSync(join(dir, folder), { recursive: true, force: true });
      const got = await deliver(dir, [message]);
      expect(readFileSync(got.file)).toEqual(message);
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    }
    // The second went into the new/ made again; the first went with the new/ removed after it.
    expect(readdirSync(join(dir, 'new'))).toHaveLength(2);
  });
});

describe('deliveries killed with kill -9 at any point', () => {
  for (const [way, env] of [
    ['in one trip', {}],
    ['step by step', { VMAIL_NO_WRITE_RENAME: '1' }],
  ] as const)
    it(`${way}: every file in new/ is a whole message, and what is left in tmp/ is swept`, async () => {
      const dir = join(tempDir('vmail-maildir-'), 'box');
      const whole = (i: number) =>
        `Subject: ${i}\r\n\r\nline of ${i}\r\n`.replace(/\r\n$/, '') + '\r\n'.repeat(1 + (i % 50));
      for (let round = 0; round < 6; round++) {
        const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', deliveries(dir, 1e9, 4)], {
          stdio: 'ignore',
          env: { ...process.env, ...env },
        });
        await waitFor(
          () => existsSync(join(dir, 'new')) && readdirSync(join(dir, 'new')).length > 0,
          'a first delivery',
        );
        // Killed at a different point each round (a point, not a bound).
        await new Promise((r) => setTimeout(r, round * 7));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
      const files = readdirSync(join(dir, 'new'));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        const text = readFileSync(join(dir, 'new', f), 'latin1');
        const i = Number(/^Subject: (\d+)\r\n/.exec(text)?.[1]);
        expect(text, f).toBe(whole(i));
      }
      await cleanTmp(dir, 0, Date.now() + 1000);
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    });
});
