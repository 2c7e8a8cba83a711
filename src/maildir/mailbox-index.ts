// Every account's mailbox size ({messages, bytes} as POP3 LIST reports), kept current without
// rescanning 10,000 Maildirs per request: refreshed after each delivery and POP3 deletion,
// and by a sweep that notices files changed underneath (a restore, a hand copy).
// Emits 'size' (address, MailboxSize) when a size moves.
import { EventEmitter } from 'node:events';
import { folderStamp, listStamped } from './maildir.js';

export interface MailboxSize {
  messages: number;
  bytes: number;
}

interface Entry extends MailboxSize {
  dir: string;
  /** mtimes of new/ and cur/ when last listed. */
  stamp: string;
  refreshing: Promise<void> | null;
  again: boolean;
}

const EMPTY: MailboxSize = { messages: 0, bytes: 0 };

export class MailboxIndex extends EventEmitter {
  private readonly boxes = new Map<string, Entry>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping = false;

  get(address: string): MailboxSize {
    const e = this.boxes.get(address);
    return e ? { messages: e.messages, bytes: e.bytes } : EMPTY;
  }

  has(address: string): boolean {
    return this.boxes.has(address);
  }

  /** Starts tracking a Maildir; its size is known once the returned promise resolves. */
  track(address: string, dir: string): Promise<void> {
    if (!this.boxes.has(address)) {
      this.boxes.set(address, { dir, messages: 0, bytes: 0, stamp: '', refreshing: null, again: false });
    }
    return this.refresh(address);
  }

  /**
   * Starts tracking a Maildir that was just created: it is empty, so nothing is listed now; the
   * empty stamp makes the next sweep list it anyway, in case files were already there.
   */
  trackNew(address: string, dir: string): void {
    if (!this.boxes.has(address)) this.boxes.set(address, { dir, messages: 0, bytes: 0, stamp: '', refreshing: null, again: false });
  }

  forget(address: string): void {
    const e = this.boxes.get(address);
    this.boxes.delete(address);
    if (e && (e.messages || e.bytes)) this.emit('size', address, EMPTY);
  }

  /**
   * Counts a message that just appeared in new/ (called as it is renamed there), without
   * listing the Maildir. A listing that is running may or may not have seen it: it lists again.
   */
  added(address: string, bytes: number): void {
    const e = this.boxes.get(address);
    if (!e) return;
    if (e.refreshing) {
      e.again = true;
      return;
    }
    e.messages += 1;
    e.bytes += bytes;
    this.emit('size', address, { messages: e.messages, bytes: e.bytes });
  }

  /** Lists the Maildir again. Calls made while one runs share a single follow-up listing. */
  refresh(address: string): Promise<void> {
    const e = this.boxes.get(address);
    if (!e) return Promise.resolve();
    if (e.refreshing) {
      e.again = true;
      return e.refreshing;
    }
    e.refreshing = (async () => {
      do {
        e.again = false;
        try {
          const { entries: messages, stamp } = await listStamped(e.dir);
          if (stamp === null) throw new Error('no Maildir');
          const bytes = messages.reduce((sum, m) => sum + m.size, 0);
          e.stamp = stamp;
          if (messages.length !== e.messages || bytes !== e.bytes) {
            e.messages = messages.length;
            e.bytes = bytes;
            if (this.boxes.get(address) === e) this.emit('size', address, { messages: e.messages, bytes: e.bytes });
          }
        } catch {
          // A Maildir that vanished or cannot be read keeps its last known size until it can.
        }
      } while (e.again);
      e.refreshing = null;
    })();
    return e.refreshing;
  }

  /** Re-lists every Maildir whose new/ or cur/ changed since it was last listed. */
  async sweep(): Promise<void> {
    for (const [address, e] of this.boxes) {
      if (e.refreshing) continue;
      try {
        const stamp = await folderStamp(e.dir);
        if (stamp && stamp.key !== e.stamp) await this.refresh(address);
      } catch {
        // Gone or unreadable: left as it was.
      }
    }
  }

  startSweeping(intervalMs: number): void {
    this.sweeping = true;
    const loop = () => {
      if (!this.sweeping) return;
      this.sweepTimer = setTimeout(() => void this.sweep().finally(loop), intervalMs);
      this.sweepTimer.unref();
    };
    loop();
  }

  stop(): void {
    this.sweeping = false;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
  }
}
