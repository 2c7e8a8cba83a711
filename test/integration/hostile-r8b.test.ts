// Hostile tests of round 8's changes, by a tester with none of the builders' assumptions: a
// Message-ID now decoded as UTF-8 (so any Unicode character, not only Latin-1's, can reach
// `vmail trace`), and a symbolic link on the way to an add's Maildir one folder up (the domain
// folder). Judged by effect: what `vmail trace` prints, files on disk, mail where it was.
import { existsSync, lstatSync, readdirSync, rmdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { sendWithId } from '../helpers/effects.js';
import { seedAccounts } from '../helpers/seed.js';

const DOMAIN = 'example.test';

/** Characters a terminal (or a reader of its screen) takes as more than a glyph: controls, formats, line breaks. */
const UNSHOWN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

let d: DaemonHandle;

beforeAll(async () => {
  const dataDir = tempDir('vmail-h8b-');
  await seedAccounts(dataDir, ['boss', 'held']);
  d = await startDaemon({ dataDir, domains: [DOMAIN, 'alias.test', 'out.test'] });
  const r = await d.cli(['pending', 'apply']);
  if (r.code !== 0) throw new Error(`apply: ${r.stderr}`);
}, 60_000);

afterAll(async () => {
  await d?.stop();
});

describe('a UTF-8 Message-ID holding Unicode format characters and line separators (round 8 decodes it as UTF-8)', () => {
  it('vmail trace shows a bidi override, an isolate, U+2028/U+2029, a zero-width space and a tag character escaped, and still finds the message by its id', async () => {
    // Each would reorder, break or hide what follows it on the admin's screen: "<\u202e>" turns
    // "delivered" and the rest of the line around in a terminal that does bidi.
    const id = '<a\u202ertl\u2066iso\u2069\u2028ls\u2029ps\u200bzw\u{e0041}tag@far.example>';
    expect(await sendWithId(d.smtpPort, `boss@${DOMAIN}`, Buffer.from(id, 'utf8'))).toBe(250);
    const trace = await waitFor(async () => {
      const r = await d.cli(['trace', `boss@${DOMAIN}`]);
      return r.stdout.includes('tag@far.example') ? r.stdout : null;
    }, 'the delivery in the trail');
    for (const line of trace.trimEnd().split('\n')) expect(line).not.toMatch(UNSHOWN);
    expect(trace).toContain('\\u{202e}rtl');
    expect(trace).toContain('\\u{2028}ls');
    const one = await d.cli(['trace', `boss@${DOMAIN}`, '--message-id', id]);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
    expect(one.stdout).toContain('\\u{2066}iso\\u{2069}');
  }, 60_000);

  it('vmail trace --json escapes a C1 CSI and a bidi override (JSON.stringify writes them raw), and parses to the same Message-IDs', async () => {
    const id = '<j\u009b31m\u202eson@far.example>';
    expect(await sendWithId(d.smtpPort, `boss@${DOMAIN}`, Buffer.from(id, 'utf8'))).toBe(250);
    const raw = await waitFor(async () => {
      const r = await d.cli(['trace', `boss@${DOMAIN}`, '--json']);
      return r.stdout.includes('son@far.example') ? r.stdout : null;
    }, 'the delivery in the trail');
    expect(raw).not.toMatch(/[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/u);
    const ids = (JSON.parse(raw) as { messageId: string | null }[]).map((e) => e.messageId);
    expect(ids).toContain(id);
    expect(ids).toContain('<a\u202ertl\u2066iso\u2069\u2028ls\u2029ps\u200bzw\u{e0041}tag@far.example>');
  }, 60_000);

  it('held: overlong UTF-8, UTF-8-encoded surrogates, NEL, a CSI as UTF-8 and NBSP reach no terminal raw; a 300-byte id is no crash', async () => {
    // Bytes written as Latin-1 characters: '\xc0\xaf' is the two bytes C0 AF.
    const ids = [
      Buffer.from('<over\xc0\xafl@far.example>', 'latin1'), // overlong "/": not UTF-8, kept as Latin-1 bytes
      Buffer.from('<sur\xed\xa0\x80r@far.example>', 'latin1'), // U+D800 as UTF-8: not UTF-8 either
      Buffer.from('<nel\xc2\x85n@far.example>', 'latin1'), // NEL: C1 once decoded
      Buffer.from('<csi\xc2\x9b31m@far.example>', 'latin1'), // U+009B, a CSI to many terminals
      Buffer.from('<nb\xc2\xa0sp@far.example>', 'latin1'), // NBSP: shown, it is a space to read
      Buffer.from(`<${'日'.repeat(100)}@far.example>`, 'utf8'), // over 250 bytes: no Message-ID taken
    ];
    for (const id of ids) expect(await sendWithId(d.smtpPort, `held@${DOMAIN}`, id)).toBe(250);
    const trace = await waitFor(async () => {
      const r = await d.cli(['trace', `held@${DOMAIN}`]);
      return (r.stdout.match(/delivered/g) ?? []).length >= 6 ? r.stdout : null;
    }, 'all deliveries in the trail');
    for (const line of trace.trimEnd().split('\n')) expect(line).not.toMatch(UNSHOWN);
    expect(trace).toContain('<nel\\x85n@far.example>');
    expect(trace).toContain('<csi\\x9b31m@far.example>');
    expect(trace).toContain('<nb\u00a0sp@far.example>');
    expect(trace).not.toContain('日');
    // An id copied from that output, escapes and all, finds its message (and only it).
    for (const shown of ['<nel\\x85n@far.example>', 'csi\\x9b31m@far.example']) {
      const one = await d.cli(['trace', `held@${DOMAIN}`, '--message-id', shown]);
      expect(one.code, one.stderr).toBe(0);
      expect(one.stdout.trim().split('\n'), shown).toHaveLength(1);
      expect(one.stdout).toContain(shown.replace(/^<?/, '<'));
    }
  }, 60_000);
});

describe('a domain folder that is a symbolic link into the data directory (round 8 refuses a link only at the Maildir itself)', () => {
  it("an add in a domain whose folder links to another domain's is refused: the other account's mail stays in its Maildir, not archived", async () => {
    expect(await sendWithId(d.smtpPort, `boss@${DOMAIN}`, Buffer.from('<keep@far.example>'))).toBe(250);
    const boss = join(d.dataDir, 'mail', DOMAIN, 'boss');
    const before = readdirSync(join(boss, 'new')).sort();
    expect(before.length).toBeGreaterThan(0);
    // The vpopmail way of aliasing a domain: its folder a link to the other's.
    const alias = join(d.dataDir, 'mail', 'alias.test');
    if (existsSync(alias)) rmdirSync(alias);
    symlinkSync(join(d.dataDir, 'mail', DOMAIN), alias);
    expect((await d.cli(['accounts', 'add', 'boss@alias.test', '--password-stdin'], 'pw-alias-boss-1\n')).code).toBe(0);
    const applied = await d.cli(['pending', 'apply']);
    expect(applied.code).toBe(1);
    const errors = applied.stderr.trim().split('\n');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/boss@alias\.test not applied: .*is a symbolic link/);
    expect(readdirSync(join(boss, 'new')).sort()).toEqual(before);
    expect(existsSync(join(d.dataDir, 'archive', 'alias.test'))).toBe(false);
    expect(lstatSync(alias).isSymbolicLink()).toBe(true);
  }, 60_000);

  it('an add named like a domain, in a domain whose folder links to the mail root, is refused: that whole domain stays in place', async () => {
    const out = join(d.dataDir, 'mail', 'out.test');
    if (existsSync(out)) rmdirSync(out);
    symlinkSync(join(d.dataDir, 'mail'), out);
    const boss = join(d.dataDir, 'mail', DOMAIN, 'boss');
    const before = readdirSync(join(boss, 'new')).sort();
    const add = await d.cli(['accounts', 'add', `${DOMAIN}@out.test`, '--password-stdin'], 'pw-out-domain-1\n');
    expect(add.code, add.stderr).toBe(0);
    const applied = await d.cli(['pending', 'apply']);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toMatch(/example\.test@out\.test not applied: .*is a symbolic link/);
    expect(readdirSync(join(boss, 'new')).sort()).toEqual(before);
    expect(existsSync(join(d.dataDir, 'archive', 'out.test'))).toBe(false);
  }, 60_000);
});
