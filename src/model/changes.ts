// Pending changes and the rules for queueing one on top of what is applied and already pending.
// Pure: the caller passes in the current state and gets back what to do.
import { InputError } from './errors.js';

export type ChangeKind = 'account' | 'forward' | 'domain';
export type AccountAction = 'add' | 'password' | 'remove' | 'rename' | AccountUpdate;
/** Changes to an account that keep it: each sets some of its settings, and they merge while pending. */
export type AccountUpdate = 'quota' | 'suspend' | 'resume';
export type ForwardAction = 'add' | 'update' | 'remove';
export type DomainAction = 'add' | 'remove' | 'quota' | 'catchall';
export type ChangeAction = AccountAction | ForwardAction | DomainAction;

export interface PendingChange {
  id: string;
  seq: number;
  domain: string;
  kind: ChangeKind;
  action: ChangeAction;
  /** The account or forward name; '' for a change to the domain itself. */
  name: string;
  requestedAt: number;
  /** The user who asked for it (as the kernel named them); absent on changes queued before it was kept. */
  requestedBy?: string;
  appliesAt: number;
  /** account add/password: the password hash, never the password. */
  passwordHash?: string;
  /** account add/quota: the mailbox's limit; null takes it away (an add then takes the domain's default). */
  quota?: Quota | null;
  /** account suspend/resume: whether it may log in; suspend --refuse-mail also refuses its mail. */
  suspended?: boolean;
  refuseMail?: boolean;
  /** account rename: the new name (same domain), and how long the old one forwards to it (0: not at all). */
  newName?: string;
  keepForwardMs?: number;
  /** domain catchall: the local account or forward that gets mail for unknown names; null: none. */
  catchall?: string | null;
  /** forward add/update: where mail goes. */
  destinations?: string[];
  /** domain remove: its accounts and forwards go with it (their Maildirs archived). */
  withAccounts?: boolean;
  /** account add (an import): the Maildir its mail comes from, and how. */
  importFrom?: {
    maildir: string;
    move: boolean;
    /** Where the old UIDLs come from: Dovecot's dovecot-uidlist (with its format), or the file names. */
    uidls: 'dovecot' | 'names';
    uidlFormat: string;
    messages: number;
    uidlsKept: boolean;
  };
}

/** A mailbox's limit: bytes, and optionally messages. */
export interface Quota {
  bytes: number;
  messages: number | null;
}

/** What exists for one name in one domain, applied and pending. */
export interface NameState {
  account: boolean;
  forward: boolean;
  pending?: PendingChange;
}

/**
 * The outcome of a request: queue a new change of the request's kind (replacing `replaces` if
 * set), or cancel one. The kind comes from the request, never from what the change carries.
 */
export type Plan =
  | { op: 'queue'; kind: ChangeKind; action: ChangeAction; replaces?: PendingChange }
  | { op: 'cancel'; change: PendingChange };

export type Request = { kind: 'account'; action: AccountAction } | { kind: 'forward'; action: 'set' | 'remove' };

/** What exists for one domain, applied and pending. */
export interface DomainState {
  hosted: boolean;
  pending?: PendingChange;
  /** Its accounts and forwards, applied or with a pending add. */
  accounts: number;
  forwards: number;
}

export type DomainPlan =
  | { op: 'queue'; action: DomainAction; replaces?: PendingChange }
  | { op: 'cancel'; change: PendingChange };

/**
 * Adding or removing a hosted domain. Its add cancels a pending removal and the other way
 * round; a domain with accounts or forwards is removed only when the admin says they go too.
 */
export function planDomainChange(
  domain: string,
  state: DomainState,
  action: DomainAction,
  withAccounts = false,
): DomainPlan {
  const p = state.pending;
  if (action === 'quota' || action === 'catchall') {
    // A setting of a domain that stays: it merges into the domain's pending add or update.
    if (p?.action === 'remove')
      throw new InputError(`${domain} is being removed (change ${p.id}): cancel that first`, 'domain');
    if (!state.hosted && p?.action !== 'add') throw new InputError(`${domain} is not a domain hosted here`, 'domain');
    return { op: 'queue', action: p?.action === 'add' ? 'add' : action, replaces: p };
  }
  if (action === 'add') {
    if (p?.action === 'remove') return { op: 'cancel', change: p };
    if (p && p.action !== 'add') throw new InputError(`${domain} is hosted here already`, 'domain');
    if (p) throw new InputError(`${domain} is being added already (change ${p.id})`, 'domain');
    if (state.hosted) throw new InputError(`${domain} is hosted here already`, 'domain');
    return { op: 'queue', action: 'add' };
  }
  if (p?.action === 'add') return { op: 'cancel', change: p };
  if (p?.action === 'remove') throw new InputError(`${domain} is being removed already (change ${p.id})`, 'domain');
  if (!state.hosted) throw new InputError(`${domain} is not a domain hosted here`, 'domain');
  if ((state.accounts || state.forwards) && !withAccounts) {
    throw new InputError(
      `${domain} still has ${state.accounts} account(s) and ${state.forwards} forward(s): remove them first, or remove the domain with its accounts (their mail is archived)`,
      'domain',
    );
  }
  // A pending setting of a domain that goes is dropped with it.
  return { op: 'queue', action: 'remove', replaces: p };
}

