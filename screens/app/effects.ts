// What a key asks the console to do beyond changing its own state: send a request to the
// daemon (its answer comes back as an action for the screen that asked), or move between
// screens. The reducers return these; one runner sends them.
import type { ChangeAction, LogEntryView, Method, Params } from '../../src/control/protocol.js';
import { changeDetail, changeWord, whenApplies } from '../../src/model/format.js';
import type { DomainsAction } from '../domains/domains-reducer.js';
import type { ImportAction } from '../import/import-reducer.js';
import { callError, type DaemonSession } from '../shared/daemon-session.js';
import { describeQueued, type FormAction, type FormScreen } from '../shared/form-reducer.js';

export interface Notice {
  kind: 'ok' | 'warn' | 'error';
  text: string;
}

/** A request and its parameters, typed by the protocol's method table. */
export type Call<M extends Method = Method> = { [K in M]: { method: K; params: Params<K> } }[M];

/** An action on a table row or on the queue, reported on the screen's notice line. */
type RowCall =
  | { what: 'remove'; call: Call<'accounts.remove' | 'forwards.remove'> }
  | { what: 'undo' | 'cancel'; call: Call<'pending.cancel'> }
  | { what: 'apply'; call: Call<'pending.apply'> }
  | { what: 'add-domain'; call: Call<'domains.add'> }
  | { what: 'remove-domain'; call: Call<'domains.remove'> }
  | { what: 'suspend' | 'resume'; call: Call<'accounts.suspend' | 'accounts.resume'> }
  | { what: 'set-domain'; call: Call<'domains.quota' | 'domains.catchall'> };

export type Effect =
  /** A change typed into a form: refused input goes back to its field. */
  | {
      type: 'submit';
      screen: FormScreen;
      call: Call<'accounts.add' | 'accounts.passwd' | 'accounts.quota' | 'accounts.rename' | 'forwards.add'>;
      address: string;
      action: ChangeAction;
    }
  | ({ type: 'call'; screen: FormScreen | 'pending' | 'domains'; address: string } & RowCall)
  | { type: 'nav'; to: 'back' | 'quit' | 'help' }
  /** History, of one address or all (null). */
  | { type: 'nav'; to: 'history'; address: string | null }
  /** Load the audit log's entries for History. */
  | { type: 'history'; address: string | null }
  | { type: 'nav'; to: 'import' }
  /** Search every domain, starting from `query`. */
  | { type: 'nav'; to: 'search'; query: string }
  /** Check a CSV file (run null), or import it; see import-screen.tsx. */
  | { type: 'import'; path: string; domain: string; run: { skipBad: boolean } | null }
  /** Stop the import under way: nothing is queued. */
  | { type: 'import-stop' }
  /** Manage this hosted domain from now on. */
  | { type: 'choose'; domain: string };

/** A state and what it asks to be done. */
export interface Step<S> {
  state: S;
  effects: Effect[];
}

/** An answer, for the screen that asked. */
export type Outcome =
  | { screen: FormScreen; action: FormAction }
  | { screen: 'pending'; notice: Notice }
  | { screen: 'domains'; action: DomainsAction }
  | { screen: 'history'; address: string | null; entries: LogEntryView[] | null; error: string | null }
  | { screen: 'import'; action: ImportAction };

