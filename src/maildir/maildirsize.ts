// Maildir++'s quota file (`maildirsize` in the Maildir), kept up to date so that Dovecot or
// Courier reading the same Maildir see the same quota and usage as vmail: its first line is the
// limit (`10485760S` or `10485760S,1000C`), the next the bytes and messages stored. vmail writes
// the whole file again (a temp file renamed over it: a reader sees the old one or the new one)
// whenever a mailbox with a quota changes; writes for one mailbox never overlap, and a burst of
// changes costs one write after another. Not fsynced (durable.ts rule 8): vmail never reads it,
// a crash leaves an older one whole, and every start writes each one again. Two fsyncs a
// delivery cost 20 senders a third of their messages a second (the smtp bench's quota row).
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Quota } from '../model/changes.js';
import { writeAtomic } from '../support/durable.js';
import type { Logger } from '../support/log.js';

interface Want {
  quota: Quota | null;
  used: { bytes: number; messages: number };
}

export class MaildirSizeFiles {
  /** Per Maildir: what it should say next, and whether a write is under way. */
  private readonly boxes = new Map<string, { next: Want | null; writing: Promise<void> | null }>();

  constructor(private readonly log: Logger) {}

  /** Says what `dir`'s maildirsize should hold: a quota and usage, or no file (no quota). */
  update(dir: string, quota: Quota | null | undefined, used: { bytes: number; messages: number }): Promise<void> {
    let box = this.boxes.get(dir);
    if (!box) {
      box = { next: null, writing: null };
      this.boxes.set(dir, box);
    }
    box.next = { quota: quota ?? null, used };
    if (!box.writing) box.writing = this.drain(dir, box);
    return box.writing;
  }

  private async drain(dir: string, box: { next: Want | null; writing: Promise<void> | null }): Promise<void> {
    while (box.next) {
      const want = box.next;
      box.next = null;
      try {
        await write(dir, want);
      } catch (err) {
        // A Maildir archived or gone meanwhile; the next change writes it again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          this.log.warning('maildirsize not written', { dir, error: (err as Error).message });
      }
    }
    box.writing = null;
    this.boxes.delete(dir);
  }
}

/** The file's text for a quota and usage (Maildir++: sizes in bytes, S for size, C for count). */
export function maildirSizeText(quota: Quota, used: { bytes: number; messages: number }): string {
  const limit = quota.messages === null ? `${quota.bytes}S` : `${quota.bytes}S,${quota.messages}C`;
  return `${limit}\n${used.bytes} ${used.messages}\n`;
}

async function write(dir: string, want: Want): Promise<void> {
  const file = join(dir, 'maildirsize');
  if (!want.quota) {
    await unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return;
  }
  await writeAtomic(file, maildirSizeText(want.quota, want.used), { sync: false });
}
