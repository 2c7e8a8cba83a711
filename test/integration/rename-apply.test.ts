// A rename as the apply engine does it, on a real store and Maildir, with a clock the test
// moves: done again after a crash that had moved the Maildir already, and the forward it leaves
// behind stopping at its time and going at the next apply after it.
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApplyEngine } from '../../src/daemon/apply-engine.js';
import { ChangeQueue } from '../../src/daemon/change-queue.js';
import { Logger } from '../../src/log.js';
import { maildirPath } from '../../src/maildir/paths.js';
import { LocalDelivery } from '../../src/smtp/local-delivery.js';
import { hashPassword } from '../../src/store/passwords.js';
import { Store } from '../../src/store/store.js';
import { cleanUp, tempDir } from '../helpers/daemon.js';

afterAll(cleanUp);

describe('rename, applied', () => {
  it('finds the Maildir moved by an apply a crash cut short; the old name forwards until its time, then goes', async () => {
    const dir = tempDir();
    const store = await Store.open(dir);
    // The real clock, moved by the test: delivery routes by the real one.
    let now = Date.now();
    await store.addDomain('x.test', now);
    const changes = new ChangeQueue(store, 3_600_000, () => now);
    const engine = new ApplyEngine(changes, store, dir, new Logger('error', () => {}));
    const a = { name: 'ann', domain: 'x.test' };
    const hash = await hashPassword('pw-123456');
    await changes.request({ kind: 'account', action: 'add', address: a, passwordHash: hash }, 'test');
    await engine.apply();
    const from = maildirPath(dir, 'x.test', 'ann');
    writeFileSync(join(from, 'new', '1795912890.M1P1.vm,S=10'), 'Subject: x\n');
    await changes.request(
      { kind: 'account', action: 'rename', address: a, newName: 'anna', keepForwardMs: 3_600_000 },
      'test',
    );
    // A crash after the Maildir moved, before the store committed: the next apply finishes it.
    const to = maildirPath(dir, 'x.test', 'anna');
    renameSync(from, to);
    const r = await engine.apply();
    expect(r.failed).toEqual([]);
    expect(existsSync(join(to, 'new', '1795912890.M1P1.vm,S=10'))).toBe(true);
    expect(store.accounts.has('ann@x.test')).toBe(false);
    expect(store.accounts.get('anna@x.test')?.passwordHash).toBe(hash);
    expect(store.forwards.get('ann@x.test')).toMatchObject({
      destinations: ['anna@x.test'],
      expiresAt: now + 3_600_000,
    });

    const delivery = new LocalDelivery(
      store,
      dir,
      () => {
        throw new Error('no queue here');
      },
      { naming: () => {}, added: () => {}, changed: () => {}, usage: () => ({ messages: 0, bytes: 0 }) },
    );
    expect(delivery.route('ann@x.test').kind).toBe('forward');
    // Its time up, it stops at once (route uses the real clock: the record says when)...
    store.forwards.set('ann@x.test', { ...store.forwards.get('ann@x.test')!, expiresAt: Date.now() - 1 });
    expect(delivery.route('ann@x.test').kind).toBe('unknown');
    // ...and the next apply after its time removes it, so the name is free again.
    now += 3_600_001;
    store.forwards.set('ann@x.test', { ...store.forwards.get('ann@x.test')!, expiresAt: now - 1 });
    await engine.apply();
    expect(store.forwards.has('ann@x.test')).toBe(false);
    await store.close();
    // And it stays gone after a restart: the removal was committed.
    const again = await Store.open(dir);
    expect(again.forwards.has('ann@x.test')).toBe(false);
    expect(again.accounts.has('anna@x.test')).toBe(true);
    await again.close();
  });
});
