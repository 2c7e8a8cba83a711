// What a delivery on a shared mail root counts against a quota (quota-room.ts), on a real
// Maildir: rooms other deliveries hold, messages in new/ and cur/, each once; a room left by a
// daemon killed mid-delivery counts only until it is stale, and a crash's tmp/ file not at all.
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { messageName, uidOf } from '../../src/maildir/maildir.js';
import { freeRoom, holdRoom, usedOnDisk } from '../../src/maildir/quota-room.js';

const root = mkdtempSync(join(tmpdir(), 'vmail-room-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function maildir(name: string): string {
  const dir = join(root, name);
  for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(dir, sub), { recursive: true });
  return dir;
}

describe('quota rooms', () => {
  it('counts held rooms and stored messages once each, not its own, not stale rooms or crash leftovers', async () => {
    const dir = maildir('a');
    const mine = messageName(100, 110);
    const other = messageName(200, 210);
    const stored = messageName(300, 310);
    const stale = messageName(400, 410);
    expect(await holdRoom(dir, mine)).not.toBeNull();
    const otherRoom = await holdRoom(dir, other);
    // Another delivery's message already in new/ while its room is still held: counted once.
    writeFileSync(join(dir, 'new', other), 'x'.repeat(200));
    writeFileSync(join(dir, 'cur', `${stored}:2,S`), 'x'.repeat(300));
    // A room left by a daemon killed 11 minutes ago, and a half-written file a crash left in tmp/.
    const staleRoom = await holdRoom(dir, stale);
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(staleRoom!, old, old);
    writeFileSync(join(dir, 'tmp', messageName(500, 510)), 'half');
    expect(await usedOnDisk(dir, uidOf(mine))).toEqual({ bytes: 210 + 310, messages: 2 });
    await freeRoom(otherRoom);
    expect(await usedOnDisk(dir, uidOf(mine))).toEqual({ bytes: 210 + 310, messages: 2 });
  });

  it('holds no room in a Maildir without tmp/, and a room cannot be made twice', async () => {
    expect(await holdRoom(join(root, 'gone'), messageName(1, 1))).toBeNull();
    const dir = maildir('b');
    const name = messageName(10, 10);
    await holdRoom(dir, name);
    await expect(holdRoom(dir, name)).rejects.toThrow(/EEXIST/);
    // A symlink where the room goes is not followed: the room is refused, nothing is written through it.
    const target = join(root, 'target');
    const linked = messageName(20, 20);
    symlinkSync(target, join(dir, 'tmp', `${linked},R`));
    await expect(holdRoom(dir, linked)).rejects.toThrow(/EEXIST/);
    expect(existsSync(target)).toBe(false);
  });
});
