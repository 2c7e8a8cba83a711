// Hostile tests of writeAtomic's one-trip path (the addon's writeRename) against the step-by-step
// path (VMAIL_NO_WRITE_RENAME=1): modes, odd targets, failing file systems, kill -9, racing
// writers, odd paths and odd data. Each case runs both ways and must behave the same.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepTemps, writeAtomic } from '../../src/support/durable.js';
import { PACKAGE_ROOT } from '../../src/support/package-root.js';
import { tempDir } from '../helpers/daemon.js';

const ADDON = join(PACKAGE_ROOT, 'native/durable/build/Release/durable.node');
const WAYS: [string, boolean][] = [
  ['one trip (addon)', false],
  ['step by step (VMAIL_NO_WRITE_RENAME=1)', true],
];

async function withWay<T>(noAddon: boolean, f: () => Promise<T>): Promise<T> {
  const before = process.env.VMAIL_NO_WRITE_RENAME;
  if (noAddon) process.env.VMAIL_NO_WRITE_RENAME = '1';
  else delete process.env.VMAIL_NO_WRITE_RENAME;
  try {
    return await f();
  } finally {
    if (before === undefined) delete process.env.VMAIL_NO_WRITE_RENAME;
    else process.env.VMAIL_NO_WRITE_RENAME = before;
  }
}

const temps = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.tmp'));
const errCode = async (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: NodeJS.ErrnoException) => e.code ?? e.message,
  );