/** Sends a request effect and says what came of it. */
export async function runEffect(
  session: DaemonSession,
  effect: Exclude<Effect, { type: 'nav' | 'choose' | 'import' | 'import-stop' }>,
  now: () => number,
): Promise<Outcome> {
  if (effect.type === 'history') {
    try {
      const entries = await session.send({
        method: 'log.list',
        params: effect.address ? { address: effect.address, limit: 2000 } : { limit: 2000 },
      });
      return { screen: 'history', address: effect.address, entries: entries.reverse(), error: null };
    } catch (err) {
      return { screen: 'history', address: effect.address, entries: [], error: callError(err).text };
    }
  }
  try {
    if (effect.type === 'submit') {
      const result = await session.send(effect.call);
      const p = effect.call.params;
      const dests =
        'destinations' in p ? ` -> ${p.destinations.join(', ')}` : 'newName' in p ? ` -> ${p.newName}@${p.domain}` : '';
      return {
        screen: effect.screen,
        action: { type: 'queued', notice: { kind: 'ok', text: describeQueued(result, now(), dests) } },
      };
    }
    const text = await perform(session, effect, now);
    const notice: Notice = { kind: 'ok', text };
    if (effect.screen === 'domains')
      return {
        screen: 'domains',
        action: { type: effect.what === 'add-domain' || effect.what === 'set-domain' ? 'added' : 'notice', notice },
      };
    return effect.screen === 'pending'
      ? { screen: 'pending', notice }
      : { screen: effect.screen, action: { type: 'notice', notice } };
  } catch (err) {
    const e = callError(err);
    if (effect.type === 'submit') {
      return {
        screen: effect.screen,
        action: e.unreachable
          ? { type: 'unconfirmed', address: effect.address, action: effect.action }
          : { type: 'refused', field: e.field, text: e.text },
      };
    }
    const notice: Notice = { kind: 'error', text: e.text };
    if (effect.screen === 'domains')
      return {
        screen: 'domains',
        action:
          (effect.what === 'add-domain' || effect.what === 'set-domain') && !e.unreachable
            ? { type: 'refused', text: e.text }
            : { type: 'notice', notice },
      };
    return effect.screen === 'pending'
      ? { screen: 'pending', notice }
      : { screen: effect.screen, action: { type: 'notice', notice } };
  }
}

async function perform(
  session: DaemonSession,
  effect: Extract<Effect, { type: 'call' }>,
  now: () => number,
): Promise<string> {
  switch (effect.what) {
    case 'remove': {
      const r = await session.send(effect.call);
      if ('cancelled' in r) return `Cancelled the pending add of ${effect.address}: nothing was created`;
      return `Queued: removal of ${effect.address}, ${whenApplies(r.queued.appliesAt, now())}${effect.screen === 'accounts' ? '; its mail is archived, not deleted' : ''}`;
    }
    case 'set-domain': {
      const r = await session.send(effect.call);
      if ('cancelled' in r) return `Cancelled the pending ${changeWord(r.cancelled)} of ${effect.address}`;
      return `Queued: ${changeWord(r.queued)} ${effect.address} (${changeDetail(r.queued)}), ${whenApplies(r.queued.appliesAt, now())}`;
    }
    case 'suspend':
    case 'resume': {
      const r = await session.send(effect.call);
      if ('cancelled' in r) return `Cancelled the pending ${changeWord(r.cancelled)} of ${effect.address}`;
      const what = effect.what === 'suspend' ? ': it cannot log in then; its mail is kept' : '';
      return `Queued: ${changeWord(r.queued)} of ${effect.address}, ${whenApplies(r.queued.appliesAt, now())}${what}`;
    }
    case 'undo':
      return `Undone: the pending ${changeWord(await session.send(effect.call))} of ${effect.address}`;
    case 'cancel':
      return `Cancelled: ${changeWord(await session.send(effect.call))} ${effect.address}`;
    case 'apply': {
      const r = await session.send(effect.call);
      const left = r.left ? ` ${r.left} change(s) of other domains stay pending.` : '';
      const failed = r.failed.length ? ` ${r.failed.length} failed: ${r.failed[0].error}.` : '';
      return `Applied ${r.applied.length} change(s) of ${effect.address} now.${failed}${left}`;
    }
    case 'add-domain': {
      const r = await session.send(effect.call);
      if ('cancelled' in r) return `Cancelled the pending removal of ${r.cancelled.address}: it stays hosted`;
      return `Queued: add ${r.queued.address}, ${whenApplies(r.queued.appliesAt, now())}; give it accounts once it is hosted (A applies it now)`;
    }
    case 'remove-domain': {
      const r = await session.send(effect.call);
      if ('cancelled' in r) return `Cancelled the pending add of ${r.cancelled.address}: nothing was added`;
      const taking = effect.call.params.withAccounts ? ' with its accounts (their mail is archived)' : '';
      return `Queued: removal of ${r.queued.address}${taking}, ${whenApplies(r.queued.appliesAt, now())}; then its mail is refused`;
    }
  }
}
