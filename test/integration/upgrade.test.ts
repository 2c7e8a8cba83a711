// The store's schema version: a store made by vmail 0.1.0 (fixtures/stores/v0.1.0, no version)
// is migrated when a newer daemon starts on it, a copy of it kept first, and then serves: its
// accounts log in over POP3 with the passwords (and the old imported hash) they had, its mail
// keeps its UIDLs, its pending change its id. A store stamped with a version from the future is
// refused with exit 78 and a line saying to upgrade vmail, and is left as it was.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LOOPBACK_LISTENERS, ROOT, runCli, startDaemon, tempDir } from '../helpers/daemon.js';
import { pop3Login, pop3Uidls } from '../helpers/effects.js';

const FIXTURE = join(ROOT, 'fixtures/stores/v0.1.0');

/** A data dir holding a copy of the fixture, with the Maildir folders git does not keep. */
function fixtureDir(): string {
  const dir = tempDir('vmail-upgrade-');
  cpSync(join(FIXTURE, 'vmail.sqlite'), join(dir, 'vmail.sqlite'));
  cpSync(join(FIXTURE, 'mail'), join(dir, 'mail'), { recursive: true });
  for (const domain of readdirSync(join(dir, 'mail')))
    for (const box of readdirSync(join(dir, 'mail', domain)))
      for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(dir, 'mail', domain, box, f), { recursive: true });
  return dir;
}

/** The store's meta row `key` as keyv keeps it (read with Python's sqlite3, not with vmail). */
function metaRow(file: string, key: string): unknown {
  const py = `import sqlite3,sys
r=sqlite3.connect(sys.argv[1]).execute("select value from meta where key=?",(sys.argv[2],)).fetchone()
print(r[0] if r else 'null')`;
  const text = execFileSync('python3', ['-c', py, file, `meta:${key}`], { encoding: 'utf8' }).trim();
  return text === 'null' ? null : (JSON.parse(text) as { value: unknown }).value;
}

function setMetaRow(file: string, key: string, value: unknown): void {
  const py = `import sqlite3,sys
c=sqlite3.connect(sys.argv[1]); c.execute("insert or replace into meta(key,value) values(?,?)",(sys.argv[2],sys.argv[3])); c.commit()`;
  execFileSync('python3', ['-c', py, file, `meta:${key}`, JSON.stringify({ value, expires: null })]);
}

const daemonArgs = (dir: string) => ['daemon', '--data-dir', dir, ...LOOPBACK_LISTENERS, '--apply-interval', '7d'];

describe('schema version', () => {
  test('the 0.1.0 store is migrated at start, a copy kept first, and serves as before', async () => {
    const dir = fixtureDir();
    const store = join(dir, 'vmail.sqlite');
    expect(metaRow(store, 'schema')).toBeNull();
    const before = readFileSync(store);
    const d = await startDaemon({ dataDir: dir, domains: ['one.test', 'two.test'] });
    expect(d.output()).toMatch(/store migrated.*from=1.*to=3/);
    // The copy made before migrating is the 0.1.0 store: no version row, the same accounts.
    const copy = `${store}.before-v3`;
    expect(existsSync(copy)).toBe(true);
    expect(metaRow(copy, 'schema')).toBeNull();
    expect(before.length).toBeGreaterThan(0);
    expect(await pop3Login(d.pop3Port, 'alice@one.test', 'alice-secret-1')).toMatchObject({ ok: true, stat: [1, 312] });
    expect(await pop3Login(d.pop3Port, 'bob@two.test', 'bob-secret-22')).toMatchObject({ ok: true });
    // The imported {SHA512-CRYPT} hash from 0.1.0 still logs in.
    expect(await pop3Login(d.pop3Port, 'carol@one.test', 'carol-old-333')).toMatchObject({ ok: true, stat: [1, 312] });
    expect((await pop3Login(d.pop3Port, 'carol@one.test', 'wrong')).ok).toBe(false);
    const alice = readdirSync(join(dir, 'mail/one.test/alice/new'))[0].split(',')[0];
    expect(await pop3Uidls(d.pop3Port, 'alice@one.test', 'alice-secret-1')).toEqual([alice]);
    const pending = JSON.parse((await d.cli(['pending', 'list', '--json'])).stdout) as { id: string; name: string }[];
    const old = JSON.parse(readFileSync(join(FIXTURE, 'pending.json'), 'utf8')) as { id: string; appliesAt: string }[];
    expect(pending).toMatchObject(old.map((p) => ({ id: p.id, name: 'dave', appliesAt: p.appliesAt })));
    const forwards = JSON.parse((await d.cli(['forwards', 'list', '--json'])).stdout) as { address: string }[];
    expect(forwards.map((f) => f.address)).toEqual(['info@one.test']);
    expect(await d.stop()).toBe(0);
    expect(metaRow(store, 'schema')).toMatchObject({ version: 3, from: 1 });
    // A second start finds it current: nothing migrated again.
    const again = await startDaemon({ dataDir: dir, domains: ['one.test', 'two.test'] });
    expect(again.output()).not.toMatch(/store migrated/);
    expect(await pop3Login(again.pop3Port, 'alice@one.test', 'alice-secret-1')).toMatchObject({ ok: true });
    await again.stop();
  });

  test('a new store is stamped with the current version', async () => {
    const d = await startDaemon();
    await d.stop();
    expect(metaRow(join(d.dataDir, 'vmail.sqlite'), 'schema')).toMatchObject({ version: 3 });
    expect(existsSync(join(d.dataDir, 'vmail.sqlite.before-v3'))).toBe(false);
  });

  test('a store from a newer vmail is refused with exit 78 and left as it was', async () => {
    const dir = fixtureDir();
    const store = join(dir, 'vmail.sqlite');
    setMetaRow(store, 'schema', { version: 99 });
    const before = readFileSync(store);
    const r = await runCli([...daemonArgs(dir), '--domain', 'one.test']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('is schema 99, this vmail');
    expect(r.stderr).toContain('knows up to 3: upgrade vmail');
    expect(r.stdout).not.toContain('ready');
    expect(readFileSync(store).equals(before)).toBe(true);
    expect(existsSync(`${store}.before-v3`)).toBe(false);
  });
});