describe('writeAtomic, hostile inputs, both ways', () => {
  it('the addon is built (else the one-trip path is never exercised)', () => {
    expect(existsSync(ADDON)).toBe(true);
    const a = createRequire(import.meta.url)(ADDON) as { writeRename: unknown };
    expect(typeof a.writeRename).toBe('function');
  });

  for (const [way, noAddon] of WAYS) {
    describe(way, () => {
      it('mode is honoured (under the umask): default 0600, 0644, 0666, and a 0644 file replaced without a mode becomes 0600', async () => {
        const dir = tempDir('vmail-h13-');
        const umask = process.umask();
        await withWay(noAddon, async () => {
          await writeAtomic(join(dir, 'def'), 'x');
          await writeAtomic(join(dir, 'm644'), 'x', { mode: 0o644 });
          await writeAtomic(join(dir, 'm666'), Buffer.from('x'), { mode: 0o666 });
          await writeAtomic(join(dir, 'm400'), [Buffer.from('x')], { mode: 0o400 });
          writeFileSync(join(dir, 'old'), 'old', { mode: 0o644 });
          await writeAtomic(join(dir, 'old'), 'new');
        });
        const mode = (n: string) => statSync(join(dir, n)).mode & 0o7777;
        expect(mode('def')).toBe(0o600 & ~umask);
        expect(mode('m644')).toBe(0o644 & ~umask);
        expect(mode('m666')).toBe(0o666 & ~umask);
        expect(mode('m400')).toBe(0o400);
        expect(mode('old')).toBe(0o600);
        expect(readFileSync(join(dir, 'old'), 'utf8')).toBe('new');
        expect(temps(dir)).toEqual([]);
      });

      it('a directory where the file goes: rejected (EISDIR), the directory and its contents kept, no temp left', async () => {
        const dir = tempDir('vmail-h13-');
        mkdirSync(join(dir, 'empty'));
        mkdirSync(join(dir, 'full'));
        writeFileSync(join(dir, 'full', 'inside'), 'keep');
        await withWay(noAddon, async () => {
          expect(await errCode(writeAtomic(join(dir, 'empty'), 'data'))).toBe('EISDIR');
          expect(await errCode(writeAtomic(join(dir, 'full'), 'data'))).toBe('EISDIR');
        });
        expect(statSync(join(dir, 'empty')).isDirectory()).toBe(true);
        expect(readFileSync(join(dir, 'full', 'inside'), 'utf8')).toBe('keep');
        expect(temps(dir)).toEqual([]);
      });

      it('a symlink (to a file, dangling, to a folder) is replaced by a plain file; what it pointed at is untouched', async () => {
        const dir = tempDir('vmail-h13-');
        writeFileSync(join(dir, 'victim'), 'victim');
        mkdirSync(join(dir, 'victimdir'));
        symlinkSync(join(dir, 'victim'), join(dir, 'link'));
        symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
        symlinkSync(join(dir, 'victimdir'), join(dir, 'dirlink'));
        await withWay(noAddon, async () => {
          for (const n of ['link', 'dangling', 'dirlink']) await writeAtomic(join(dir, n), `new ${n}`);
        });
        for (const n of ['link', 'dangling', 'dirlink']) {
          expect(lstatSync(join(dir, n)).isFile(), n).toBe(true);
          expect(readFileSync(join(dir, n), 'utf8')).toBe(`new ${n}`);
        }
        expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('victim');
        expect(existsSync(join(dir, 'nowhere'))).toBe(false);
        expect(readdirSync(join(dir, 'victimdir'))).toEqual([]);
        expect(temps(dir)).toEqual([]);
      });

      it('a FIFO where the file goes is replaced at once (never opened, so nothing hangs)', async () => {
        const dir = tempDir('vmail-h13-');
        expect(spawnSync('mkfifo', [join(dir, 'fifo')]).status).toBe(0);
        await withWay(noAddon, () => writeAtomic(join(dir, 'fifo'), 'plain now'));
        expect(lstatSync(join(dir, 'fifo')).isFile()).toBe(true);
        expect(readFileSync(join(dir, 'fifo'), 'utf8')).toBe('plain now');
      });

      it('a missing folder: rejected ENOENT, nothing made', async () => {
        const dir = tempDir('vmail-h13-');
        await withWay(noAddon, async () => {
          expect(await errCode(writeAtomic(join(dir, 'no', 'such'), 'x'))).toBe('ENOENT');
        });
        expect(readdirSync(dir)).toEqual([]);
      });

      it('a temp name already taken (by a folder, a file, a link): rejected EEXIST, the taken name untouched, the target untouched', async () => {
        const dir = tempDir('vmail-h13-');
        writeFileSync(join(dir, 'target'), 'original');
        // The next temp is .target.PID.N.tmp for an N this module counts: take the next many.
        await withWay(noAddon, () => writeAtomic(join(dir, 'probe'), 'p'));
        // The next temp is .target.PID.N.tmp for an N this module counts: every N up to 3000 is taken.
        const taken: string[] = [];
        for (let n = 1; n <= 3000; n++) {
          const name = `.target.${process.pid}.${n}.tmp`;
          if (n % 3 === 0) mkdirSync(join(dir, name));
          else if (n % 3 === 1) writeFileSync(join(dir, name), 'someone else');
          else symlinkSync(join(dir, 'target'), join(dir, name));
          taken.push(name);
        }
        const codes: string[] = [];
        await withWay(noAddon, async () => {
          for (let i = 0; i < 5; i++) codes.push(await errCode(writeAtomic(join(dir, 'target'), `try ${i}`)));
        });
        expect(codes).toEqual(Array(5).fill('EEXIST'));
        // No link was followed, no one else's file written or removed.
        expect(readFileSync(join(dir, 'target'), 'utf8')).toBe('original');
        expect(readdirSync(dir).length).toBe(3000 + 2);
        for (const name of taken.filter((_, k) => k % 3 === 0))
          expect(readFileSync(join(dir, name), 'utf8')).toBe('someone else');
      });

      it('empty data in every form gives an empty file; arrays with empty parts and more than 16 parts give the parts joined', async () => {
        const dir = tempDir('vmail-h13-');
        const many = Array.from({ length: 40 }, (_, i) => (i % 3 ? Buffer.from(`p${i};`) : Buffer.alloc(0)));
        const big = Buffer.alloc(64 * 1024, 0x41);
        const pool = Buffer.from('0123456789abcdef');
        await withWay(noAddon, async () => {
          await writeAtomic(join(dir, 'str'), '');
          await writeAtomic(join(dir, 'buf'), Buffer.alloc(0));
          await writeAtomic(join(dir, 'arr'), []);
          await writeAtomic(join(dir, 'arr2'), [Buffer.alloc(0), Buffer.alloc(0)]);
          await writeAtomic(join(dir, 'many'), many);
          await writeAtomic(join(dir, 'sixteen'), many.slice(0, 24));
          await writeAtomic(join(dir, 'views'), [pool.subarray(3, 7), big, pool.subarray(10)]);
          await writeAtomic(join(dir, 'over'), [Buffer.alloc(256 * 1024, 0x42), Buffer.from('!')]);
          await writeAtomic(join(dir, 'exact'), Buffer.alloc(256 * 1024, 0x43));
        });
        for (const n of ['str', 'buf', 'arr', 'arr2']) expect(readFileSync(join(dir, n)).length, n).toBe(0);
        expect(readFileSync(join(dir, 'many')).equals(Buffer.concat(many))).toBe(true);
        expect(readFileSync(join(dir, 'sixteen')).equals(Buffer.concat(many.slice(0, 24)))).toBe(true);
        expect(
          readFileSync(join(dir, 'views')).equals(Buffer.concat([Buffer.from('3456'), big, Buffer.from('abcdef')])),
        ).toBe(true);
        expect(readFileSync(join(dir, 'over')).length).toBe(256 * 1024 + 1);
        expect(readFileSync(join(dir, 'exact')).equals(Buffer.alloc(256 * 1024, 0x43))).toBe(true);
        expect(temps(dir)).toEqual([]);
      });

      it('a NUL byte in the name or the folder: refused, and nothing is written at the name cut at the NUL', async () => {
        const dir = tempDir('vmail-h13-');
        mkdirSync(join(dir, 'a'));
        await withWay(noAddon, async () => {
          expect(await errCode(writeAtomic(join(dir, 'cut\0here'), 'x'))).not.toBe('resolved');
          expect(await errCode(writeAtomic(join(dir, 'a\0b', 'f'), 'x'))).not.toBe('resolved');
          expect(await errCode(writeAtomic(join(dir, 'a', 'f\0'), 'x'))).not.toBe('resolved');
        });
        expect(readdirSync(dir)).toEqual(['a']);
        expect(readdirSync(join(dir, 'a'))).toEqual([]);
      });

      it('a name of 255 bytes (the longest a file system takes) and one of 256: the same outcome both ways, nothing left', async () => {
        const dir = tempDir('vmail-h13-');
        const outcomes: string[] = [];
        await withWay(noAddon, async () => {
          for (const len of [200, 255, 256]) outcomes.push(await errCode(writeAtomic(join(dir, 'n'.repeat(len)), 'x')));
        });
        expect(outcomes[0]).toBe('resolved');
        expect(outcomes[2]).toBe('ENAMETOOLONG');
        // 255: a legal name whose temp (.NAME.PID.N.tmp) is too long; either way no temp is left.
        expect(['resolved', 'ENAMETOOLONG']).toContain(outcomes[1]);
        expect(temps(dir)).toEqual([]);
        expect(readdirSync(dir).filter((n) => !n.startsWith('n'))).toEqual([]);
      });

      it('50 writers of one file at once: it ends whole, as one of them wrote it, and no temp is left', async () => {
        const dir = tempDir('vmail-h13-');
        const file = join(dir, 'contested');
        const body = (i: number) => Buffer.alloc(1000 + i * 997, 0x61 + (i % 26));
        const results = await withWay(noAddon, () =>
          Promise.allSettled(
            Array.from({ length: 50 }, (_, i) => writeAtomic(file, body(i), { syncDir: i % 2 === 0 })),
          ),
        );
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        const got = readFileSync(file);
        const i = (got.length - 1000) / 997;
        expect(Number.isInteger(i) && i >= 0 && i < 50).toBe(true);
        expect(got.equals(body(i))).toBe(true);
        expect(temps(dir)).toEqual([]);
      });
    });
  }
});

