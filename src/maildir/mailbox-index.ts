// Every account's mailbox size ({messages, bytes} as POP3 LIST reports), kept current without
// rescanning 100,000 Maildirs per request: counted on each delivery, listed again after POP3
// deletions, and when another program changes a Maildir (a restore, an rsync from the old
// server, another delivery agent): new/ and cur/ are watched (inotify, two watches per
// account), with a periodic sweep of folder times as the fallback where watches run out.
// The sizes are saved in DATA_DIR/mailbox-index with the folder times they were listed at, so
// a restart lists no Maildir: the first sweep, after the daemon is ready, lists again only
// those whose folders changed since. Emits 'size' (address, MailboxSize) when a size moves.
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { domainOf } from '../model/names.js';
import { sweepTemps, writeAtomic } from '../support/durable.js';
import { Logger } from '../support/log.js';
import { cleanTmp, folderStampNow, listStamped } from './maildir.js';
import { SavedSizes } from './saved-sizes.js';

export interface MailboxSize {
  messages: number;
  bytes: number;
}

interface Entry extends MailboxSize {
  dir: string;
  /** mtimes of new/ and cur/ when last listed. */
  stamp: string;
  /** The counts are what a listing at `stamp` found, and no change can hide behind its times. */
  settled: boolean;
  refreshing: Promise<void> | null;
  again: boolean;
  /** Watches on new/ and cur/, or null when there are none (the sweep covers it). */
  watchers: FSWatcher[] | null;
  /** File names whose events this daemon caused (its deliveries and deletions). */
  expected: Set<string> | null;
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
/** The saved index's first line (read back in saved-sizes.ts). */
const SAVED_HEADER = 'vmail-mailbox-index 1';
/** Mailboxes watched at most: 40,000 watches, about 35 MB. */
const WATCH_LIMIT = 20_000;
/** Maildirs listed at once when a start has to list them. */
const LISTING_AT_ONCE = 32;
/** How often changed sizes are saved (and at every stop). */
const SAVE_EVERY_MS = 60_000;

/**
 * Maildirs a sweep (or a cleaning of tmp/) visits a second at most: 100,000 take under two
 * minutes, at a few per cent of a core, and never crowd out the mail the daemon is serving.
 */
const VISITS_PER_SECOND = 1000;

/** Waits, every 100 visits, for as long as keeps `visits` since `since` to the pace. */
async function pace(visits: number, since: number): Promise<void> {
  if (visits % 100) return;
  const ahead = (visits / VISITS_PER_SECOND) * 1000 - (Date.now() - since);
  if (ahead > 0) await new Promise((r) => setTimeout(r, ahead).unref());
}

/** A mailbox not listed yet: empty, with no folder times. */
function newEntry(dir: string): Entry {
  return {
    dir,
    messages: 0,
    bytes: 0,
    stamp: '',
    settled: false,
    refreshing: null,
    again: false,
    watchers: null,
    expected: null,
    soon: null,
    oldest: null,
  };
}

export class MailboxIndex extends EventEmitter {
  private readonly boxes = new Map<string, Entry>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private cleanTimer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private watchesRanOut = false;
  /** Mailboxes with watches. */
  private watched = 0;
  /** Each domain's messages and bytes, summed as its mailboxes' sizes move. */
  private readonly perDomain = new Map<string, MailboxSize>();
  /** The domain whose total was used last, and that total (totals are never dropped). */
  private lastDomain: [string, MailboxSize] | null = null;
  /** What the last run saved, until each account is tracked again (or the first sweep). */
  private saved = new SavedSizes();
  private dirty = false;
  private saveTimer: NodeJS.Timeout | null = null;

  /**
   * file: where sizes are kept across restarts (none: every start lists every Maildir).
   * watchLimit: the most mailboxes watched (each watch costs the daemon about 1 KB, and the
   * system's inotify limit is shared); the sweep alone notices changes in the others.
   */
  constructor(
    private readonly log: Logger = new Logger('error', () => {}),
    private readonly file: string | null = null,
    private readonly watchLimit = WATCH_LIMIT,
  ) {
    super();
  }

