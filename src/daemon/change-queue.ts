// The queue of pending changes: each typed, already-checked request is planned against what is
// applied and already pending for its name (one pending change per name), then stored. Every
// change to the queue, and every apply, runs alone under one lock. Emits 'queued' and
// 'cancelled' with the change as clients see it.
import { EventEmitter } from 'node:events';
import type { CancelResult, PendingView, QueueResult } from '../control/protocol.js';
import {
  findAnyLoop,
  findForwardLoop,
  type PendingChange,
  type Plan,
  partsOf,
  planChange,
  planDomainChange,
  type Quota,
  withoutPart,
} from '../model/changes.js';
import { InputError, NotFoundError } from '../model/errors.js';
import { type Address, domainOf, formatAddress } from '../model/names.js';
import { nextApplyAt } from '../model/schedule.js';
import type { Store } from '../store/store.js';
import { viewPending } from './views.js';

/** A request to change one name, its input already checked (and a password already hashed). */
export type ChangeRequest =
  | {
      kind: 'account';
      action: 'add' | 'password';
      address: Address;
      passwordHash: string;
      quota?: Quota | null;
      importFrom?: PendingChange['importFrom'];
    }
  | { kind: 'account'; action: 'remove' | 'resume'; address: Address }
  | { kind: 'account'; action: 'quota'; address: Address; quota: Quota | null }
  | { kind: 'account'; action: 'suspend'; address: Address; refuseMail: boolean }
  | { kind: 'account'; action: 'rename'; address: Address; newName: string; keepForwardMs: number }
  | { kind: 'forward'; action: 'set'; address: Address; destinations: string[] }
  | { kind: 'forward'; action: 'remove'; address: Address }
  | { kind: 'domain'; action: 'add' | 'remove'; domain: string; withAccounts?: boolean }
  | { kind: 'domain'; action: 'quota'; domain: string; quota: Quota | null }
  | { kind: 'domain'; action: 'catchall'; domain: string; catchall: string | null };

/** What a pending add or update of an account or domain sets; later requests merge into it. */
const SETTINGS = ['passwordHash', 'quota', 'suspended', 'refuseMail', 'catchall', 'importFrom'] as const;

export class ChangeQueue extends EventEmitter {
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly store: Store,
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

