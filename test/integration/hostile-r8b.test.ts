// Hostile tests of round 8's changes, by a tester with none of the builders' assumptions: a
// Message-ID now decoded as UTF-8 (so any Unicode character, not only Latin-1's, can reach
// `vmail trace`). Judged by effect: what `vmail trace` prints.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { seedAccounts } from '../helpers/seed.js';

const DOMAIN = 'example.test';

/** Sends the Python bytes expression `message` from x@far.example to `to`; the SMTP code. */
function send(port: number, to: string, message: string): number {
  const r = spawnSync(
    'python3',
    [
      '-c',
      'import sys, smtplib\n' +
        's = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)\n' +
        's.ehlo("client.example")\n' +
        'try:\n' +
        '    s.sendmail("x@far.example", [sys.argv[2]], eval(sys.argv[3])); print(250)\n' +
        'except smtplib.SMTPRecipientsRefused as e:\n' +
        '    print(list(e.recipients.values())[0][0])\n',
      String(port),
      to,
      message,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) throw new Error(`python3: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** A message whose Message-ID is the bytes of the Python bytes literal `id` (b"..."). */
function withId(id: string): string {
  return `b"Subject: id\\r\\nMessage-ID: " + ${id} + b"\\r\\n\\r\\nhi\\r\\n"`;
}

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
    const bytes = `b"${[...Buffer.from(id, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`;
    expect(send(d.smtpPort, `boss@${DOMAIN}`, withId(bytes))).toBe(250);
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
    const bytes = `b"${[...Buffer.from(id, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`;
    expect(send(d.smtpPort, `boss@${DOMAIN}`, withId(bytes))).toBe(250);
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
    const ids = [
      'b"<over\\xc0\\xafl@far.example>"', // overlong "/": not UTF-8, kept as Latin-1 bytes
      'b"<sur\\xed\\xa0\\x80r@far.example>"', // U+D800 as UTF-8: not UTF-8 either
      'b"<nel\\xc2\\x85n@far.example>"', // NEL: C1 once decoded
      'b"<csi\\xc2\\x9b31m@far.example>"', // U+009B, a CSI to many terminals
      'b"<nb\\xc2\\xa0sp@far.example>"', // NBSP: shown, it is a space to read
      `"<${'日'.repeat(100)}@far.example>".encode()`, // over 250 bytes: no Message-ID taken
    ];
    for (const id of ids) expect(send(d.smtpPort, `held@${DOMAIN}`, withId(id))).toBe(250);
    const trace = await waitFor(async () => {
      const r = await d.cli(['trace', `held@${DOMAIN}`]);
      return (r.stdout.match(/delivered/g) ?? []).length >= 6 ? r.stdout : null;
    }, 'all deliveries in the trail');
    for (const line of trace.trimEnd().split('\n')) expect(line).not.toMatch(UNSHOWN);
    expect(trace).toContain('<nel\\x85n@far.example>');
    expect(trace).toContain('<csi\\x9b31m@far.example>');
    expect(trace).toContain('<nb\u00a0sp@far.example>');
    expect(trace).not.toContain('日');
  }, 60_000);
});