  /** Reads what the last run saved; returns how many mailboxes it holds. A missing or torn file holds none. */
  async restore(): Promise<number> {
    if (!this.file) return 0;
    // What a kill -9 cut short beside it (this file's temps, the SRS secret's ...): an hour old
    // is no write under way, even of another daemon saving its own sizes in the same folder.
    await sweepTemps(dirname(this.file), 3_600_000).catch((err: Error) =>
      this.log.warning('temps not swept', { dir: dirname(this.file!), error: err.message }),
    );
    // No saved index (a first start, or unreadable): the mailboxes are measured from their files.
    this.saved = SavedSizes.parse(await readFile(this.file, 'utf8').catch(() => ''));
    return this.saved.size;
  }

  /**
   * Saves every size with the folder times it was listed at: `listed` when that listing can be
   * trusted, `counted` when it was counted on since (deliveries) or listed while the folders
   * were changing. A restart shows them at once; its first sweep lists again each `counted`
   * one and each whose folders changed. Not fsynced: a lost or torn file only means listing.
   */
  async save(): Promise<void> {
    if (!this.file) return;
    this.dirty = false;
    const lines = [SAVED_HEADER];
    for (const [address, e] of this.boxes) {
      const trust = e.settled && e.stamp && !e.refreshing ? 'listed' : 'counted';
      lines.push(`${address} ${e.messages} ${e.bytes} ${e.oldest ?? '-'} ${e.stamp || '-'} ${trust}`);
    }
    await writeAtomic(this.file, `${lines.join('\n')}\n`, { sync: false });
  }

  /** Watches on Maildir folders in use (two per watched mailbox). */
  get watches(): number {
    return this.watched * 2;
  }

  /** The messages and bytes of every mailbox of `domain` together. */
  totalIn(domain: string): Readonly<MailboxSize> {
    return this.perDomain.get(domain) ?? EMPTY;
  }

  /**
   * The running total of an address's domain. The last one is kept at hand: a start tracks
   * each domain's accounts one after another, so 100,000 need no domain string or lookup each.
   */
  private domainTotal(address: string): MailboxSize {
    const last = this.lastDomain;
    if (last && address.endsWith(last[0]) && address.length - last[0].length - 1 === address.lastIndexOf('@'))
      return last[1];
    const domain = domainOf(address);
    let t = this.perDomain.get(domain);
    if (!t) {
      t = { messages: 0, bytes: 0 };
      this.perDomain.set(domain, t);
    }
    this.lastDomain = [domain, t];
    return t;
  }

  /** Sets a mailbox's size, keeping its domain's total. */
  private resize(address: string, e: Entry, messages: number, bytes: number): void {
    const t = this.domainTotal(address);
    t.messages += messages - e.messages;
    t.bytes += bytes - e.bytes;
    e.messages = messages;
    e.bytes = bytes;
  }

  /** The size of one mailbox (read-only: it moves as the mailbox does). */
  get(address: string): Readonly<MailboxSize> {
    return this.boxes.get(address) ?? EMPTY;
  }

  has(address: string): boolean {
    return this.boxes.has(address);
  }

  /** When the oldest message still in the mailbox arrived (ms), or null when it is empty. */
  oldest(address: string): number | null {
    const e = this.boxes.get(address);
    return e && e.messages > 0 ? e.oldest : null;
  }

  /**
   * Starts tracking a Maildir; its size is known once the returned promise resolves: at once
   * when the last run saved it (the first sweep checks it), else after listing it.
   */
  track(address: string, dir: string): Promise<void> {
    return this.restored(address, dir) ? Promise.resolve() : this.refresh(address);
  }

