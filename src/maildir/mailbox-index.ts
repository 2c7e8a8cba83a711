// Every account's mailbox size ({messages, bytes} as POP3 LIST reports), kept current without
// rescanning 10,000 Maildirs per request: counted on each delivery, listed again after POP3
// deletions, and when another program changes a Maildir (a restore, an rsync from the old
// server, another delivery agent): new/ and cur/ are watched (inotify, two watches per
// account), with a periodic sweep of folder times as the fallback where watches run out.
// Emits 'size' (address, MailboxSize) when a size moves.
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '../log.js';
import { cleanTmp, folderStamp, listStamped } from './maildir.js';

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
  /** Watches on new/ and cur/, or null when there are none (the sweep covers it). */
  watchers: FSWatcher[] | null;
  /** File names whose events this daemon caused (its deliveries and deletions). */
  expected: Set<string>;
  soon: NodeJS.Timeout | null;
  /** When the oldest message on the server was delivered (ms, from its name), or null. */
  oldest: number | null;
}

const EMPTY: MailboxSize = { messages: 0, bytes: 0 };
/** Files in tmp/ older than this are what a crash left behind (the Maildir convention). */
const TMP_STALE_MS = 36 * 3_600_000;
const TMP_CLEAN_EVERY_MS = 8 * 3_600_000;
/** Events within this long of each other are answered with one listing. */
const SETTLE_MS = 100;

export class MailboxIndex extends EventEmitter {
  private readonly boxes = new Map<string, Entry>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private cleanTimer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private watchesRanOut = false;

  constructor(private readonly log: Logger = new Logger('error', () => {})) {
    super();
  }

  /** Watches on Maildir folders in use (two per tracked account, where the system allows). */
  get watches(): number {
    let n = 0;
    for (const e of this.boxes.values()) n += e.watchers?.length ?? 0;
    return n;
  }

  get(address: string): MailboxSize {
    const e = this.boxes.get(address);
    return e ? { messages: e.messages, bytes: e.bytes } : EMPTY;
  }

  has(address: string): boolean {
    return this.boxes.has(address);
  }

  /** When the oldest message still in the mailbox arrived (ms), or null when it is empty. */
  oldest(address: string): number | null {
    const e = this.boxes.get(address);
    return e && e.messages > 0 ? e.oldest : null;
  }

  /** Starts tracking a Maildir; its size is known once the returned promise resolves. */
  track(address: string, dir: string): Promise<void> {
    this.entry(address, dir);
    return this.refresh(address);
  }

  /**
   * Starts tracking a Maildir that was just created: it is empty, so nothing is listed now; the
   * empty stamp makes the next sweep list it anyway, in case files were already there.
   */
  trackNew(address: string, dir: string): void {
    const e = this.entry(address, dir);
    if (!e.watchers) this.watch(address, e);
  }

  private entry(address: string, dir: string): Entry {
    let e = this.boxes.get(address);
    if (!e) {
      e = {
        dir,
        messages: 0,
        bytes: 0,
        stamp: '',
        refreshing: null,
        again: false,
        watchers: null,
        expected: new Set(),
        soon: null,
        oldest: null,
      };
      this.boxes.set(address, e);
    }
    return e;
  }

  forget(address: string): void {
    const e = this.boxes.get(address);
    this.boxes.delete(address);
    if (!e) return;
    this.unwatch(e);
    if (e.messages || e.bytes) this.emit('size', address, EMPTY);
  }

  /** Watches new/ and cur/; where that is not possible the sweep notices changes instead. */
  private watch(address: string, e: Entry): void {
    const watchers: FSWatcher[] = [];
    try {
      for (const folder of ['new', 'cur']) {
        const w = watch(join(e.dir, folder), { persistent: false }, (_event, file) =>
          this.changedUnder(address, e, file),
        );
        // The folder went away (removed by hand, or archived): the sweep takes over until the
        // next listing watches again.
        w.on('error', () => this.unwatch(e));
        watchers.push(w);
      }
      e.watchers = watchers;
    } catch (err) {
      for (const w of watchers) w.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' && !this.watchesRanOut) {
        this.watchesRanOut = true;
        this.log.warning('maildir watches exhausted', {
          in_use: this.watches,
          fallback: 'further Maildirs are checked every sweep',
          fix: 'raise fs.inotify.max_user_watches',
        });
      }
    }
  }

  private unwatch(e: Entry): void {
    for (const w of e.watchers ?? []) w.close();
    e.watchers = null;
    if (e.soon) clearTimeout(e.soon);
    e.soon = null;
  }

  /** A file appeared, moved or went in new/ or cur/: if this daemon did not do it, list again. */
  private changedUnder(address: string, e: Entry, file: string | Buffer | null): void {
    const name = file === null ? null : String(file);
    if (name !== null && e.expected.delete(name)) return;
    if (e.soon || this.boxes.get(address) !== e) return;
    e.soon = setTimeout(() => {
      e.soon = null;
      void this.refresh(address);
    }, SETTLE_MS);
    e.soon.unref();
  }

  /** Notes files this daemon is about to add or remove, so their events do not list again. */
  private expect(e: Entry, files: readonly string[]): void {
    // A watch that lost its events must not make the set grow without end.
    if (e.expected.size > 10_000) e.expected.clear();
    if (e.watchers) for (const f of files) e.expected.add(f);
  }

  /** Notes that POP3 is about to delete these files (by name); list again with refresh() after. */
  removing(address: string, files: readonly string[]): void {
    const e = this.boxes.get(address);
    if (e) this.expect(e, files);
  }

  /** Notes the name of a message about to be renamed into new/ by this daemon. */
  naming(address: string, file: string): void {
    const e = this.boxes.get(address);
    if (e) this.expect(e, [file]);
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
    if (e.messages === 0) e.oldest = Date.now();
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
          if (!e.watchers && this.boxes.get(address) === e) this.watch(address, e);
          const bytes = messages.reduce((sum, m) => sum + m.size, 0);
          // Sorted by delivery time, names without one last.
          const first = messages[0]?.time;
          e.oldest = first !== undefined && first < Number.MAX_SAFE_INTEGER ? first * 1000 : null;
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

  /**
   * Removes what crashes left in tmp/ of every Maildir: soon after start (in the background,
   * one Maildir after another), then every few hours.
   */
  startCleaning(firstAfterMs = 10_000): void {
    const run = async () => {
      let removed = 0;
      for (const e of [...this.boxes.values()]) {
        if (!this.sweeping) return;
        removed += await cleanTmp(e.dir, TMP_STALE_MS).catch(() => 0);
      }
      if (removed)
        this.log.notice('maildir tmp cleaned', { removed, older_than: '36h', left_by: 'interrupted deliveries' });
    };
    const loop = (delay: number) => {
      this.cleanTimer = setTimeout(() => void run().finally(() => this.sweeping && loop(TMP_CLEAN_EVERY_MS)), delay);
      this.cleanTimer.unref();
    };
    loop(firstAfterMs);
  }

  stop(): void {
    this.sweeping = false;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    if (this.cleanTimer) clearTimeout(this.cleanTimer);
    this.sweepTimer = null;
    for (const e of this.boxes.values()) this.unwatch(e);
  }
}
