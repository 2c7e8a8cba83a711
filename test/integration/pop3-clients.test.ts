// Mail clients that fight (issue 31 item 4): two POP3 clients from different loopback
// addresses (127.0.0.2 and 127.0.0.3, Python's poplib bound to each), one leaving mail on the
// server and one deleting, make the account's health say so in `accounts list --json`; one
// deleting what the other has not fetched yet is counted against the other. A single client,
// however often it fetches, is no fight. The attacker's side: thousands of deletions of UIDLs
// never fetched stay a count (the record is bounded).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonHandle, ROOT, startDaemon, waitFor } from '../helpers/daemon.js';
import { setup, smtplib } from '../helpers/effects.js';

const run = promisify(execFile);
let d: DaemonHandle;

type Health = { clients: number; clientsNote: string | null; deletedUnseen: Record<string, number> };

async function health(name: string): Promise<Health> {
  const r = await d.cli(['accounts', 'list', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { name: string; health: Health }[]).find((a) => a.name === name)!.health;
}

async function pop(user: string, from: string, keep: boolean): Promise<{ uidl: string[] }> {
  const script = join(ROOT, 'test/helpers/pop3_fetch_delete.py');
  const r = await run('python3', [script, String(d.pop3Port), user, 'password-1', keep ? 'keep' : 'delete', from]);
  const out = JSON.parse(r.stdout) as { auth: string; uidl: string[]; quit: string };
  expect(out.auth).toMatch(/^\+OK/);
  expect(out.quit).toMatch(/^\+OK/);
  return out;
}

async function send(to: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await smtplib(
      d.smtpPort,
      'x@sender.example',
      [to],
      `Subject: ${tag}${i}\r\nMessage-ID: <${tag}${i}@x>\r\n\r\nhi\r\n`,
    );
    expect(r.ok, JSON.stringify(r)).toBe(true);
  }
}

beforeAll(async () => {
  d = await startDaemon();
  await setup(d, ['family', 'solo']);
}, 60_000);
afterAll(async () => {
  await d?.stop();
});

describe('clients that fight over one POP3 mailbox', () => {
  it('one client alone, fetching and deleting again and again, is no fight', async () => {
    await send('solo@example.test', 2, 's');
    await pop('solo@example.test', '127.0.0.2', true);
    await pop('solo@example.test', '127.0.0.2', false);
    const h = await waitFor(async () => {
      const x = await health('solo');
      return x.clients === 1 ? x : null;
    }, 'one client counted');
    expect(h.clientsNote).toBeNull();
  });

  it('127.0.0.2 leaves mail, 127.0.0.3 deletes it: the health says so; then 127.0.0.3 deletes what 127.0.0.2 never saw', async () => {
    await send('family@example.test', 3, 'f');
    expect((await pop('family@example.test', '127.0.0.2', true)).uidl).toHaveLength(3);
    expect((await health('family')).clientsNote).toBeNull();
    expect((await pop('family@example.test', '127.0.0.3', false)).uidl).toHaveLength(3);
    const h = await waitFor(async () => {
      const x = await health('family');
      return x.clientsNote ? x : null;
    }, 'the fight in the health');
    expect(h.clients).toBe(2);
    expect(h.clientsNote).toBe('fetched by 2 clients; 127.0.0.2 leaves mail on the server, 127.0.0.3 deletes it');
    // Four more, fetched and deleted by the laptop before the phone looks.
    await send('family@example.test', 4, 'g');
    await pop('family@example.test', '127.0.0.3', false);
    const h2 = await waitFor(async () => {
      const x = await health('family');
      return x.deletedUnseen['127.0.0.2'] ? x : null;
    }, 'the unseen deletions');
    expect(h2.deletedUnseen).toEqual({ '127.0.0.2': 4 });
    expect(h2.clientsNote).toBe('fetched by 2 clients; 4 messages deleted before 127.0.0.2 saw them');
  });
});