  /** Tracks a mailbox with the size the last run saved for it; false when it saved none. */
  private restored(address: string, dir: string): boolean {
    if (this.boxes.has(address)) return false;
    const e = newEntry(dir);
    this.boxes.set(address, e);
    if (!this.saved.take(address, e)) return false;
    // Into its domain's total from zero, as a listing's first count goes.
    const { messages, bytes } = e;
    e.messages = 0;
    e.bytes = 0;
    this.resize(address, e, messages, bytes);
    return true;
  }

  /**
   * Tracks every mailbox at start: those the last run saved at once, the rest listed a few at
   * a time (100,000 listings at once would hold them all in memory together).
   */
  async trackAll(mailboxes: Iterable<{ address: string; dir: string }>): Promise<{ restored: number; listed: number }> {
    const unsaved: { address: string; dir: string }[] = [];
    for (const m of mailboxes) if (!this.restored(m.address, m.dir)) unsaved.push(m);
    let next = 0;
    const worker = async () => {
      while (next < unsaved.length) {
        const m = unsaved[next++];
        await this.track(m.address, m.dir);
      }
    };
    await Promise.all(Array.from({ length: LISTING_AT_ONCE }, worker));
    return { restored: this.boxes.size - unsaved.length, listed: unsaved.length };
  }

  /**
   * Starts tracking a Maildir that was just created: it is empty, so nothing is listed now; the
   * empty stamp makes the next sweep list it anyway, in case files were already there.
   * watchNow false (a bulk apply: an inotify watch each costs more than the Maildir itself)
   * leaves the watch to that sweep, as for the mailboxes past the watch limit.
   */
  trackNew(address: string, dir: string, watchNow = true): void {
    const e = this.entry(address, dir);
    if (!e.watchers && watchNow) this.watch(address, e);
  }

  private entry(address: string, dir: string): Entry {
    let e = this.boxes.get(address);
    if (!e) {
      e = newEntry(dir);
      this.boxes.set(address, e);
    }
    return e;
  }

  forget(address: string): void {
    const e = this.boxes.get(address);
    if (!e) return;
    const had = e.messages > 0 || e.bytes > 0;
    this.resize(address, e, 0, 0);
    this.boxes.delete(address);
    this.unwatch(e);
    if (had) this.emit('size', address, EMPTY);
  }

  /** Watches new/ and cur/; where that is not possible the sweep notices changes instead. */
  private watch(address: string, e: Entry): void {
    if (this.watched >= this.watchLimit) {
      if (!this.watchesRanOut) {
        this.watchesRanOut = true;
        this.log.notice('maildir watches at their limit', {
          watched: this.watched,
          mailboxes: this.boxes.size,
          others: 'checked every sweep',
        });
      }
      return;
    }
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
      this.watched++;
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
    if (e.watchers) this.watched--;
    for (const w of e.watchers ?? []) w.close();
    e.watchers = null;
    if (e.soon) clearTimeout(e.soon);
    e.soon = null;
  }

  /** A file appeared, moved or went in new/ or cur/: if this daemon did not do it, list again. */
  private changedUnder(address: string, e: Entry, file: string | Buffer | null): void {
    const name = file === null ? null : String(file);
    if (name !== null && e.expected?.delete(name)) return;
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
    if (!e.watchers) return;
    // Made when first needed: most of 100,000 mailboxes never hold one.
    if (!e.expected || e.expected.size > 10_000) e.expected = new Set();
    for (const f of files) e.expected.add(f);
  }

  /** Notes that POP3 is about to delete these files (by name); list again with refresh() after. */
  removing(address: string, files: readonly string[]): void {
    const e = this.boxes.get(address);
    if (e) this.expect(e, files);
  }

