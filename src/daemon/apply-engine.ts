// Making queued changes real: at every whole multiple of the apply interval (and on "apply
// now") the due changes are applied in chunks, the file-system side first (Maildirs made or
// archived; each step idempotent), then each chunk's rows, log and queue in one transaction.
// A tick missed while the daemon was down is applied at start. A change to a domain itself is
// applied alone, in its place in line: a removal takes the domain's accounts (their Maildirs
// archived) and forwards with it. Emits 'accounts' (the accounts that came and went, at each
// chunk's commit) and 'applied' (the result clients see, once the apply is over), which the
// MailboxLifecycle (mailbox-lifecycle.ts) hands on to the daemon's parts.
//
// The crash ordering, for every change: files -> commit -> memory. It is written here once,
// next to the code that keeps it (mox writes each operation's ordering beside it the same way).
//  1. Files: the Maildir is made, imported, moved or archived, each step idempotent and made
//     durable (renames fsynced in both folders) before the next; the new Maildirs of a chunk's
//     adds (most made ahead while they waited, work-folders.ts, and renamed into place) all at
//     once, at its end (one syncfs, durable.ts rule 10). A Maildir an add or a rename
//     puts in place is stamped with the change's id (paths.ts), so a run after a crash tells
//     its own work from a folder somebody else left there: an add never takes over a folder
//     holding mail (it goes to the archive), and a rename merges into its own move the mail
//     an older vmail delivered into a recreated old folder, rather than failing on it forever.
//  2. Commit: the chunk's rows, apply log, audit and queue in one store transaction. A crash
//     before it leaves the change pending and the files done: the next apply does step 1
//     again (finding it done) and commits.
//  3. Memory: routing (the store's maps, right after the commit), then the MailboxLifecycle's
//     subscribers ('accounts': the mailbox index, then the POP3 sessions), which hear another
//     daemon's commits the same way, from the store's change log. Deliveries into a Maildir
//     being moved or archived are held (maildir.ts holdMaildirs) from before step 1 until
//     after step 3's routing, then ask again where the mail goes; delivery never makes a
//     missing Maildir (a daemon elsewhere, or one restarted between 1 and 2, answers 451 and
//     the sender tries again).
// Why this order: a committed account routes mail into its Maildir at once, on every daemon
// sharing the store, so the Maildir must be in place (or in the archive) before the commit;
// files done without a commit are harmless (the change is still pending, its steps
// idempotent). And no part of the daemon may act on a change the store does not hold yet (a
// crash before the commit leaves it pending): memory follows the commit, never leads it.

