// What a key asks the console to do beyond changing its own state: send a request to the
// daemon (its answer comes back as an action for the screen that asked), or move between
// screens. Every screen's key handler returns a Step (its next state and these effects); the
// app shell sends them (app/effects.ts). Types only, so the screens depend on it and not on
// the shell.
import type { ChangeAction, Method, Params } from '../../src/control/protocol.js';
import type { FormScreen } from './screen-names.js';

export interface Notice {
  kind: 'ok' | 'warn' | 'error';
  text: string;
  /** When it was shown (Date.now()): good news shown before an apply goes with it. */
  at?: number;
  /** The queued change it announces, and what it says once that change is applied. */
  pendingId?: string;
  applied?: string;
}

/** A request and its parameters, typed by the protocol's method table. */
export type Call<M extends Method = Method> = { [K in M]: { method: K; params: Params<K> } }[M];

/** An action on a table row or on the queue, reported on the screen's notice line. */
export type RowCall =
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
  /** The Trail of one address (key t), and loading its events. */
  | { type: 'nav'; to: 'trail'; address: string }
  | { type: 'trail'; address: string }
  /** The DNS check of a hosted domain (key n on Domains), and looking its records up. */
  | { type: 'nav'; to: 'dns'; domain: string }
  | { type: 'dns'; domain: string }
  /** Load the audit log's entries for History. */
  | { type: 'history'; address: string | null }
  | { type: 'nav'; to: 'import' }
  /** Search every domain, starting from `query`. */
  | { type: 'nav'; to: 'search'; query: string }
  /** Check a CSV file (run null), or import it; see import/import-screen.tsx. */
  | { type: 'import'; path: string; domain: string; run: { skipBad: boolean } | null }
  /** Stop the import under way: nothing is queued. */
  | { type: 'import-stop' }
  /** Manage this hosted domain from now on. */
  | { type: 'choose'; domain: string }
  /** Print Mail Client Settings: its lines to a file in the console's directory. */
  | { type: 'print'; file: string; lines: readonly string[] };

/** A state and what it asks to be done. */
export interface Step<S> {
  state: S;
  effects: Effect[];
}
