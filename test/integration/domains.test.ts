// Domains managed by their effect: `vmail domains add` (mail for it refused until the apply,
// then taken), `domains remove` (refused while it has accounts; with --with-accounts, after the
// apply its mail is refused, its logins fail, its Maildirs are in the archive and its sessions
// are closed), undoing either before the apply, a restart whose --domain still names a removed
// domain, adding it back, and bad input. Real daemon, real SMTP (nodemailer) and POP3 (poplib).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, startDaemon, tempDir, waitFor } from '../helpers/daemon.js';
import { maildirWith, pop3Login, smtpSend } from '../helpers/effects.js';
import { RawPop3 } from '../helpers/pop3.js';
import { RawLines } from '../helpers/raw-socket.js';

let d: DaemonHandle;
const dataDir = tempDir('vmail-domains-');
const start = (domains: string[]) => startDaemon({ dataDir, domains });

async function ok(args: string[], input?: string): Promise<string> {
  const r = await d.cli(args, input);
  expect(r.code, `vmail ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function refused(args: string[], input?: string): Promise<string> {
  const r = await d.cli(args, input);
  expect(r.code, `vmail ${args.join(' ')} should be refused: ${r.stdout}`).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  return r.stderr;
}

interface DomainRow {
  domain: string;
  hosted: boolean;
  accounts: number;
  forwards: number;
  messages: number;
  bytes: number;
  pending: number;
  change: { id: string; action: string } | null;
  catchall: null;
  quota: null;
}
const domains = async () => JSON.parse(await ok(['domains', 'list', '--json'])) as DomainRow[];
const hosted = async () => JSON.parse(await ok(['status', '--json'])).domains as string[];
const mark = (what: string) => `domains-${what}-${Date.now()}`;

beforeAll(async () => {
  d = await start(['alpha.test']);
  await ok(['accounts', 'add', 'ann@alpha.test', '--password-stdin'], 'alpha-pass-1\n');
  await ok(['pending', 'apply']);
}, 30_000);
afterAll(async () => {
  await d?.stop();
});

describe('vmail domains', () => {
  it('add: mail for the domain is refused until the apply, then its accounts take mail', async () => {
    expect(await ok(['domains', 'add', 'Beta.Test.'])).toMatch(/^Queued: add beta\.test, applies at .* \[id \d+\]\n$/);
    expect((await smtpSend(d.smtpPort, 'bob@beta.test', mark('early'))).code).toBe(550);
    const rows = await domains();
    expect(rows.map((r) => [r.domain, r.hosted, r.change?.action ?? null])).toEqual([
      ['alpha.test', true, null],
      ['beta.test', false, 'add'],
    ]);
    expect(Object.keys(rows[0]).sort()).toEqual(
      [
        'accounts',
        'bytes',
        'catchall',
        'change',
        'domain',
        'forwards',
        'hosted',
        'messages',
        'pending',
        'quota',
      ].sort(),
    );
    // Not hosted yet: accounts wait for the domain's apply, and the refusal says how to get there.
    expect(await refused(['accounts', 'add', 'bob@beta.test', '--password-stdin'], 'beta-pass-1\n')).toMatch(
      /beta\.test is not hosted yet.*vmail pending apply --domain beta\.test/,
    );
    expect(await refused(['domains', 'add', 'beta.test'])).toMatch(/being added already/);

    await ok(['pending', 'apply', '--domain', 'beta.test']);
    expect(await hosted()).toEqual(['alpha.test', 'beta.test']);
    // Hosted now: an unknown name is refused as unknown, not as relaying.
    const unknown = await smtpSend(d.smtpPort, 'nobody@beta.test', mark('unknown'));
    expect(unknown.code).toBe(550);
    expect(unknown.response).not.toMatch(/[Rr]elay/);

    await ok(['accounts', 'add', 'bob@beta.test', '--password-stdin'], 'beta-pass-1\n');
    await ok(['forwards', 'add', 'fw@beta.test', 'ann@alpha.test']);
    await ok(['pending', 'apply']);
    const m = mark('bob');
    expect(await smtpSend(d.smtpPort, 'bob@beta.test', m)).toEqual({ accepted: true });
    expect(maildirWith(join(dataDir, 'mail/beta.test/bob'), m)).toHaveLength(1);
    const f = mark('fw');
    expect(await smtpSend(d.smtpPort, 'fw@beta.test', f)).toEqual({ accepted: true });
    await waitFor(() => maildirWith(join(dataDir, 'mail/alpha.test/ann'), f).length === 1, 'the forwarded copy');
    expect((await pop3Login(d.pop3Port, 'bob@beta.test', 'beta-pass-1')).ok).toBe(true);
    const beta = (await domains()).find((r) => r.domain === 'beta.test')!;
    expect(beta).toMatchObject({ hosted: true, accounts: 1, forwards: 1, messages: 1, pending: 0, change: null });
  }, 60_000);

  it('remove: refused while the domain has accounts; with them, after the apply its mail is refused, logins fail, Maildirs are archived', async () => {
    expect(await refused(['domains', 'remove', 'beta.test'])).toMatch(
      /beta\.test still has 1 account\(s\) and 1 forward\(s\)/,
    );
    // A client logged in before the removal, as a phone would be.
    const session = await RawPop3.open(d.pop3Port);
    await session.login('bob@beta.test', 'beta-pass-1');

    expect(await ok(['domains', 'remove', 'beta.test', '--with-accounts'])).toMatch(
      /^Queued: removal beta\.test, .*Its accounts and forwards go with it; their mail is archived\.\n$/,
    );
    const pending = JSON.parse(await ok(['pending', 'list', '--json']));
    expect(pending).toMatchObject([
      { kind: 'domain', action: 'remove', address: 'beta.test', name: '', withAccounts: true },
    ]);
    // While its removal is pending, the domain takes no new accounts; its mail still arrives.
    expect(await refused(['accounts', 'add', 'carol@beta.test', '--password-stdin'], 'beta-pass-2\n')).toMatch(
      /beta\.test is being removed/,
    );
    expect((await smtpSend(d.smtpPort, 'bob@beta.test', mark('before'))).accepted).toBe(true);

    await ok(['pending', 'apply']);
    expect(await hosted()).toEqual(['alpha.test']);
    const after = await smtpSend(d.smtpPort, 'bob@beta.test', mark('after'));
    expect(after.code).toBe(550);
    expect(after.response).toMatch(/[Rr]elaying denied/);
    expect((await smtpSend(d.smtpPort, 'fw@beta.test', mark('fw-after'))).code).toBe(550);
    expect((await pop3Login(d.pop3Port, 'bob@beta.test', 'beta-pass-1')).ok).toBe(false);
    await waitFor(() => session.closed, 'the removed account’s POP3 session to be closed');
    // Its mail is archived, not deleted; the other domain is untouched.
    expect(existsSync(join(dataDir, 'mail/beta.test/bob'))).toBe(false);
    const archived = readdirSync(join(dataDir, 'archive/beta.test'));
    expect(archived).toHaveLength(1);
    expect(archived[0]).toMatch(/^bob-\d+$/);
    expect(readdirSync(join(dataDir, 'archive/beta.test', archived[0], 'new'))).toHaveLength(2);
    expect((await pop3Login(d.pop3Port, 'ann@alpha.test', 'alpha-pass-1')).ok).toBe(true);
    expect(JSON.parse(await ok(['forwards', 'list', '--json']))).toEqual([]);
    expect(d.output()).toMatch(/domain removed domain=beta\.test accounts=1 forwards=1/);
  }, 60_000);

  it('a removed domain stays removed across a restart whose --domain names it, until it is added back', async () => {
    await d.stop();
    d = await start(['alpha.test', 'beta.test']);
    expect(await hosted()).toEqual(['alpha.test']);
    expect(d.output()).toMatch(/domain not added domain=beta\.test/);
    expect((await smtpSend(d.smtpPort, 'bob@beta.test', mark('restart'))).code).toBe(550);

    await ok(['domains', 'add', 'beta.test']);
    await ok(['pending', 'apply']);
    expect(await hosted()).toEqual(['alpha.test', 'beta.test']);
    // Back empty: the old account is in the archive, not revived.
    expect((await pop3Login(d.pop3Port, 'bob@beta.test', 'beta-pass-1')).ok).toBe(false);
    expect((await domains()).find((r) => r.domain === 'beta.test')).toMatchObject({ accounts: 0, forwards: 0 });
  }, 60_000);

  it('undo before the apply: remove cancels a pending add, add cancels a pending removal, and pending cancel works on both', async () => {
    await ok(['domains', 'add', 'gamma.test']);
    expect(await ok(['domains', 'remove', 'gamma.test'])).toMatch(/^Cancelled the pending add of gamma\.test/);
    await ok(['domains', 'remove', 'beta.test']);
    expect(await ok(['domains', 'add', 'beta.test'])).toMatch(/^Cancelled the pending removal of beta\.test/);
    await ok(['domains', 'add', 'delta.test']);
    const [p] = JSON.parse(await ok(['pending', 'list', '--json']));
    await ok(['pending', 'cancel', p.id]);
    await ok(['pending', 'apply']);
    expect(await hosted()).toEqual(['alpha.test', 'beta.test']);
    expect((await smtpSend(d.smtpPort, 'x@gamma.test', mark('gamma'))).code).toBe(550);
  }, 60_000);

  it('bad input is one clear line and changes nothing', async () => {
    expect(await refused(['domains', 'add', 'not a domain'])).toMatch(/is not a valid domain name/);
    expect(await refused(['domains', 'add', 'localhost'])).toMatch(/is not a valid domain name/);
    expect(await refused(['domains', 'add', 'a'.repeat(300)])).toMatch(/is not a valid domain name/);
    expect(await refused(['domains', 'add', 'alpha.test'])).toMatch(/hosted here already/);
    expect(await refused(['domains', 'remove', 'nowhere.test'])).toMatch(/not a domain hosted here/);
    expect((await d.cli(['domains', 'remove'])).code).toBe(64);
    const c = await RawLines.connect(d.socket);
    const r = await c.call('domains.remove', { domain: 'alpha.test', withAccounts: 'yes' });
    expect(r.error).toMatchObject({ code: -32602, message: expect.stringMatching(/withAccounts must be boolean/) });
    const bad = await c.call('domains.add', { domain: 'ev\nil.test' });
    expect(bad.error).toMatchObject({ code: -32000, data: { field: 'domain' } });
    c.socket.destroy();
    expect(JSON.parse(await ok(['pending', 'list', '--json']))).toEqual([]);
    expect(await hosted()).toEqual(['alpha.test', 'beta.test']);
  });

  it('the last domain can go: the daemon keeps running and says how to add one', async () => {
    await ok(['domains', 'remove', 'beta.test']);
    await ok(['domains', 'remove', 'alpha.test', '--with-accounts']);
    await ok(['pending', 'apply']);
    expect(await hosted()).toEqual([]);
    expect(await ok(['domains', 'list'])).toMatch(/No domain is hosted: add one with `vmail domains add DOMAIN`/);
    await d.stop();
    d = await startDaemon({ dataDir, domains: [] });
    expect(d.output()).toMatch(/no domain hosted fix="?vmail domains add DOMAIN/);
    await ok(['domains', 'add', 'alpha.test']);
    await ok(['pending', 'apply']);
    expect(await hosted()).toEqual(['alpha.test']);
  }, 60_000);
});