import { EventEmitter } from 'node:events';
import type { Peer } from '../control/peer.js';
import type { ApplyResult } from '../control/protocol.js';
import { importMaildir } from '../import-export/maildir.js';
import { holdMaildirs } from '../maildir/maildir.js';
import {
  archiveMaildir,
  clearForAdd,
  createForAdd,
  createMaildir,
  madeDurable,
  maildirPath,
  moveMaildir,
} from '../maildir/paths.js';
import { dropStaged, takeStaged } from '../maildir/staged-adds.js';
import type { PendingChange } from '../model/changes.js';
import { metrics } from '../service/metrics.js';
import type { AccountRecord, DomainRecord, ForwardRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../support/log.js';
import { loopTurns } from '../support/loop-turns.js';
import { appliedEntries, expiredEntries, failedEntries, selfPeer } from './audit.js';
import type { ChangeQueue } from './change-queue.js';
import { viewPending } from './views.js';
import { WorkFolders } from './work-folders.js';

const APPLY_CHUNK = 500;

/**
 * Fault injection for the crash tests: VMAIL_CRASH_AT=files (a chunk's file-system side done,
 * not committed) or commit (committed, the daemon's other parts not yet told) kills the daemon
 * with SIGKILL there, at the first chunk that holds a change. Unset in every real run.
 */
const CRASH_AT = process.env.VMAIL_CRASH_AT;

function crashPoint(point: 'files' | 'commit'): void {
  if (CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}

interface PreparedChunk {
  done: PendingChange[];
  accounts: { set: AccountRecord[]; remove: string[] };
  forwards: { set: ForwardRecord[]; remove: string[] };
  domains: DomainRecord[];
  /** Lifts the hold on deliveries into the Maildirs this chunk moves or archives. */
  release: () => void;
}

/** The accounts an apply made and removed: their addresses, and where a new one's Maildir is. */
export interface AccountMoves {
  /** Accounts new to the mailbox index; `moved`: a renamed or imported one, its Maildir full already. */
  added: { address: string; dir: string; moved: boolean }[];
  removed: string[];
}

export class ApplyEngine extends EventEmitter {
  lastApplyError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Queued adds' Maildirs made ahead, and what crashes left (work-folders.ts). */
  private readonly workFolders: WorkFolders;

  constructor(
    private readonly changes: ChangeQueue,
    private readonly store: Store,
    private readonly dataDir: string,
    private readonly log: Logger,
  ) {
    super();
    this.workFolders = new WorkFolders(changes, store, dataDir, log);
  }

  /** Finishes what a crash cut short, applies what is overdue, then keeps the schedule. */
  async start(): Promise<void> {
    const dropped = await this.recover();
    if (dropped) this.log.notice('apply recovered', { changes: dropped, why: 'logged as applied before a crash' });
    await this.tick(this.changes.now());
    // After the daemon is ready, not before it: a readdir of each domain's mail folder.
    this.workFolders.start();
  }

  stop(): void {
    this.stopped = true;
    this.workFolders.stop();
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * Drops queue entries the apply log already holds (a store written before each chunk was one
   * transaction could leave them). Run once at start, before the first apply.
   */
  recover(): Promise<number> {
    return this.changes.exclusive(async () => {
      const logged = [...(await this.store.appliedAmong([...this.store.pending.keys()]))];
      if (logged.length) await this.store.dropPending(logged);
      return logged.length;
    });
  }

  /** Applies every pending change due by `dueBy` (all when omitted) of `domain` (all when omitted), oldest first;
   *  by: who made it happen, for the audit log (the daemon itself for its own tick). */
  apply(opts: { dueBy?: number; domain?: string; by?: Peer } = {}): Promise<ApplyResult> {
    return this.changes.exclusive(async () => {
      const at = this.changes.now();
      const began = performance.now();
      const pending = [...this.store.pending.values()];
      const due = pending
        .filter(
          (c) => (opts.dueBy === undefined || c.appliesAt <= opts.dueBy) && (!opts.domain || c.domain === opts.domain),
        )
        .sort((a, b) => a.seq - b.seq);
      const result: ApplyResult = { applied: [], failed: [], at: new Date(at).toISOString() };
      // Checked again here: what this apply leaves must not loop, even when the rest of the
      // queue (another domain's changes, a change cancelled on a daemon sharing the store)
      // is not applied with it. The change that would loop stays pending, and fails.
      for (const { change: c, loop } of this.changes.loopingAmong(due)) {
        due.splice(due.indexOf(c), 1);
        result.failed.push({
          id: c.id,
          address: c.kind === 'domain' ? c.domain : `${c.name}@${c.domain}`,
          error: `applying it now would make a forwarding loop: ${loop.join(' -> ')}`,
        });
      }
      // Forwards a rename left behind go once their time is up.
      const expired = [...this.store.forwards.values()].filter((f) => f.expiresAt !== undefined && f.expiresAt <= at);
      const by = opts.by ?? selfPeer();
      if (expired.length && !opts.domain) {
        const gone = expired.map((f) => `${f.name}@${f.domain}`);
        await this.store.commitApplied(
          [],
          { set: [], remove: [] },
          { set: [], remove: gone },
          [],
          at,
          expiredEntries(gone, by, at),
        );
        for (const f of expired)
          this.log.info('forward expired', { address: `${f.name}@${f.domain}`, to: f.destinations.join(',') });
      }
      // The file-system work of one chunk overlaps the database commit of the one before it;
      // a domain change waits for what came before it, and is a chunk of its own.
      let committing: Promise<void> = Promise.resolve();
      try {
        for (const chunk of chunks(due)) {
          if (chunk[0].kind === 'domain') {
            await committing;
            committing = this.prepareDomain(chunk[0], at, result).then((p) => this.commitChunk(p, at, result, by));
            await committing;
            continue;
          }
          const prepared = await this.prepareChunk(chunk, at, result);
          await committing.catch((err: Error) => {
            // This chunk is not committed: its held Maildirs take mail again (routing is unchanged).
            prepared.release();
            throw err;
          });
          committing = this.commitChunk(prepared, at, result, by);
        }
      } finally {
        await committing;
      }
      if (opts.domain) result.left = this.store.pending.size;
      // Chunks fail as their calls finish: told in the queue's order (as it was when this apply
      // began: another daemon may cancel a failed change meanwhile), as the admin queued them.
      const seq = new Map(pending.map((c) => [c.id, c.seq]));
      result.failed.sort((a, b) => (seq.get(a.id) ?? 0) - (seq.get(b.id) ?? 0));
      this.lastApplyError = result.failed.length
        ? `${result.failed.length} change(s) failed: ${result.failed[0].error}`
        : null;
      for (const c of result.applied)
        this.log.info('change applied', { id: c.id, kind: c.kind, action: c.action, address: c.address });
      for (const f of result.failed) this.log.warning('change failed', { id: f.id, error: f.error });
      if (result.failed.length)
        await this.store.audit
          .append(...failedEntries(result.failed, by, at))
          .catch((err: Error) => this.log.error('audit not written', { method: 'apply', error: err.message }));
      if (result.applied.length || result.failed.length) {
        const trigger = opts.dueBy === undefined ? 'now' : 'tick';
        this.log.notice('apply done', {
          applied: result.applied.length,
          failed: result.failed.length,
          domain: opts.domain,
          trigger,
          took_ms: Math.round(performance.now() - began),
        });
      }
      await this.store.saveMeta({ lastApplyAt: at });
      if (result.applied.length || result.failed.length) {
        metrics.applied(result.failed.length);
        this.workFolders.soon();
        this.emit('applied', result);
      }
      return result;
    });
  }

  private schedule(): void {
    if (this.stopped) return;
    const at = this.changes.nextApplyAt();
    // Long timers drift; waking a little late is fine, the due check uses the tick's time.
    const delay = Math.max(0, at - this.changes.now());
    this.timer = setTimeout(() => void this.tick(at), Math.min(delay, 2 ** 31 - 1));
  }

  private async tick(dueBy: number): Promise<void> {
    try {
      await this.apply({ dueBy });
    } catch (err) {
      // Nothing was lost: the changes stay queued and the next tick tries again.
      this.lastApplyError = `apply failed: ${(err as Error).message}`;
      this.log.error('apply failed', { error: (err as Error).message, queued: 'kept for the next tick' });
    }
    this.schedule();
  }

  private async prepareChunk(chunk: PendingChange[], at: number, result: ApplyResult): Promise<PreparedChunk> {
    const accounts = { set: [] as AccountRecord[], remove: [] as string[] };
    const forwards = { set: [] as ForwardRecord[], remove: [] as string[] };
    const done: PendingChange[] = [];
    const moving = chunk.filter((c) => c.kind === 'account' && (c.action === 'rename' || c.action === 'remove'));
    const release = await holdMaildirs(moving.flatMap((c) => this.dirOf(c.domain, c.name)));
    /** The adds' new Maildirs, made durable together below. */
    const made: string[] = [];
    // The file-system side of each change first; each step is idempotent, so a change whose
    // apply was cut short by a crash is simply done again.
    // Fifty changes' quick file calls to a turn of the event loop (loop-turns.ts).
    const turn = loopTurns(chunk.length, 50);
    await Promise.all(
      chunk.map(async (c, i) => {
        await turn(i);
        const address = `${c.name}@${c.domain}`;
        try {
          if (!this.store.domains.has(c.domain)) throw new Error(`${c.domain} is not hosted here any more`);
          if (c.kind === 'account') {
            if (c.action === 'rename') {
              const old = this.store.accounts.get(address);
              if (!old || !c.newName) throw new Error(`${address} is not an account any more`);
              const target = `${c.newName}@${c.domain}`;
              if (this.store.accounts.has(target) || this.store.forwards.has(target))
                throw new Error(`${target} is taken`);
              await moveMaildir(this.dataDir, c.domain, c.name, c.newName, c.id);
              accounts.remove.push(address);
              accounts.set.push({ ...old, name: c.newName, updatedAt: at });
              if (c.keepForwardMs)
                forwards.set.push({
                  name: c.name,
                  domain: c.domain,
                  destinations: [target],
                  createdAt: at,
                  updatedAt: at,
                  expiresAt: at + c.keepForwardMs,
                });
            } else if (c.action === 'remove') {
              await archiveMaildir(this.dataDir, c.domain, c.name, c.id);
              accounts.remove.push(address);
            } else {
              accounts.set.push(await this.accountAfter(c, at, made));
            }
          } else if (c.action === 'remove') {
            forwards.remove.push(address);
          } else {
            const createdAt = this.store.forwards.get(address)?.createdAt ?? at;
            forwards.set.push({
              name: c.name,
              domain: c.domain,
              destinations: c.destinations ?? [],
              createdAt,
              updatedAt: at,
            });
          }
          done.push(c);
        } catch (err) {
          result.failed.push({ id: c.id, address, error: (err as Error).message });
        }
      }),
    );
    // All of the chunk's new Maildirs made durable at once, before it commits (durable.ts rule 10).
    await madeDurable(made).catch((err: Error) => this.failUnsynced(made, err, done, accounts.set, result));
    done.sort((a, b) => a.seq - b.seq);
    return { done, accounts, forwards, domains: [], release };
  }

  /**
   * The adds whose new Maildirs (`made`) could not be made durable fail: they stay pending, and
   * the next apply finds their Maildirs there (bare and stamped with their change) and goes on.
   */
  private failUnsynced(made: string[], err: Error, done: PendingChange[], set: AccountRecord[], r: ApplyResult): void {
    const unsynced = new Set(made);
    const lost = (c: { domain: string; name: string }) => unsynced.has(maildirPath(this.dataDir, c.domain, c.name));
    for (const c of done.filter((c) => c.kind === 'account' && c.action === 'add' && lost(c))) {
      done.splice(done.indexOf(c), 1);
      r.failed.push({ id: c.id, address: `${c.name}@${c.domain}`, error: `Maildir not made durable: ${err.message}` });
    }
    set.splice(0, set.length, ...set.filter((a) => !lost(a)));
  }

  /** The Maildir of NAME@DOMAIN, or none for a name no Maildir can have (its change fails on its own). */
  private dirOf(domain: string, name: string): string[] {
    try {
      return [maildirPath(this.dataDir, domain, name)];
    } catch {
      // Refused by the naming rules: no delivery can go there either, so there is nothing to hold.
      return [];
    }
  }

  /**
   * The account as `c` leaves it: an add makes it (and its Maildir, listed in `made` when new,
   * for the caller to make durable) with the domain's default quota unless it names one; an
   * update sets what it carries and keeps the rest.
   */
  private async accountAfter(c: PendingChange, at: number, made: string[]): Promise<AccountRecord> {
    const address = `${c.name}@${c.domain}`;
    const old = this.store.accounts.get(address);
    const passwordHash = c.passwordHash ?? old?.passwordHash;
    if (!passwordHash) throw new Error(`${address} is not an account any more`);
    const dir = maildirPath(this.dataDir, c.domain, c.name);
    // A new account never inherits a folder of its name that holds mail: that goes to the archive.
    if (c.importFrom && !old) {
      await clearForAdd(this.dataDir, c.domain, c.name, c.id, false);
      const r = await importMaildir(c.importFrom, dir, c.id, [this.dataDir, this.store.where]);
      this.log.info('maildir imported', { address, from: c.importFrom.maildir, messages: r.messages, how: r.how });
    } else if (!old) {
      // Made ahead while the add waited (work-folders.ts): one rename puts it in place.
      if (takeStaged(this.dataDir, c.domain, c.name, c.id)) made.push(dir);
      else {
        await createForAdd(this.dataDir, c.domain, c.name, c.id, made);
        // One staged but not taken (its place held the Maildir an apply killed midway had made)
        // goes now, not a second later with the tidy: the domain's folder holds accounts only.
        await dropStaged(this.dataDir, c.domain, c.id).catch((err: Error) =>
          this.log.warning('staged add not removed', { domain: c.domain, id: c.id, error: err.message }),
        );
      }
    } else {
      await createMaildir(dir);
    }
    const rec: AccountRecord = {
      ...old,
      name: c.name,
      domain: c.domain,
      passwordHash,
      createdAt: old?.createdAt ?? at,
      updatedAt: at,
    };
    const quota = c.quota !== undefined ? c.quota : old ? old.quota : this.store.domains.get(c.domain)?.quota;
    if (quota) rec.quota = quota;
    else delete rec.quota;
    if (c.suspended !== undefined) rec.suspended = c.suspended;
    if (c.refuseMail !== undefined) rec.refuseMail = c.refuseMail;
    if (!rec.suspended) {
      delete rec.suspended;
      delete rec.refuseMail;
    }
    return rec;
  }

  /** A domain's add, or its removal with its accounts (Maildirs archived) and forwards, or a setting of it. */
  private async prepareDomain(c: PendingChange, at: number, result: ApplyResult): Promise<PreparedChunk> {
    const prepared: PreparedChunk = {
      done: [],
      accounts: { set: [], remove: [] },
      forwards: { set: [], remove: [] },
      domains: [],
      release: () => {},
    };
    try {
      if (c.action !== 'remove') {
        const rec: DomainRecord = { ...(this.store.domains.get(c.domain) ?? { domain: c.domain, addedAt: at }) };
        if (c.action === 'add' && !this.store.domains.has(c.domain)) rec.addedAt = at;
        if (c.quota !== undefined) {
          if (c.quota) rec.quota = c.quota;
          else delete rec.quota;
        }
        if (c.catchall !== undefined) {
          if (c.catchall) rec.catchall = c.catchall;
          else delete rec.catchall;
        }
        prepared.domains.push(rec);
      } else {
        const rec = this.store.domains.get(c.domain);
        if (!rec) throw new Error(`${c.domain} is not hosted here`);
        const accounts = [...this.store.accounts.values()].filter((a) => a.domain === c.domain);
        const forwards = [...this.store.forwards.values()].filter((f) => f.domain === c.domain);
        if ((accounts.length || forwards.length) && !c.withAccounts)
          throw new Error(`${c.domain} has accounts or forwards again, and its removal was not asked to take them`);
        prepared.release = await holdMaildirs(accounts.flatMap((a) => this.dirOf(a.domain, a.name)));
        for (const a of accounts) await archiveMaildir(this.dataDir, a.domain, a.name, c.id);
        prepared.accounts.remove = accounts.map((a) => `${a.name}@${a.domain}`);
        prepared.forwards.remove = forwards.map((f) => `${f.name}@${f.domain}`);
        prepared.domains.push({ ...rec, removedAt: at });
        this.log.notice('domain removed', {
          domain: c.domain,
          accounts: accounts.length,
          forwards: forwards.length,
          archive: accounts.length ? `archive/${c.domain}/NAME-${c.id}` : undefined,
        });
      }
      prepared.done.push(c);
    } catch (err) {
      result.failed.push({ id: c.id, address: c.domain, error: (err as Error).message });
    }
    return prepared;
  }

  /** Commits a chunk, and its audit log entries (who made the apply happen) with it. */
  private async commitChunk(prepared: PreparedChunk, at: number, result: ApplyResult, by: Peer): Promise<void> {
    const { done, accounts, forwards, domains } = prepared;
    const views = done.map(viewPending);
    if (done.length) crashPoint('files');
    try {
      await this.store.commitApplied(done, accounts, forwards, domains, at, appliedEntries(views, by, at));
    } finally {
      // Routing knows the new places now (or, the commit failed, still the old ones, which are
      // gone: held deliveries then answer 451 and are tried again).
      prepared.release();
    }
    if (done.length) crashPoint('commit');
    result.applied.push(...views);
    if (accounts.set.length || accounts.remove.length) {
      // A renamed or imported account's Maildir is full already: the mailbox index lists it.
      const renamed = new Set([
        ...done.filter((c) => c.action === 'rename').map((c) => `${c.newName}@${c.domain}`),
        ...done.filter((c) => c.importFrom).map((c) => `${c.name}@${c.domain}`),
      ]);
      const moves: AccountMoves = {
        added: accounts.set.map((a) => ({
          address: `${a.name}@${a.domain}`,
          dir: maildirPath(this.dataDir, a.domain, a.name),
          moved: renamed.has(`${a.name}@${a.domain}`),
        })),
        removed: accounts.remove,
      };
      this.emit('accounts', moves);
    }
  }
}

/** Runs of up to APPLY_CHUNK account and forward changes, and each domain change alone, in order. */
function chunks(due: PendingChange[]): PendingChange[][] {
  const out: PendingChange[][] = [];
  let run: PendingChange[] = [];
  for (const c of due) {
    if (c.kind === 'domain') {
      if (run.length) out.push(run);
      out.push([c]);
      run = [];
      continue;
    }
    run.push(c);
    if (run.length === APPLY_CHUNK) {
      out.push(run);
      run = [];
    }
  }
  if (run.length) out.push(run);
  return out;
}
