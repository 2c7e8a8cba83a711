// Maildir delivery of a named copy (a forwarded message, which may be delivered again after a
// crash): a partial file an interrupted attempt left in tmp/ does not block the next attempt,
// and a copy already in new/ is not written twice. Real files in a temp dir.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deliver } from '../../src/maildir/maildir.js';
import { createMaildir } from '../../src/maildir/paths.js';
import { PACKAGE_ROOT } from '../../src/support/package-root.js';
import { tempDir } from '../helpers/daemon.js';

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
