// The durable-file module (src/support/durable.ts) and the writers that use it, on real files: the
// fsyncs and renames a write makes, counted and put in order by strace in a process of its own
// (as the group-commit test in maildir-delivery.test.ts counts them); a file that is whole
// after kill -9 at any point of a write; no temp left by a write that fails; one srs-secret
// when two daemons make it at once.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MailboxIndex } from '../../src/maildir/mailbox-index.js';
import { cleanTmp } from '../../src/maildir/maildir.js';
import { createMaildir } from '../../src/maildir/paths.js';
import { saveUidls, uidlsOf } from '../../src/maildir/uidl-map.js';
import { Srs } from '../../src/smtp/srs.js';
import { PACKAGE_ROOT } from '../../src/support/package-root.js';
import { tempDir, waitFor } from '../helpers/daemon.js';
import { tracedCalls } from '../helpers/strace.js';

const dist = (m: string) => JSON.stringify(join(PACKAGE_ROOT, 'dist/src', m));

/** The fsyncs (with the path of what was synced) and renames `script` makes, in order. */
const traced = (script: string): string[] => tracedCalls(script).map((c) => c.call);

describe('durable writes, as strace sees them', () => {
  it('a UIDL map write: the temp fsynced, renamed over vmail-uidls, then the Maildir fsynced', () => {
    const dir = join(tempDir('vmail-durable-'), 'box');
    mkdirSync(dir);
    const calls = traced(`
      const { saveUidls } = await import(${dist('maildir/uidl-map.js')});
      await saveUidls(${JSON.stringify(dir)}, new Map([['1.a', 'UIDL-1'], ['2.b', 'UIDL-2']]));
    `);
    expect(calls).toHaveLength(3);
    const tmp = /^fsync (.*\/\.vmail-uidls\.\d+\.\d+\.tmp)$/.exec(calls[0])?.[1];
    expect(tmp, calls.join('\n')).toBeDefined();
    expect(calls.slice(1)).toEqual([`rename ${tmp} -> ${join(dir, 'vmail-uidls')}`, `fsync ${dir}`]);
  });

  it('an archive rename fsyncs the folder the Maildir left and the one it joined, after the new archive folders', () => {
    const data = tempDir('vmail-durable-');
    const box = join(data, 'mail', 'example.test', 'u1');
    mkdirSync(join(box, 'new'), { recursive: true });
    const calls = traced(`
      const { archiveMaildir } = await import(${dist('maildir/paths.js')});
      await archiveMaildir(${JSON.stringify(data)}, 'example.test', 'u1', 'c7');
    `);
    const to = join(data, 'archive', 'example.test', 'u1-c7');
    const rename = calls.indexOf(`rename ${box} -> ${to}`);
    expect(rename, calls.join('\n')).toBeGreaterThan(0);
    // archive/ and archive/example.test were made: each is fsynced in its parent before the move.
    expect(calls.slice(0, rename).sort()).toEqual([`fsync ${data}`, `fsync ${join(data, 'archive')}`]);
    expect(calls.slice(rename + 1).sort()).toEqual([
      `fsync ${join(data, 'archive', 'example.test')}`,
      `fsync ${join(data, 'mail', 'example.test')}`,
    ]);
    expect(existsSync(join(to, 'new'))).toBe(true);
  });
  it("the synchronous write (vmail setup's unit and config): fsync, rename, the folder fsynced", () => {
    const dir = tempDir('vmail-durable-');
    const unit = join(dir, 'vmail.service');
    writeFileSync(unit, 'the old unit\n');
    const calls = traced(`
      const { writeAtomicSync } = await import(${dist('support/durable.js')});
      writeAtomicSync(${JSON.stringify(unit)}, '[Service]\\n', { mode: 0o644 });
    `);
    const tmp = /^fsync (.*\/\.vmail\.service\.\d+\.\d+\.tmp)$/.exec(calls[0] ?? '')?.[1];
    expect(tmp, calls.join('\n')).toBeDefined();
    expect(calls.slice(1)).toEqual([`rename ${tmp} -> ${unit}`, `fsync ${dir}`]);
    expect(readFileSync(unit, 'utf8')).toBe('[Service]\n');
    expect(readdirSync(dir)).toEqual(['vmail.service']);
  });
});

