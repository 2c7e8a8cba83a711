// Collection health: which mailboxes need attention because nobody fetches their mail, from
// Maildirs and last-login times the test sets up (files with old delivery times, as a
// migrated or neglected mailbox has; logins recorded in the store while the daemon is down).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { cleanUp, startDaemon } from '../helpers/daemon.js';
import { pop3Login } from '../helpers/effects.js';

afterAll(cleanUp);

const DAY = 86_400_000;

describe('collection health', () => {
  it('flags mail never fetched, mail piling up on the server, and no login for long; --stale lists them stalest first', async () => {
    const first = await startDaemon();
    for (const name of ['fresh', 'never', 'piling', 'quiet', 'empty'])
      await first.cli(['accounts', 'add', name, '--password-stdin'], 'password-1\n');
    await first.cli(['pending', 'apply']);
    await first.stop();

    const now = Date.now();
    const put = (name: string, daysAgo: number, n: number) => {
      const dir = join(first.dataDir, 'mail/example.test', name, 'cur');
      mkdirSync(dir, { recursive: true });
      const text = 'Subject: old\r\n\r\nx\r\n';
      const t = Math.floor((now - daysAgo * DAY) / 1000);
      writeFileSync(join(dir, `${t}.M${n}P1.old,S=${text.length},W=${text.length}:2,S`), text);
    };
    put('fresh', 1, 1);
    put('never', 3, 2);
    put('piling', 45, 3);
    put('piling', 2, 4);
    put('quiet', 5, 5);
    const store = await Store.open(first.dataDir);
    store.recordActivity('fresh@example.test', { lastLoginAt: now - 1 * DAY });
    store.recordActivity('piling@example.test', { lastLoginAt: now - 1 * DAY });
    store.recordActivity('quiet@example.test', { lastLoginAt: now - 40 * DAY });
    await store.close();

    const d = await startDaemon({ dataDir: first.dataDir });
    const all = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout) as {
      name: string;
      health: object;
    }[];
    const health = Object.fromEntries(all.map((a) => [a.name, a.health]));
    const noClients = { clients: 0, clientsNote: null, deletedUnseen: {} };
    expect(health).toEqual({
      fresh: { lastLoginDays: 1, oldestDays: 1, piling: false, neverFetched: false, ...noClients },
      never: { lastLoginDays: null, oldestDays: 3, piling: false, neverFetched: true, ...noClients },
      piling: { lastLoginDays: 1, oldestDays: 45, piling: true, neverFetched: false, ...noClients },
      quiet: { lastLoginDays: 40, oldestDays: 5, piling: false, neverFetched: false, ...noClients },
      empty: { lastLoginDays: null, oldestDays: null, piling: false, neverFetched: false, ...noClients },
    });

    const stale = JSON.parse((await d.cli(['accounts', 'list', '--stale', '30d', '--json'])).stdout);
    expect(stale.map((a: { name: string }) => a.name)).toEqual(['piling', 'quiet', 'never']);
    const table = (await d.cli(['accounts', 'list'])).stdout;
    expect(table).toMatch(/piling@example\.test .* mail 45d old/);
    expect(table).toMatch(/never@example\.test .* never fetched/);
    expect(table).toMatch(/fresh@example\.test .* -$/m);

    // A login clears "never fetched"; fetching and deleting the old mail would clear the rest.
    expect((await pop3Login(d.pop3Port, 'never', 'password-1')).ok).toBe(true);
    const after = JSON.parse((await d.cli(['accounts', 'list', '--json'])).stdout);
    expect(after.find((a: { name: string }) => a.name === 'never').health).toMatchObject({
      lastLoginDays: 0,
      neverFetched: false,
    });
    const bad = await d.cli(['accounts', 'list', '--stale', 'soon']);
    expect([bad.code, bad.stderr.trim()]).toEqual([64, 'vmail: --stale "soon": write days like 30d']);
    await d.stop();
  });
});