/**
 * What a pending change will do, part by part: settings queued for one account or domain merge
 * into one change (a password change then a quota change is one change of both), and each is
 * shown, and may be cancelled, on its own. Any other change is one part, its action.
 */
export function partsOf(c: PendingChange): ChangeAction[] {
  const parts: ChangeAction[] = [];
  if (c.kind === 'account' && ['password', 'quota', 'suspend', 'resume'].includes(c.action)) {
    if (c.passwordHash !== undefined) parts.push('password');
    if (c.quota !== undefined) parts.push('quota');
    if (c.suspended !== undefined) parts.push(c.suspended ? 'suspend' : 'resume');
  } else if (c.kind === 'domain' && (c.action === 'quota' || c.action === 'catchall')) {
    if (c.quota !== undefined) parts.push('quota');
    if (c.catchall !== undefined) parts.push('catchall');
  }
  return parts.length ? parts : [c.action];
}

/**
 * The change left when one part of `c` is cancelled (null: that was its only part, the whole
 * change goes). The id and place in line stay. A part `c` does not have is refused, naming those it has.
 */
export function withoutPart(c: PendingChange, part: string): PendingChange | null {
  const parts = partsOf(c);
  if (!(parts as string[]).includes(part))
    throw new InputError(
      `change ${c.id} of ${c.kind === 'domain' ? c.domain : `${c.name}@${c.domain}`} has no ${JSON.stringify(part.slice(0, 20))} part: its parts are ${parts.join(', ')}`,
      'id',
    );
  if (parts.length === 1) return null;
  const left: PendingChange = { ...c };
  if (part === 'password') delete left.passwordHash;
  if (part === 'quota') delete left.quota;
  if (part === 'catchall') delete left.catchall;
  if (part === 'suspend' || part === 'resume') {
    delete left.suspended;
    delete left.refuseMail;
  }
  const rest = parts.filter((p) => p !== part);
  left.action = rest[rest.length - 1];
  return left;
}

const PROTECTED = new Set(['postmaster']);

/**
 * One pending change per name: a new request merges with the one already queued.
 * - password on a pending add: the add carries the new password;
 * - remove on a pending add: the add is cancelled;
 * - anything else on a pending change replaces it.
 */
export function planChange(address: string, name: string, state: NameState, req: Request): Plan {
  const plan = planFor(address, name, state, req);
  return plan.op === 'queue' ? { op: 'queue', kind: req.kind, action: plan.action, replaces: plan.replaces } : plan;
}

