// The apply's work folders in each domain's mail folder, names no account can have:
//  - DOMAIN/.add-ID: a queued add's Maildir made while the add waits for the hour
//    (maildir/staged-adds.ts), so that the apply puts it in place with one rename. Made here a
//    second after adds are queued (and at start for those already queued), in slices between
//    which the daemon serves its sockets; removed once their change is gone (applied, cancelled,
//    replaced). Only an optimisation: the apply makes every Maildir it does not find staged.
//  - DOMAIN/.import-ID: an import's folder (import-export/maildir.ts); one left by a crash whose
//    change is no longer pending goes to the archive at start (it may hold moved mail).
// Everything here runs under the queue's lock (ChangeQueue.exclusive), one slice at a time:
// no apply renames or fills a work folder while it is made, judged or removed.

import { dirname, join } from 'node:path';
import { leftoverImports } from '../import-export/maildir.js';
import { domainFolder } from '../maildir/paths.js';
import { domainNames, dropStaged, stageAdd, stagedIds } from '../maildir/staged-adds.js';
import type { PendingChange } from '../model/changes.js';
import type { Store } from '../store/store.js';
import { mkdirDurable, renameDurable } from '../support/durable.js';
import type { Logger } from '../support/log.js';
import type { ChangeQueue } from './change-queue.js';

/** Adds staged under one hold of the queue's lock (a change queued meanwhile waits for at most these). */
const SLICE = 100;
/** Adds staged between two turns of the event loop (sockets are served between them). */
const TURN = 50;
/** How long after a queued change the adds are staged (a bulk import queues thousands in a row). */
const SETTLE_MS = 1000;

export class WorkFolders {
  /** The adds this daemon staged whose change it has not yet seen go: id -> domain. */
  private readonly staged = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private started = false;
  private stopped = false;

  constructor(
    private readonly changes: ChangeQueue,
    private readonly store: Store,
    private readonly dataDir: string,
    private readonly log: Logger,
  ) {
    changes.on('queued', () => this.soon());
    changes.on('cancelled', () => this.soon());
  }

  /**
   * Sweeps what earlier runs left (a readdir of each domain folder), then stages the queued
   * adds; from then on stages and tidies a second after each change queued, cancelled or
   * applied. Called again (a daemon of several that takes the apply lease back), it stages
   * and tidies once more.
   */
  start(): void {
    if (this.started) {
      this.soon();
      return;
    }
    this.started = true;
    this.running = this.work(true).finally(() => this.done());
  }

  /** Stages and tidies in a second (once, however many changes come meanwhile). */
  soon(): void {
    if (!this.started || this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.running) this.again = true;
      else this.running = this.work(false).finally(() => this.done());
    }, SETTLE_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private done(): void {
    this.running = null;
    if (this.again) {
      this.again = false;
      this.soon();
    }
  }

  private async work(sweep: boolean): Promise<void> {
    try {
      if (sweep) await this.changes.exclusive(() => this.sweepLeftovers());
      else await this.changes.exclusive(() => this.tidy());
      await this.stageQueued();
    } catch (err) {
      this.log.warning('work folders not kept', { error: (err as Error).message });
    }
  }

  /** An add the apply would make a new Maildir for: queued, no import, the name free, the domain hosted. */
  private stageable(c: PendingChange | undefined): c is PendingChange {
    return (
      c !== undefined &&
      c.kind === 'account' &&
      c.action === 'add' &&
      !c.importFrom &&
      this.store.domains.has(c.domain) &&
      !this.store.accounts.has(`${c.name}@${c.domain}`)
    );
  }

  /** Makes the queued adds' Maildirs not staged yet, SLICE at a time under the queue's lock. */
  private async stageQueued(): Promise<void> {
    const todo = [...this.store.pending.values()].filter((c) => this.stageable(c) && !this.staged.has(c.id));
    if (!todo.length) return;
    const t0 = performance.now();
    let made = 0;
    let failed: string | null = null;
    const checked = new Set<string>();
    for (let from = 0; from < todo.length && !this.stopped; from += SLICE) {
      await this.changes.exclusive(async () => {
        for (let i = from; i < Math.min(todo.length, from + SLICE); i++) {
          if (i > from && (i - from) % TURN === 0) await new Promise<void>((r) => setImmediate(r));
          // Judged again under the lock: an apply or a cancel may have come between the slices.
          const c = this.store.pending.get(todo[i].id);
          if (!this.stageable(c) || this.staged.has(c.id)) continue;
          try {
            stageAdd(this.dataDir, c.domain, c.id, checked);
            this.staged.set(c.id, c.domain);
            made++;
          } catch (err) {
            // Left to the apply, which makes it the full way (and says what is wrong, if anything
            // is); not tried again, and what was made of it is removed once its change is gone.
            this.staged.set(c.id, c.domain);
            failed ??= `${c.name}@${c.domain}: ${(err as Error).message}`;
          }
        }
      });
    }
    const took_ms = Math.round(performance.now() - t0);
    if (made) this.log.info('adds staged', { adds: made, took_ms });
    if (failed) this.log.warning('adds not staged', { first: failed, note: 'the apply makes their Maildirs' });
  }

  /** Removes the adds this daemon staged whose change is gone (an applied one's was moved into place). */
  private async tidy(): Promise<void> {
    for (const [id, domain] of this.staged) {
      if (this.stageable(this.store.pending.get(id))) continue;
      this.staged.delete(id);
      await this.drop(domain, id);
    }
  }

  /** Removes (or archives) one staged add; a failure is said and the rest goes on. */
  private async drop(domain: string, id: string): Promise<boolean> {
    try {
      await dropStaged(this.dataDir, domain, id);
      return true;
    } catch (err) {
      this.log.warning('staged add not removed', { domain, id, error: (err as Error).message });
      return false;
    }
  }

  /**
   * At start: staged adds whose change is gone are removed (kept for those still queued), and
   * an import's work folder whose change is no longer pending goes to the archive.
   */
  private async sweepLeftovers(): Promise<void> {
    const pending = new Set(this.store.pending.keys());
    for (const domain of this.store.domains.keys()) {
      const folder = domainFolder(this.dataDir, domain);
      if (folder === undefined) continue;
      const names = await domainNames(this.dataDir, domain).catch((err: Error) => {
        this.log.warning('work folders not swept', { domain, error: err.message });
        return [] as string[];
      });
      let removed = 0;
      for (const id of stagedIds(names)) {
        const c = this.store.pending.get(id);
        if (this.stageable(c) && c.domain === domain) continue;
        if (await this.drop(domain, id)) removed++;
      }
      if (removed)
        this.log.info('staged adds removed', { domain, adds: removed, why: 'their change is no longer pending' });
      for (const name of leftoverImports(names, pending)) {
        const to = join(this.dataDir, 'archive', domain, name.slice(1));
        try {
          await mkdirDurable(dirname(to), 0o750);
          await renameDurable(folder + name, to);
          this.log.notice('import leftover archived', { dir: to, why: 'its change is no longer pending' });
        } catch (err) {
          this.log.warning('import leftover not archived', { dir: folder + name, error: (err as Error).message });
        }
      }
    }
  }
}