describe('durable writes cut short', () => {
  it('vmail-uidls is whole after kill -9 at any point of a write, and the temps a kill left are swept', async () => {
    const dir = join(tempDir('vmail-durable-'), 'box');
    await createMaildir(dir);
    // Two maps of 3,000 lines each, written one after the other until the writer is killed.
    const script = `
      const { saveUidls } = await import(${dist('maildir/uidl-map.js')});
      const map = (tag) => new Map(Array.from({ length: 3000 }, (_, i) => [(1700000000 + i) + '.M' + i + 'P1.host', tag + '-' + i]));
      const maps = [map('A'), map('B')];
      for (let i = 0; ; i++) await saveUidls(${JSON.stringify(dir)}, maps[i % 2]);
    `;
    const whole = (uidls: Map<string, string>) =>
      uidls.size === 3000 && ['A', 'B'].some((tag) => [...uidls.values()].every((v, i) => v === `${tag}-${i}`));
    for (let round = 0; round < 8; round++) {
      const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
      await waitFor(() => existsSync(join(dir, 'vmail-uidls')), 'the first write');
      // Killed at a different point of the write loop each round (a point, not a bound).
      await new Promise((r) => setTimeout(r, round * 9));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(whole(await uidlsOf(dir)), `round ${round}`).toBe(true);
    }
    // The temps kills left (if any) go with the sweep of the Maildir's tmp/; the map stays.
    await cleanTmp(dir, 0, Date.now() + 1000);
    expect(readdirSync(dir).sort()).toEqual(['cur', 'new', 'tmp', 'vmail-uidls']);
    expect(whole(await uidlsOf(dir))).toBe(true);
  });

  it('a write whose rename fails leaves no temp, and nothing else changed', async () => {
    const dir = join(tempDir('vmail-durable-'), 'box');
    await createMaildir(dir);
    // vmail-uidls a folder with a file in it: the rename over it fails (EISDIR).
    mkdirSync(join(dir, 'vmail-uidls'));
    writeFileSync(join(dir, 'vmail-uidls', 'keep'), 'x');
    await expect(saveUidls(dir, new Map([['1.a', 'UIDL-1']]))).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(dir).sort()).toEqual(['cur', 'new', 'tmp', 'vmail-uidls']);
    expect(readdirSync(join(dir, 'vmail-uidls'))).toEqual(['keep']);
  });
  it('a start sweeps the temps a kill -9 left in the data dir an hour ago or more, and no younger one', async () => {
    const data = tempDir('vmail-durable-');
    const old = join(data, '.mailbox-index.4242.7.tmp');
    const young = join(data, '.srs-secret.4243.1.tmp');
    writeFileSync(old, 'half a save');
    writeFileSync(young, 'a write under way');
    writeFileSync(join(data, 'notes.tmp'), 'not ours');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    utimesSync(join(data, 'notes.tmp'), twoHoursAgo, twoHoursAgo);
    await new MailboxIndex(undefined, join(data, 'mailbox-index')).restore();
    expect(readdirSync(data).sort()).toEqual(['.srs-secret.4243.1.tmp', 'notes.tmp']);
  });
});

describe('srs-secret made by two daemons at once', () => {
  it('is one secret: both sign with it, and a third start reads it', async () => {
    const data = tempDir('vmail-durable-');
    const [a, b] = await Promise.all([Srs.open(data, 21), Srs.open(data, 21)]);
    const at = Date.UTC(2026, 10, 26);
    const address = a.forward('someone@sender.example', 'example.test', at);
    expect(b.forward('someone@sender.example', 'example.test', at)).toBe(address);
    const c = await Srs.open(data, 21);
    expect(c.forward('someone@sender.example', 'example.test', at)).toBe(address);
    // No temp left beside them (srs-long-hash-since says since when hashes are 8 characters).
    expect(readdirSync(data).sort()).toEqual(['srs-long-hash-since', 'srs-secret']);
  });
});
