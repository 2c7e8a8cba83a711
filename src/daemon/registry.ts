// The accounts, forwards and pending queue as the daemon sees them: every request to change
// them is checked, merged with what is already queued, and stored under one lock; the applier
// calls `apply` to make queued changes real. Emits 'queued', 'cancelled' and 'applied'.
import { EventEmitter } from 'node:events';
import { InputError, NotFoundError } from '../model/errors.js';
import { findForwardLoop, planChange, viewPending, type PendingChange, type PendingView, type Plan, type Request } from '../model/changes.js';
import { checkPassword, formatAddress, parseDestinations, parseLocalAddress, type Address } from '../model/names.js';
import { nextApplyAt } from '../model/schedule.js';
import { archiveMaildir, createMaildir, maildirPath } from '../maildir/paths.js';
import { hashPassword } from '../store/passwords.js';
import type { AccountRecord, ForwardRecord, Store } from '../store/store.js';

export type QueueResult = { queued: PendingView } | { cancelled: PendingView };

export interface ApplyResult {
  applied: PendingView[];
  failed: { id: string; error: string }[];
  at: string;
}

const APPLY_CHUNK = 500;

interface PreparedChunk {
  done: PendingChange[];
  accounts: { set: AccountRecord[]; remove: string[] };
  forwards: { set: ForwardRecord[]; remove: string[] };
}

export class Registry extends EventEmitter {
  private lock: Promise<unknown> = Promise.resolve();
  lastApplyError: string | null = null;

  constructor(
    readonly store: Store,
    readonly dataDir: string,
    readonly intervalMs: number,
    readonly now: () => number = Date.now,
  ) {
    super();
  }

  get domains(): string[] {
    return [...this.store.domains.keys()].sort();
  }

  nextApplyAt(): number {
    return nextApplyAt(this.now(), this.intervalMs);
  }

  /** Runs `fn` alone: no two changes to the queue interleave. */
  private locked<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /** Resolves once every change already asked for has been stored (used before closing). */
  async drain(): Promise<void> {
    await this.locked(async () => {});
  }

  parseAddress(input: unknown, domain?: unknown): Address {
    if (typeof input !== 'string') throw new InputError('a name is required');
    if (domain !== undefined && typeof domain !== 'string') throw new InputError('domain must be a string');
    return parseLocalAddress(input, this.domains, domain);
  }

  pendingFor(address: string): PendingChange | undefined {
    for (const p of this.store.pending.values()) if (`${p.name}@${p.domain}` === address) return p;
    return undefined;
  }

  async addAccount(input: unknown, password: unknown, domain?: unknown): Promise<QueueResult> {
    return this.accountChange(input, domain, 'add', password);
  }

  async changePassword(input: unknown, password: unknown, domain?: unknown): Promise<QueueResult> {
    return this.accountChange(input, domain, 'password', password);
  }

  async removeAccount(input: unknown, domain?: unknown): Promise<QueueResult> {
    return this.accountChange(input, domain, 'remove');
  }

  private async accountChange(input: unknown, domain: unknown, action: 'add' | 'password' | 'remove', password?: unknown): Promise<QueueResult> {
    const a = this.parseAddress(input, domain);
    // Check what can be checked before spending time on the hash.
    if (action !== 'remove') checkPassword(password, a.name);
    this.plan(a, { kind: 'account', action });
    const passwordHash = action === 'remove' ? undefined : await hashPassword(password as string);
    return this.locked(async () => {
      const plan = this.plan(a, { kind: 'account', action });
      return this.enact(a, plan, { passwordHash });
    });
  }

  async setForward(input: unknown, destinations: unknown, domain?: unknown): Promise<QueueResult> {
    const a = this.parseAddress(input, domain);
    const address = formatAddress(a);
    if (!Array.isArray(destinations) || !destinations.every((d) => typeof d === 'string')) {
      throw new InputError('destinations must be a list of addresses');
    }
    const dests = parseDestinations(destinations as string[], address);
    return this.locked(async () => {
      const plan = this.plan(a, { kind: 'forward', action: 'set' });
      const loop = findForwardLoop(address, dests, (addr) => this.forwardTargets(addr));
      if (loop) throw new InputError(`forwarding ${address} there would make a loop: ${loop.join(' -> ')}`);
      return this.enact(a, plan, { destinations: dests });
    });
  }

  async removeForward(input: unknown, domain?: unknown): Promise<QueueResult> {
    const a = this.parseAddress(input, domain);
    return this.locked(async () => this.enact(a, this.plan(a, { kind: 'forward', action: 'remove' }), {}));
  }

  /** Where mail for a local address will go once the queue is applied (undefined: not a forward). */
  private forwardTargets(address: string): readonly string[] | undefined {
    const p = this.pendingFor(address);
    if (p?.kind === 'forward') return p.action === 'remove' ? undefined : p.destinations;
    return this.store.forwards.get(address)?.destinations;
  }

  private plan(a: Address, req: Request): Plan {
    const address = formatAddress(a);
    return planChange(address, a.name, {
      account: this.store.accounts.has(address),
      forward: this.store.forwards.has(address),
      pending: this.pendingFor(address),
    }, req);
  }