describe('writeAtomic on a file system that fails (a 64 KB tmpfs: ENOSPC; remounted read-only: EROFS)', () => {
  const mnt = tempDir('vmail-h13-mnt-');
  beforeAll(() => {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    expect(r.status, r.stderr?.toString()).toBe(0);
  });
  afterAll(() => {
    spawnSync('umount', [mnt]);
  });

  for (const [way, noAddon] of WAYS) {
    it(`${way}: ENOSPC rejects with ENOSPC, the old file stays whole, no temp is left`, async () => {
      const dir = join(mnt, noAddon ? 'js' : 'addon');
      mkdirSync(dir);
      writeFileSync(join(dir, 'keep'), 'old contents');
      // Fill the file system but a little.
      const filler = join(dir, 'filler');
      let size = 60 * 1024;
      for (;;) {
        try {
          writeFileSync(filler, Buffer.alloc(size));
          break;
        } catch {
          size -= 4096;
        }
      }
      const code = await withWay(noAddon, () =>
        errCode(writeAtomic(join(dir, 'keep'), Buffer.alloc(100 * 1024, 0x7a))),
      );
      expect(code).toBe('ENOSPC');
      expect(readFileSync(join(dir, 'keep'), 'utf8')).toBe('old contents');
      expect(temps(dir)).toEqual([]);
      spawnSync('rm', ['-rf', dir]);
    });
  }

  it('both ways: a read-only file system rejects with EROFS, nothing changes', async () => {
    const dir = join(mnt, 'ro');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep'), 'old');
    expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).toBe(0);
    try {
      for (const [, noAddon] of WAYS) {
        const code = await withWay(noAddon, () => errCode(writeAtomic(join(dir, 'keep'), 'new')));
        expect(code).toBe('EROFS');
      }
      expect(readFileSync(join(dir, 'keep'), 'utf8')).toBe('old');
      expect(readdirSync(dir)).toEqual(['keep']);
    } finally {
      spawnSync('mount', ['-o', 'remount,rw', mnt]);
    }
  });
});

