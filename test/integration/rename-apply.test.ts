// A rename as the apply engine does it, on a real store and Maildir, with a clock the test
// moves: done again after a crash that had moved the Maildir already, and the forward it leaves
// behind stopping at its time and going at the next apply after it.
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApplyEngine } from '../../src/daemon/apply-engine.js';
import { ChangeQueue } from '../../src/daemon/change-queue.js';
import { maildirPath, stampMaildir } from '../../src/maildir/paths.js';
import { LocalDelivery } from '../../src/smtp/local-delivery.js';
import { hashPassword } from '../../src/store/passwords.js';
import { Store } from '../../src/store/store.js';
import { Logger } from '../../src/support/log.js';
import { cleanUp, tempDir } from '../helpers/daemon.js';

afterAll(cleanUp);

/** The id of the change a request queued. */
const idOf = (r: { queued: { id: string } } | { cancelled: { id: string } }) =>
  'queued' in r ? r.queued.id : r.cancelled.id;

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

  it('converges when the old name was made again after the move (mail in both): one Maildir, every message, nothing archived lost', async () => {
    const dir = tempDir();
    const store = await Store.open(dir);
    await store.addDomain('x.test', Date.now());
    const changes = new ChangeQueue(store, 3_600_000);
    const engine = new ApplyEngine(changes, store, dir, new Logger('error', () => {}));
    const a = { name: 'tom', domain: 'x.test' };
    await changes.request(
      { kind: 'account', action: 'add', address: a, passwordHash: await hashPassword('pw-123456') },
      'test',
    );
    await engine.apply();
    const from = maildirPath(dir, 'x.test', 'tom');
    writeFileSync(join(from, 'new', '1795912890.M1P1.vm,S=10'), 'Subject: 1\n');
    const change = await changes.request(
      { kind: 'account', action: 'rename', address: a, newName: 'ted', keepForwardMs: 0 },
      'test',
    );
    // What a crash after the (stamped) move and a delivery that made the old folder again leave.
    const to = maildirPath(dir, 'x.test', 'ted');
    await stampMaildir(from, idOf(change));
    renameSync(from, to);
    for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(from, f), { recursive: true });
    writeFileSync(join(from, 'new', '1795912891.M2P1.vm,S=10'), 'Subject: 2\n');
    const r = await engine.apply();
    expect(r.failed).toEqual([]);
    expect(readdirSync(join(to, 'new')).sort()).toEqual(['1795912890.M1P1.vm,S=10', '1795912891.M2P1.vm,S=10']);
    expect(existsSync(from)).toBe(false);
    expect(store.accounts.has('ted@x.test')).toBe(true);
    await store.close();
  });

  it("an add never takes over a folder of its name holding mail (to the archive), nor a rename the target name's", async () => {
    const dir = tempDir();
    const store = await Store.open(dir);
    await store.addDomain('x.test', Date.now());
    const changes = new ChangeQueue(store, 3_600_000);
    const engine = new ApplyEngine(changes, store, dir, new Logger('error', () => {}));
    const hash = await hashPassword('pw-123456');
    // Folders an old account of each name left, with mail in them.
    for (const n of ['old', 'taken']) {
      const box = maildirPath(dir, 'x.test', n);
      for (const f of ['tmp', 'new', 'cur']) mkdirSync(join(box, f), { recursive: true });
      writeFileSync(join(box, 'new', `1795912890.M1P1.${n},S=10`), `Subject: ${n}\n`);
    }
    const add = await changes.request(
      { kind: 'account', action: 'add', address: { name: 'old', domain: 'x.test' }, passwordHash: hash },
      'test',
    );
    const sam = { name: 'sam', domain: 'x.test' };
    await changes.request({ kind: 'account', action: 'add', address: sam, passwordHash: hash }, 'test');
    expect((await engine.apply()).failed).toEqual([]);
    writeFileSync(join(maildirPath(dir, 'x.test', 'sam'), 'new', '1795912891.M1P1.sam,S=10'), 'Subject: sam\n');
    const rename = await changes.request(
      { kind: 'account', action: 'rename', address: sam, newName: 'taken', keepForwardMs: 0 },
      'test',
    );
    expect((await engine.apply()).failed).toEqual([]);
    expect(readdirSync(join(maildirPath(dir, 'x.test', 'old'), 'new'))).toEqual([]);
    expect(readdirSync(join(maildirPath(dir, 'x.test', 'taken'), 'new'))).toEqual(['1795912891.M1P1.sam,S=10']);
    expect(readdirSync(join(dir, 'archive/x.test', `old-${idOf(add)}`, 'new'))).toEqual(['1795912890.M1P1.old,S=10']);
    expect(readdirSync(join(dir, 'archive/x.test', `taken-${idOf(rename)}`, 'new'))).toEqual([
      '1795912890.M1P1.taken,S=10',
    ]);
    await store.close();
  });
});