  /**
   * Runs `fn` alone: no two changes to the queue, or a change and an apply, interleave, here
   * or on any daemon sharing the store.
   */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const alone = () => this.store.exclusive(fn);
    const run = this.lock.then(alone, alone);
    this.lock = run.catch(() => {
      // The chain only orders the runs: `run` hands the failure to this call's own caller.
    });
    return run;
  }

  /** The pending change to an account or forward. */
  pendingFor(address: string): PendingChange | undefined {
    return this.store.pending.forAddress(address);
  }

  /** The pending change to a domain itself (its add or removal). */
  pendingDomain(domain: string): PendingChange | undefined {
    return this.store.pending.forDomain(domain);
  }

  /**
   * Throws the refusal a request for `address` would get now, without queueing anything: the
   * caller checks before spending a password hash on a request that is refused anyway.
   */
  check(kind: 'account' | 'forward', action: ChangeRequest['action'], address: Address): void {
    this.plan({ kind, action, address } as Exclude<ChangeRequest, { kind: 'domain' }>);
  }

  /** Queues one change; `by` is the user who asked, as the audit log names them. */
  request(req: ChangeRequest, by: string): Promise<QueueResult> {
    return this.exclusive(async () => {
      const { change, replaces } = this.prepare(req, by);
      // What the request leaves (a change, or a pending one cancelled) must not loop once
      // applied. Only these can make one: they point a name somewhere or leave it unknown
      // (its mail then goes to the catch-all).
      const mayLoop =
        !change ||
        req.kind === 'forward' ||
        (req.kind === 'domain' && req.action === 'catchall') ||
        (req.kind === 'account' && (req.action === 'remove' || req.action === 'rename'));
      const loop = mayLoop ? this.newLoop(replaces, change ?? undefined) : null;
      if (loop)
        throw new InputError(
          `that would make a forwarding loop once the queue applies: ${loop.join(' -> ')}`,
          req.kind === 'domain' ? 'domain' : 'name',
        );
      if (!change) {
        await this.store.cancel(replaces.id);
        const view = viewPending(replaces);
        this.emit('cancelled', view);
        return { cancelled: view };
      }
      await this.store.queue(change, replaces);
      return { queued: this.announce(change, replaces) };
    });
  }

  /**
   * Checks many requests (an import) as if each were queued after the ones before it, and
   * queues the good ones in one transaction, or none of them: with `all`, nothing is queued
   * when any is refused; with `dryRun`, nothing at all. Each is a change of its own.
   */
  requestMany(
    reqs: (ChangeRequest | Error)[],
    by: string,
    opts: { dryRun: boolean; all: boolean },
  ): Promise<{ queued: PendingView[]; refused: { index: number; error: string }[]; done: boolean }> {
    return this.exclusive(async () => {
      const refused: { index: number; error: string }[] = [];
      const planned: { change: PendingChange; replaces?: PendingChange }[] = [];
      const seen = new Set<string>();
      // Planned changes stand in the queue while the later ones are checked, then go again:
      // this runs without a pause, so nobody else sees them.
      const pending = this.store.pending;
      try {
        reqs.forEach((req, index) => {
          try {
            if (req instanceof Error) throw req;
            const key = req.kind === 'domain' ? req.domain : formatAddress(req.address);
            if (seen.has(key)) throw new InputError(`${key} is in the file twice`, 'name');
            seen.add(key);
            const { change, replaces } = this.prepare(req, by);
            if (!change) throw new InputError(`${key}: that would cancel change ${replaces.id}`, 'name');
            planned.push({ change, replaces });
            if (replaces) pending.delete(replaces.id);
            pending.set(change.id, change);
          } catch (err) {
            if (!(err instanceof InputError)) throw err;
            refused.push({ index, error: err.message });
          }
        });
      } finally {
        for (const { change, replaces } of planned.reverse()) {
          pending.delete(change.id);
          if (replaces) pending.set(replaces.id, replaces);
        }
        planned.reverse();
      }
      const done = !opts.dryRun && !(opts.all && refused.length > 0);
      if (done && planned.length) {
        await this.store.queueMany(
          planned.map((p) => p.change),
          planned.flatMap((p) => (p.replaces ? [p.replaces] : [])),
        );
      }
      const queued = planned.map((p) => (done ? this.announce(p.change, p.replaces) : viewPending(p.change)));
      return { queued, refused, done };
    });
  }

  /** The change a request makes (or, with change null, the pending one it cancels); stores nothing. */
  private prepare(
    req: ChangeRequest,
    by: string,
  ): { change: PendingChange; replaces?: PendingChange } | { change: null; replaces: PendingChange } {
    if (req.kind === 'domain' && req.action === 'catchall' && req.catchall) {
      // A catch-all that is a forward loops if the forward reaches an unknown name of the domain.
      const target = `${req.catchall}@${req.domain}`;
      const override = { domain: req.domain, target: req.catchall };
      const loop = findForwardLoop(target, this.forwardTargets(target) ?? [], (a) => this.forwardTargets(a, override));
      if (loop) throw new InputError(`that catch-all would make a loop: ${loop.join(' -> ')}`, 'target');
    }
    if (req.kind === 'domain') return this.build(req, this.planDomain(req), by);
    const plan = this.plan(req);
    if (req.kind === 'forward' && req.action === 'set') {
      const self = formatAddress(req.address);
      const loop = findForwardLoop(self, req.destinations, (a) => this.forwardTargets(a));
      if (loop)
        throw new InputError(`forwarding ${self} there would make a loop: ${loop.join(' -> ')}`, 'destinations');
    }
    return this.build(req, plan, by);
  }

  list(domain?: string): PendingView[] {
    return [...this.store.pending.values()].filter((p) => !domain || p.domain === domain).map(viewPending);
  }

  /**
   * Cancels a pending change, or with `part` one part of it (the rest stays pending under the
   * same id). A cancel that would leave a forwarding loop in the queue is refused with the loop:
   * the changes queued after this one were checked with it in place, so the admin cancels or
   * changes those first (refusing here keeps the queue one that applies, rather than leaving a
   * later change to fail at the apply).
   */
  cancel(id: string, part?: string): Promise<CancelResult> {
    return this.exclusive(async () => {
      const change = this.store.pending.get(id);
      if (!change)
        throw new NotFoundError(
          `no pending change has id ${JSON.stringify(id.slice(0, 40))}: see vmail pending list`,
          'id',
        );
      const kept = part === undefined ? null : withoutPart(change, part);
      const loop = this.newLoop(change, kept ?? undefined);
      if (loop)
        throw new InputError(
          `cancelling ${part === undefined ? 'change' : `the ${part} part of change`} ${change.id} would make a forwarding loop once the queue applies: ${loop.join(' -> ')}; cancel or change the later changes first`,
          'id',
        );
      if (!kept) {
        await this.store.cancel(change.id);
        const view = viewPending(change);
        this.emit('cancelled', view);
        return view;
      }
      await this.store.queue(kept, change);
      const keptView = viewPending(kept);
      this.emit('queued', keptView);
      // The part cancelled, as a change of its own: the other parts taken off a copy.
      let gone = change;
      for (const other of partsOf(change)) if (other !== part) gone = withoutPart(gone, other) ?? gone;
      return { ...viewPending(gone), kept: keptView };
    });
  }

  /**
   * A forwarding loop the queue would have once applied if `remove` left it and `put` took its
   * place, and does not have now (a loop already there is not this change's doing); null: none.
   * The queue is changed for the look and put back before anything else runs.
   */
  private newLoop(remove?: PendingChange, put?: PendingChange): string[] | null {
    if (!remove && !put) return null;
    const pending = this.store.pending;
    if (this.anyLoop()) return null;
    if (remove) pending.delete(remove.id);
    if (put) pending.set(put.id, put);
    try {
      return this.anyLoop();
    } finally {
      if (put) pending.delete(put.id);
      if (remove) pending.set(remove.id, remove);
    }
  }

  /** A loop among local forwards once the queue is applied, or null. */
  private anyLoop(): string[] | null {
    const starts = new Set(this.store.forwards.keys());
    for (const p of this.store.pending.values()) if (p.kind === 'forward') starts.add(`${p.name}@${p.domain}`);
    return findAnyLoop(starts, (a) => this.forwardTargets(a));
  }

  /**
   * The changes among `due` that an apply of just those must refuse, each with its loop: the
   * state right after the apply (what is applied, and `due`) would have a forwarding loop it does
   * not have now. The newest change on a loop is refused first, then the rest is looked at
   * again. Changes left out of an apply (another domain's, or not due yet) are not counted on.
   */
  loopingAmong(due: readonly PendingChange[]): { change: PendingChange; loop: string[] }[] {
    const pending = this.store.pending;
    const all = [...pending.values()];
    const refused: { change: PendingChange; loop: string[] }[] = [];
    for (const c of all) pending.delete(c.id);
    try {
      if (this.anyLoop()) return refused;
      const left = new Map(due.map((c) => [c.id, c]));
      for (const c of left.values()) pending.set(c.id, c);
      for (;;) {
        const loop = this.anyLoop();
        if (!loop) return refused;
        const on = new Set(loop);
        const touches = (c: PendingChange) =>
          c.kind === 'domain'
            ? loop.some((a) => domainOf(a) === c.domain)
            : on.has(`${c.name}@${c.domain}`) || (c.newName !== undefined && on.has(`${c.newName}@${c.domain}`));
        const newest = [...left.values()].filter(touches).sort((a, b) => b.seq - a.seq)[0];
        // A loop no due change is on is not this apply's doing (it was checked above): stop.
        if (!newest) return refused;
        refused.push({ change: newest, loop });
        left.delete(newest.id);
        pending.delete(newest.id);
      }
    } finally {
      for (const c of [...pending.values()]) pending.delete(c.id);
      for (const c of all) pending.set(c.id, c);
    }
  }

  /**
   * Where mail for a local address will go once the queue is applied: a forward's destinations,
   * or for a name its domain does not have, the domain's catch-all (undefined: it stays here).
   */
  private forwardTargets(
    address: string,
    catchall?: { domain: string; target: string },
  ): readonly string[] | undefined {
    const p = this.pendingFor(address);
    if (p?.kind === 'forward' && p.action !== 'remove') return p.destinations;
    // A forward whose removal is pending is an unknown name once applied: the catch-all's.
    const f = p?.kind === 'forward' ? undefined : this.store.forwards.get(address);
    if (f) return f.destinations;
    if (this.willReceive(address)) return undefined;
    const domain = domainOf(address);
    if (!this.store.domains.has(domain)) return undefined;
    const target = catchall?.domain === domain ? catchall.target : this.catchallOf(domain);
    return target ? [`${target}@${domain}`] : undefined;
  }

  /** The pending rename that will give an account the name `address`. */
  private renamingTo(address: string): PendingChange | undefined {
    return this.store.pending.renamingTo(address);
  }

  /** Whether `address` is, or will be once the queue is applied, an account or forward. */
  willReceive(address: string): boolean {
    if (this.renamingTo(address)) return true;
    const p = this.pendingFor(address);
    if (p) return p.action === 'rename' ? Boolean(p.keepForwardMs) : p.action !== 'remove';
    return this.store.accounts.has(address) || this.store.forwards.has(address);
  }

  /** The domain's catch-all name once the queue is applied. */
  private catchallOf(domain: string): string | undefined {
    const p = this.pendingDomain(domain);
    if (p?.catchall !== undefined) return p.catchall ?? undefined;
    return this.store.domains.get(domain)?.catchall;
  }

  private planDomain(req: Extract<ChangeRequest, { kind: 'domain' }>): Plan {
    const d = req.domain;
    let accounts = 0;
    let forwards = 0;
    for (const a of this.store.accounts.values()) if (a.domain === d) accounts++;
    for (const f of this.store.forwards.values()) if (f.domain === d) forwards++;
    for (const p of this.store.pending.values()) {
      if (p.domain !== d || p.action !== 'add') continue;
      if (p.kind === 'account') accounts++;
      if (p.kind === 'forward') forwards++;
    }
    const state = { hosted: this.store.domains.has(d), pending: this.pendingDomain(d), accounts, forwards };
    const plan = planDomainChange(d, state, req.action, 'withAccounts' in req && req.withAccounts);
    return plan.op === 'queue' ? { op: 'queue', kind: 'domain', action: plan.action, replaces: plan.replaces } : plan;
  }

  private plan(req: Exclude<ChangeRequest, { kind: 'domain' }>): Plan {
    const going = this.pendingDomain(req.address.domain);
    if (going?.action === 'remove')
      throw new InputError(
        `${req.address.domain} is being removed (change ${going.id}): cancel that first to change its accounts or forwards`,
        'domain',
      );
    const address = formatAddress(req.address);
    if (
      (req.action === 'remove' || req.action === 'rename') &&
      this.catchallOf(req.address.domain) === req.address.name
    )
      throw new InputError(
        `${address} is the catch-all of ${req.address.domain}: change that first (vmail domains catchall ${req.address.domain} none)`,
        'name',
      );
    // A name a pending rename will take is taken.
    const renamed = this.renamingTo(address);
    if (renamed)
      throw new InputError(
        `${address} is the new name of a pending rename of ${renamed.name}@${renamed.domain} (id ${renamed.id})`,
        'name',
      );
    if (req.action === 'rename') {
      const target = `${req.newName}@${req.address.domain}`;
      const taken = this.store.accounts.has(target)
        ? 'an account'
        : this.store.forwards.has(target)
          ? 'a forwarding address'
          : this.pendingFor(target) || this.renamingTo(target)
            ? 'a name with a pending change'
            : null;
      if (taken) throw new InputError(`${target} is ${taken}: pick a name that is free`, 'name');
      if (req.newName === req.address.name) throw new InputError(`${address} has that name already`, 'name');
    }
    const state = {
      account: this.store.accounts.has(address),
      forward: this.store.forwards.has(address),
      pending: this.pendingFor(address),
    };
    return planChange(
      address,
      req.address.name,
      state,
      req.kind === 'account' ? { kind: 'account', action: req.action } : { kind: 'forward', action: req.action },
    );
  }

  private build(
    req: ChangeRequest,
    plan: Plan,
    by: string,
  ): { change: PendingChange; replaces?: PendingChange } | { change: null; replaces: PendingChange } {
    if (plan.op === 'cancel') return { change: null, replaces: plan.change };
    const now = this.now();
    const prev = plan.replaces;
    // A change that refines the pending one of the same action keeps its id and place in line.
    const keep = prev && prev.action === plan.action;
    const seq = keep ? prev.seq : this.store.nextSeq();
    const change: PendingChange = {
      id: keep ? prev.id : String(seq),
      seq,
      domain: req.kind === 'domain' ? req.domain : req.address.domain,
      kind: plan.kind,
      action: plan.action,
      name: req.kind === 'domain' ? '' : req.address.name,
      requestedAt: keep ? prev.requestedAt : now,
      requestedBy: by,
      appliesAt: nextApplyAt(now, this.intervalMs),
    };
    // Settings a pending add or update already carries stay, unless this request sets them again.
    if (prev && prev.action !== 'remove' && plan.action !== 'remove' && prev.kind === plan.kind) {
      for (const k of SETTINGS) if (prev[k] !== undefined) Object.assign(change, { [k]: prev[k] });
    }
    if ('passwordHash' in req) change.passwordHash = req.passwordHash;
    if ('destinations' in req) change.destinations = req.destinations;
    if ('quota' in req && req.quota !== undefined) change.quota = req.quota;
    if ('catchall' in req) change.catchall = req.catchall;
    if ('importFrom' in req && req.importFrom) {
      // Mail comes only with a new account: onto one that exists it would mix two mailboxes.
      if (plan.action !== 'add')
        throw new InputError(
          `${change.name}@${change.domain} is an account here already: its mail is not imported`,
          'name',
        );
      change.importFrom = req.importFrom;
    }
    if (req.action === 'rename') Object.assign(change, { newName: req.newName, keepForwardMs: req.keepForwardMs });
    if (req.action === 'suspend') Object.assign(change, { suspended: true, refuseMail: req.refuseMail });
    if (req.action === 'resume') Object.assign(change, { suspended: false, refuseMail: false });
    if ('withAccounts' in req && req.withAccounts && plan.action === 'remove') change.withAccounts = true;
    return { change, replaces: prev };
  }

  /** Tells clients about a change just stored (and the pending one it replaced). */
  private announce(change: PendingChange, replaces?: PendingChange): PendingView {
    const view = viewPending(change);
    if (replaces && replaces.id !== change.id) this.emit('cancelled', viewPending(replaces));
    this.emit('queued', view);
    return view;
  }
}
