// Hostile tests of what round 7's tester reported and this round fixed: a symbolic link where an
// add's Maildir goes, and a Message-ID in UTF-8. Judged by effect: files on disk, mail refused or
// taken, what `vmail trace` prints.
import { lstatSync, mkdirSync, readdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { sendWithId } from '../helpers/effects.js';
import { json } from '../helpers/mail-count.js';
import { seedAccounts } from '../helpers/seed.js';

const DOMAIN = 'example.test';

let d: DaemonHandle;
let outside: string;
let applied: { code: number | null; stdout: string; stderr: string };

beforeAll(async () => {
  const dataDir = tempDir('vmail-h8-');
  await seedAccounts(dataDir, ['boss', 'linked']);
  // A bare Maildir outside the data directory, and a link to it where linked's Maildir goes.
  outside = tempDir('vmail-h8-outside-');
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(outside, sub));
  mkdirSync(join(dataDir, 'mail', DOMAIN), { recursive: true });
  symlinkSync(outside, join(dataDir, 'mail', DOMAIN, 'linked'));
  d = await startDaemon({ dataDir });
  applied = await d.cli(['pending', 'apply']);
}, 60_000);

afterAll(async () => {
  await d?.stop();
});

describe('a symbolic link where an add makes its Maildir (hostile round 7: a bare Maildir elsewhere was taken over)', () => {
  it('the add stays pending with a one-line error; the link and the folder it points at are untouched; its mail is refused', async () => {
    expect(applied.code).toBe(1);
    expect(applied.stdout).toMatch(/Applied 1 change/);
    const errors = applied.stderr.trim().split('\n');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^vmail: change \d+ of linked@example\.test not applied: .*is a symbolic link/);
    const link = join(d.dataDir, 'mail', DOMAIN, 'linked');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readdirSync(outside).sort()).toEqual(['cur', 'new', 'tmp']);
    const listed = json(await d.cli(['accounts', 'list', '--json'])) as { name: string; active: boolean }[];
    expect(listed.find((a) => a.name === 'linked')?.active).toBe(false);
    const smtp = JSON.parse((await d.cli(['status', '--json'])).stdout).smtp.port as number;
    expect(await sendWithId(smtp, 'linked@example.test', null)).toBe(550);
    expect(readdirSync(join(outside, 'new'))).toEqual([]);
  });

  it('once the admin moves the link away, the next apply makes a Maildir of its own inside the data directory', async () => {
    const link = join(d.dataDir, 'mail', DOMAIN, 'linked');
    unlinkSync(link);
    const again = await d.cli(['pending', 'apply']);
    expect(again.code, again.stderr).toBe(0);
    expect(lstatSync(link).isDirectory()).toBe(true);
    expect(readdirSync(link).sort()).toEqual(['cur', 'new', 'tmp', 'vmail-change']);
    expect(readdirSync(outside).sort()).toEqual(['cur', 'new', 'tmp']);
  });
});

describe('a Message-ID in UTF-8 (RFC 6532; hostile round 7: shown byte by byte)', () => {
  it('vmail trace shows it as written, finds it by --message-id, and shows a Latin-1 one as its characters', async () => {
    const smtp = JSON.parse((await d.cli(['status', '--json'])).stdout).smtp.port as number;
    const utf8 = '<€uro-à-日本@far.example>';
    expect(await sendWithId(smtp, 'boss@example.test', Buffer.from(utf8, 'utf8'))).toBe(250);
    expect(await sendWithId(smtp, 'boss@example.test', Buffer.from('<caf\xe9@far.example>', 'latin1'))).toBe(250);
    const trace = await waitFor(async () => {
      const r = await d.cli(['trace', 'boss@example.test']);
      return (r.stdout.match(/delivered/g) ?? []).length >= 2 ? r.stdout : null;
    }, 'both deliveries in the trail');
    expect(trace).toContain(`${utf8}: `);
    expect(trace).toContain('<café@far.example>: ');
    expect(trace).not.toMatch(/\\x[0-9a-f]{2}/);
    const one = await d.cli(['trace', 'boss@example.test', '--message-id', utf8]);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
    expect(one.stdout).toContain(utf8);
  }, 60_000);
});