describe('writeAtomic under kill -9', () => {
  for (const [way, noAddon] of WAYS) {
    it(`${way}: the target is always one whole version, and the temps left are swept`, async () => {
      const dir = tempDir('vmail-h13-kill-');
      const file = join(dir, 'state');
      const script = `
        const { writeAtomic } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'dist/src/support/durable.js'))});
        const file = ${JSON.stringify(file)};
        process.stdout.write('go\\n');
        for (let i = 0; ; i++) {
          const n = (i % 5) * 20000 + 17;
          const line = ('v' + i + ':').padEnd(20, '-');
          await Promise.all([
            writeAtomic(file, Buffer.alloc(n, line)),
            writeAtomic(file, [Buffer.from(line), Buffer.alloc(n, 'x'), Buffer.from('\\n')], { syncDir: false }),
          ]);
        }`;
      for (let round = 0; round < 6; round++) {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env: { ...process.env, VMAIL_NO_WRITE_RENAME: noAddon ? '1' : '' },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        await new Promise<void>((r) => child.stdout.once('data', () => r()));
        await new Promise((r) => setTimeout(r, 40 + round * 37));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        if (!existsSync(file)) continue;
        const got = readFileSync(file);
        // Whole: one of the two forms, its length matching what its first 20 bytes say.
        const head = got.subarray(0, 20).toString('latin1');
        const m = /^v(\d+):-*$/.exec(head);
        expect(m, head).not.toBeNull();
        const i = Number(m![1]);
        const n = (i % 5) * 20000 + 17;
        expect([n, 20 + n + 1]).toContain(got.length);
      }
      // Temps a kill left are swept by the owner's sweep (here: anything not brand new).
      await sweepTemps(dir, 0, Date.now() + 1000);
      expect(temps(dir)).toEqual([]);
      expect(readdirSync(dir).filter((n) => n !== 'state')).toEqual([]);
    }, 30_000);
  }
});