  private async enact(a: Address, plan: Plan, data: Pick<PendingChange, 'passwordHash' | 'destinations'>): Promise<QueueResult> {
    if (plan.op === 'cancel') {
      await this.store.cancel(plan.change.id);
      const view = viewPending(plan.change);
      this.emit('cancelled', view);
      return { cancelled: view };
    }
    const now = this.now();
    const prev = plan.replaces;
    // A change that refines the pending one of the same action keeps its id and place in line.
    const keep = prev && prev.action === plan.action;
    const seq = keep ? prev.seq : await this.store.nextSeq();
    const change: PendingChange = {
      id: keep ? prev.id : String(seq),
      seq,
      domain: a.domain,
      kind: prev?.kind ?? (data.destinations ? 'forward' : 'account'),
      action: plan.action,
      name: a.name,
      requestedAt: keep ? prev.requestedAt : now,
      appliesAt: nextApplyAt(now, this.intervalMs),
    };
    if (data.passwordHash) change.passwordHash = data.passwordHash;
    if (data.destinations) change.destinations = data.destinations;
    await this.store.queue(change, prev);
    const view = viewPending(change);
    if (prev && !keep) this.emit('cancelled', viewPending(prev));
    this.emit('queued', view);
    return { queued: view };
  }

  listPending(): PendingView[] {
    return [...this.store.pending.values()].map(viewPending);
  }

  async cancel(id: unknown): Promise<PendingView> {
    if (typeof id !== 'string' && typeof id !== 'number') throw new InputError('give the id of a pending change');
    return this.locked(async () => {
      const change = this.store.pending.get(String(id));
      if (!change) throw new NotFoundError(`no pending change has id ${JSON.stringify(String(id))}: see vmail pending list`);
      await this.store.cancel(change.id);
      const view = viewPending(change);
      this.emit('cancelled', view);
      return view;
    });
  }

  /**
   * Drops queue entries that a crashed apply had already logged as applied. Run once at start,
   * before the first apply.
   */
  async recover(): Promise<number> {
    return this.locked(async () => {
      const logged = [...(await this.store.appliedAmong([...this.store.pending.keys()]))];
      if (logged.length) await this.store.dropPending(logged);
      return logged.length;
    });
  }

  /** Applies every pending change due by `dueBy` (all of them when omitted), oldest first. */
  async apply(dueBy?: number): Promise<ApplyResult> {
    return this.locked(async () => {
      const at = this.now();
      const due = [...this.store.pending.values()].filter((c) => dueBy === undefined || c.appliesAt <= dueBy).sort((a, b) => a.seq - b.seq);
      const result: ApplyResult = { applied: [], failed: [], at: new Date(at).toISOString() };
      // The file-system work of one chunk overlaps the database commit of the one before it.
      let committing: Promise<void> = Promise.resolve();
      try {
        for (let i = 0; i < due.length; i += APPLY_CHUNK) {
          const prepared = await this.prepareChunk(due.slice(i, i + APPLY_CHUNK), at, result);
          await committing;
          committing = this.commitChunk(prepared, at, result);
        }
      } finally {
        await committing;
      }
      this.lastApplyError = result.failed.length ? `${result.failed.length} change(s) failed: ${result.failed[0].error}` : null;
      await this.store.saveMeta({ lastApplyAt: at });
      if (result.applied.length || result.failed.length) this.emit('applied', result);
      return result;
    });
  }

  private async prepareChunk(chunk: PendingChange[], at: number, result: ApplyResult): Promise<PreparedChunk> {
    const accounts = { set: [] as AccountRecord[], remove: [] as string[] };
    const forwards = { set: [] as ForwardRecord[], remove: [] as string[] };
    const done: PendingChange[] = [];
    // The file-system side of each change first; each step is idempotent, so a change whose
    // apply was cut short by a crash is simply done again.
    await Promise.all(chunk.map(async (c) => {
      const address = `${c.name}@${c.domain}`;
      try {
        if (c.kind === 'account') {
          const existing = this.store.accounts.get(address);
          if (c.action === 'remove') {
            await archiveMaildir(this.dataDir, c.domain, c.name, c.id);
            accounts.remove.push(address);
          } else {
            if (!c.passwordHash) throw new Error(`change ${c.id} has no password hash`);
            await createMaildir(maildirPath(this.dataDir, c.domain, c.name));
            accounts.set.push({ name: c.name, domain: c.domain, passwordHash: c.passwordHash, createdAt: existing?.createdAt ?? at, updatedAt: at });
          }
        } else if (c.action === 'remove') {
          forwards.remove.push(address);
        } else {
          const existing = this.store.forwards.get(address);
          forwards.set.push({ name: c.name, domain: c.domain, destinations: c.destinations ?? [], createdAt: existing?.createdAt ?? at, updatedAt: at });
        }
        done.push(c);
      } catch (err) {
        result.failed.push({ id: c.id, error: (err as Error).message });
      }
    }));
    done.sort((a, b) => a.seq - b.seq);
    return { done, accounts, forwards };
  }

  private async commitChunk({ done, accounts, forwards }: PreparedChunk, at: number, result: ApplyResult): Promise<void> {
    await this.store.commitApplied(done, accounts, forwards, at);
    for (const c of done) result.applied.push(viewPending(c));
  }
}