  /** Whether the mailbox's folders are watched (changes in them list it again by themselves). */
  watching(address: string): boolean {
    return Boolean(this.boxes.get(address)?.watchers);
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
    this.resize(address, e, e.messages + 1, e.bytes + bytes);
    // Counted, not listed: a restart lists it again before trusting it.
    e.settled = false;
    this.dirty = true;
    this.emit('size', address, { messages: e.messages, bytes: e.bytes }, 'counted');
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
          const { entries: messages, stamp, settled } = await listStamped(e.dir);
          if (stamp === null) throw new Error('no Maildir');
          e.settled = settled;
          this.dirty = true;
          if (!e.watchers && this.boxes.get(address) === e) this.watch(address, e);
          const bytes = messages.reduce((sum, m) => sum + m.size, 0);
          // Sorted by delivery time, names without one last.
          const first = messages[0]?.time;
          e.oldest = first !== undefined && first < Number.MAX_SAFE_INTEGER ? first * 1000 : null;
          e.stamp = stamp;
          // A mailbox forgotten while it was listed keeps out of its domain's total.
          if (this.boxes.get(address) === e && (messages.length !== e.messages || bytes !== e.bytes)) {
            this.resize(address, e, messages.length, bytes);
            this.emit('size', address, { messages: e.messages, bytes: e.bytes });
          }
        } catch {
          // A Maildir that vanished or cannot be read keeps its last known size until it can.
        }
      } while (e.again);
      e.refreshing = null;
    })();
    return e.refreshing;
  }

  /**
   * Re-lists every Maildir whose new/ or cur/ changed since it was last listed, or whose last
   * listing could have missed a change; watches those not watched yet (first, so a change
   * after the check is seen).
   */
  async sweep(): Promise<void> {
    const since = Date.now();
    let seen = 0;
    for (const [address, e] of this.boxes) {
      await pace(++seen, since);
      if (e.refreshing || !this.sweeping) continue;
      if (!e.watchers && !this.watchesRanOut) this.watch(address, e);
      try {
        const stamp = folderStampNow(e.dir);
        if (stamp && (stamp.key !== e.stamp || !e.settled)) await this.refresh(address);
      } catch {
        // Gone or unreadable: left as it was.
      }
    }
  }

  /**
   * Sweeps now (checking what a restart restored), then every `intervalMs`, and saves the
   * sizes when they moved.
   */
  startSweeping(intervalMs: number): void {
    this.sweeping = true;
    this.saved = new SavedSizes();
    let first = true;
    const loop = (delay: number) => {
      if (!this.sweeping) return;
      this.sweepTimer = setTimeout(() => {
        const since = Date.now();
        void this.sweep().finally(() => {
          // The first sweep checks what a restart restored: an admin (and the apply bench) waits for it.
          if (first && this.sweeping)
            this.log.notice('mailbox index swept', { mailboxes: this.boxes.size, took_ms: Date.now() - since });
          first = false;
          loop(intervalMs);
        });
      }, delay);
      this.sweepTimer.unref();
    };
    loop(0);
    const save = () => {
      this.saveTimer = setTimeout(() => {
        if (!this.dirty) return save();
        this.save()
          .catch((err: Error) => this.log.warning('mailbox sizes not saved', { file: this.file, error: err.message }))
          .finally(() => this.sweeping && save());
      }, SAVE_EVERY_MS);
      this.saveTimer.unref();
    };
    save();
  }

  /**
   * Removes what crashes left in tmp/ of every Maildir: soon after start (in the background,
   * one Maildir after another), then every few hours.
   */
  startCleaning(firstAfterMs = 10_000): void {
    const run = async () => {
      let removed = 0;
      const since = Date.now();
      let seen = 0;
      for (const e of [...this.boxes.values()]) {
        await pace(++seen, since);
        if (!this.sweeping) return;
        // Only leftovers of dead deliveries live in tmp/: what is not swept now is at the next sweep.
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

  /** Stops watching and sweeping, and saves the sizes for the next start. */
  async stop(): Promise<void> {
    this.sweeping = false;
    for (const t of [this.sweepTimer, this.cleanTimer, this.saveTimer]) if (t) clearTimeout(t);
    this.sweepTimer = null;
    for (const e of this.boxes.values()) this.unwatch(e);
    await this.save().catch((err: Error) =>
      this.log.warning('mailbox sizes not saved', { file: this.file, error: err.message }),
    );
  }
}