function planFor(
  address: string,
  name: string,
  state: NameState,
  req: Request,
): { op: 'queue'; action: ChangeAction; replaces?: PendingChange } | { op: 'cancel'; change: PendingChange } {
  const p = state.pending;
  if (p && p.kind !== req.kind) {
    throw new InputError(
      `a change to the ${p.kind === 'account' ? 'POP3 account' : 'forwarding address'} ${address} is pending (id ${p.id}): cancel it or wait for it to apply`,
      'name',
    );
  }
  if (req.kind === 'account' && state.forward) {
    throw new InputError(`${address} is a forwarding address: remove the forward before making it an account`, 'name');
  }
  if (req.kind === 'forward' && state.account) {
    throw new InputError(`${address} is a POP3 account: a name is an account or a forward, never both`, 'name');
  }
  // What the name will be once the queue is applied.
  const willBeAccount = p ? p.action !== 'remove' : state.account;
  const willBeForward = p ? p.action !== 'remove' : state.forward;

  if (req.kind === 'account') {
    switch (req.action) {
      case 'add':
        if (willBeAccount) {
          throw new InputError(
            `${address} exists${p?.action === 'add' ? ' (its add is pending)' : ''}: use passwd to change its password`,
            'name',
          );
        }
        if (p && p.kind === 'account' && p.action === 'remove') {
          // Adding back an account whose removal is pending: keep it, with the new password.
          return { op: 'queue', action: 'password', replaces: p };
        }
        return { op: 'queue', action: 'add', replaces: p };
      case 'password':
      case 'quota':
      case 'suspend':
      case 'resume':
        // Settings of an account that stays: they merge into its pending add or update.
        if (!willBeAccount)
          throw new InputError(
            `${address} is not an account${p?.action === 'remove' ? ' (its removal is pending)' : ''}${req.action === 'password' ? ': use add to create it' : ''}`,
            'name',
          );
        if (p?.kind === 'account' && p.action === 'add') return { op: 'queue', action: 'add', replaces: p };
        return { op: 'queue', action: req.action, replaces: p };
      case 'rename':
        if (PROTECTED.has(name))
          throw new InputError(`${address} may not be renamed: mail servers must accept mail for postmaster`, 'name');
        if (p?.kind === 'account' && p.action === 'add')
          throw new InputError(`${address} is not applied yet: cancel its add and add it under the new name`, 'name');
        if (p)
          throw new InputError(
            `a ${p.action} of ${address} is pending (id ${p.id}): let it apply or cancel it, then rename`,
            'name',
          );
        if (!state.account) throw new InputError(`${address} is not an account`, 'name');
        return { op: 'queue', action: 'rename' };
      case 'remove':
        if (PROTECTED.has(name))
          throw new InputError(`${address} may not be removed: mail servers must accept mail for postmaster`, 'name');
        if (!willBeAccount)
          throw new InputError(
            `${address} is not an account${p?.action === 'remove' ? ' (its removal is already pending)' : ''}`,
            'name',
          );
        if (p?.kind === 'account' && p.action === 'add') return { op: 'cancel', change: p };
        return { op: 'queue', action: 'remove', replaces: p };
    }
  }

  if (req.action === 'set') {
    if (p?.kind === 'forward' && p.action === 'add') return { op: 'queue', action: 'add', replaces: p };
    return { op: 'queue', action: state.forward ? 'update' : 'add', replaces: p };
  }
  if (!willBeForward)
    throw new InputError(
      `${address} is not a forwarding address${p?.action === 'remove' ? ' (its removal is already pending)' : ''}`,
      'name',
    );
  if (p?.kind === 'forward' && p.action === 'add') return { op: 'cancel', change: p };
  return { op: 'queue', action: 'remove', replaces: p };
}

/**
 * Finds a loop among local forwards if `address` forwarded to `destinations`.
 * `forwardsOf` gives the destinations a local address will forward to once the queue is applied
 * (undefined for an address that is not a forward). Returns the loop as a path, or null.
 */
export function findForwardLoop(
  address: string,
  destinations: readonly string[],
  forwardsOf: (address: string) => readonly string[] | undefined,
): string[] | null {
  const seen = new Set<string>();
  const walk = (from: string, path: string[]): string[] | null => {
    const next = from === address ? destinations : forwardsOf(from);
    if (!next) return null;
    for (const dest of next) {
      if (dest === address) return [...path, dest];
      if (seen.has(dest)) continue;
      seen.add(dest);
      const found = walk(dest, [...path, dest]);
      if (found) return found;
    }
    return null;
  };
  return walk(address, [address]);
}

/**
 * Finds any loop among local forwards, walking from each of `starts` (every loop passes through
 * a forward, so the forwards are starts enough). `next` is `findForwardLoop`'s `forwardsOf`.
 * One walk over the whole graph, without recursion: a chain of 100,000 forwards is fine.
 * Returns a loop as a path that ends where it starts, or null.
 */
export function findAnyLoop(
  starts: Iterable<string>,
  next: (address: string) => readonly string[] | undefined,
): string[] | null {
  const done = new Set<string>();
  for (const start of starts) {
    if (done.has(start)) continue;
    const path = [start];
    const onPath = new Map([[start, 0]]);
    const todo: Iterator<string>[] = [(next(start) ?? [])[Symbol.iterator]()];
    while (todo.length) {
      const step = todo[todo.length - 1].next();
      if (step.done) {
        todo.pop();
        const left = path.pop() as string;
        onPath.delete(left);
        done.add(left);
        continue;
      }
      const dest = step.value;
      const at = onPath.get(dest);
      if (at !== undefined) return [...path.slice(at), dest];
      if (done.has(dest)) continue;
      onPath.set(dest, path.length);
      path.push(dest);
      todo.push((next(dest) ?? [])[Symbol.iterator]());
    }
  }
  return null;
}
