// The console's whole state, and what each key and each answer from the daemon does to it:
// which screen is open (one union, one switch), the main menu and domain picker, and each
// screen's own state, which stays as it was left when the admin looks at another screen.
// Pure: tested without rendering; the app shell renders it and runs the effects.
import type { Key } from 'ink';
import { type DnsState, dnsKey, initialDnsState, openDns } from '../dns/dns-reducer.js';
import { domainsKey } from '../domains/domains-keys.js';
import {
  type DomainsContext,
  type DomainsState,
  domainFieldEdges,
  domainsReducer,
  initialDomainsState,
  isTypingDomain,
} from '../domains/domains-reducer.js';
import {
  type ImportState,
  importFieldEdges,
  importKey,
  importReducer,
  initialImportState,
  isTypingPath,
} from '../import/import-reducer.js';
import { MENU, menuIndexOf } from '../menu/menu-items.js';
import { initialPendingState, type PendingContext, type PendingState, pendingKey } from '../pending/pending-reducer.js';
import {
  initialReportsState,
  type Jump,
  openHistory,
  type ReportContext,
  type ReportsState,
  reportKey,
} from '../reports/report-reducer.js';
import { formKey } from '../shared/form-keys.js';
import {
  type FormAction,
  type FormContext,
  type FormState,
  fieldEdges,
  formReducer,
  initialFormState,
  isTyping,
} from '../shared/form-reducer.js';
import type { KeyTarget } from '../shared/key-gate.js';
import type { FormScreen, Screen } from '../shared/screen-names.js';
import type { Effect, Notice, Step } from '../shared/step.js';
import { edges } from '../shared/text-buffer.js';
import { initialTrailState, openTrail, type TrailState, trailKey } from '../trail/trail-reducer.js';
import type { Outcome } from './effects.js';

export interface AppState {
  screen: Screen;
  /** The hosted domain being managed; null until picked when there are several (or none). */
  domain: string | null;
  menuIndex: number;
  /** Where Help returns to. */
  previous: Screen;
  quitting: boolean;
  accounts: FormState;
  forwards: FormState;
  pending: PendingState;
  domains: DomainsState;
  reports: ReportsState;
  import: ImportState;
  trail: TrailState;
  dns: DnsState;
  /** How far Help or Mail Client Settings is scrolled. */
  scroll: number;
  /** Where Mail Client Settings was printed (p), or why not; gone once the admin leaves it. */
  printed: Notice | null;
  /** Requests keys asked for, not yet sent (the app's effect runner takes them). */
  outbox: Effect[];
  /** Requests sent whose answer has not come back: keys wait for them (KeyTarget.busy). */
  inFlight: number;
}

export const initialAppState: AppState = {
  screen: 'menu',
  domain: null,
  menuIndex: 0,
  previous: 'menu',
  quitting: false,
  accounts: initialFormState,
  forwards: initialFormState,
  pending: initialPendingState,
  domains: initialDomainsState,
  reports: initialReportsState,
  import: initialImportState,
  trail: initialTrailState,
  dns: initialDnsState,
  scroll: 0,
  printed: null,
  outbox: [],
  inFlight: 0,
};

/** What a key needs to know beyond the state: the terminal, the daemon, the open screen's rows. */
export interface AppView {
  tooSmall: boolean;
  connected: boolean;
  form?: FormContext;
  pending?: PendingContext;
  domains?: DomainsContext;
  report?: ReportContext;
  /** Trail: how many lines its list shows. */
  trailHeight?: number;
  /** Import: how many preview lines show. */
  importHeight?: number;
  /** Help and settings: how many lines there are, and how many fit; settings: the page p prints. */
  text?: { lines: number; height: number; print?: { file: string; lines: readonly string[] } };
}

export type AppAction =
  | { type: 'domains-known'; domains: readonly string[] }
  | { type: 'open'; screen: Screen }
  | { type: 'back' }
  | { type: 'quit' }
  | { type: 'form'; screen: FormScreen; action: FormAction }
  | { type: 'outcome'; outcome: Outcome }
  | { type: 'key'; input: string; key: Key; view: AppView }
  | { type: 'sent'; count: number }
  /** The daemon applied changes (`ids`) at `at` (this clock): the notices about them follow. */
  | { type: 'applied'; ids: readonly string[]; at: number };

/**
 * A request to the daemon whose answer the keys wait for. An import is not one: it runs long,
 * reports as it goes, and Esc must reach it to stop it.
 */
function isRequest(e: Effect): boolean {
  return e.type !== 'nav' && e.type !== 'choose' && e.type !== 'import' && e.type !== 'import-stop';
}

/** True while a text field has the keys (the key gate then lets pasted text through whole). */
export function isTypingIn(state: AppState): boolean {
  if (state.screen === 'domains') return isTypingDomain(state.domains);
  if (state.screen === 'import') return isTypingPath(state.import);
  if (state.screen === 'search') return true;
  return (state.screen === 'accounts' || state.screen === 'forwards') && isTyping(state[state.screen]);
}

/** Where keys go now, for the key gate: a text field (and its cursor at an end), or not. */
export function keyTarget(state: AppState): KeyTarget {
  const busy = state.inFlight > 0 || state.outbox.some(isRequest);
  if (!isTypingIn(state)) return { textMode: false, atStart: false, atEnd: false, busy };
  if (state.screen === 'domains') return { textMode: true, ...domainFieldEdges(state.domains), busy };
  if (state.screen === 'import') return { textMode: true, ...importFieldEdges(state.import), busy };
  if (state.screen === 'search')
    return {
      textMode: true,
      ...edges({ value: state.reports.search.query, cursor: state.reports.search.cursor }),
      busy,
    };
  return { textMode: true, ...fieldEdges(state[state.screen as FormScreen]), busy };
}

const wrap = (i: number, n: number) => ((i % n) + n) % n;

export function appReducer(state: AppState, action: AppAction): AppState {
  switch (action.type) {
    case 'domains-known':
      // The one being managed is still hosted; or the only one is picked; or the admin picks.
      if (state.domain && action.domains.includes(state.domain)) return state;
      if (action.domains.length === 1)
        return { ...state, domain: action.domains[0], screen: state.screen === 'domains' ? 'menu' : state.screen };
      return { ...state, domain: null, screen: 'domains' };
    case 'open':
      return {
        ...state,
        screen: action.screen,
        scroll: 0,
        previous: state.screen === 'help' ? state.previous : state.screen,
      };
    case 'back':
      if (state.screen === 'help') return { ...state, screen: state.previous, scroll: 0 };
      if (state.screen === 'menu' || (state.screen === 'domains' && !state.domain)) return state;
      return { ...state, screen: 'menu' };
    case 'quit':
      return { ...state, quitting: true };
    case 'form':
      return { ...state, [action.screen]: formReducer(state[action.screen], action.action) };
    case 'outcome': {
      const o = action.outcome;
      if (o.screen === 'import') return { ...state, import: importReducer(state.import, o.action) };
      return answered({ ...state, inFlight: Math.max(0, state.inFlight - 1) }, o);
    }
    case 'key': {
      const step = appKey(state, action.input, action.key, action.view);
      return step.effects.length ? { ...step.state, outbox: [...step.state.outbox, ...step.effects] } : step.state;
    }
    case 'sent': {
      const sent = state.outbox.slice(0, action.count).filter(isRequest).length;
      return { ...state, outbox: state.outbox.slice(action.count), inFlight: state.inFlight + sent };
    }
    case 'applied': {
      const ids = new Set(action.ids);
      const after = (n: Notice | null) => noticeAfterApply(n, ids, action.at);
      return {
        ...state,
        accounts: { ...state.accounts, notice: after(state.accounts.notice) },
        forwards: { ...state.forwards, notice: after(state.forwards.notice) },
        pending: { ...state.pending, notice: after(state.pending.notice) },
        domains: { ...state.domains, notice: after(state.domains.notice) },
      };
    }
  }
}

/** An answer from the daemon, for the screen that asked. */
function answered(state: AppState, o: Exclude<Outcome, { screen: 'import' }>): AppState {
  if (o.screen === 'dns')
    return state.dns.domain === o.domain
      ? { ...state, dns: { ...state.dns, records: o.records, error: o.error } }
      : state;
  if (o.screen === 'trail')
    return state.trail.address === o.address
      ? { ...state, trail: { ...state.trail, events: o.events, error: o.error } }
      : state;
  if (o.screen === 'history') {
    const h = state.reports.history;
    if (h.address !== o.address) return state;
    return { ...state, reports: { ...state.reports, history: { ...h, entries: o.entries, error: o.error } } };
  }
  if (o.screen === 'pending') return { ...state, pending: { ...state.pending, notice: o.notice } };
  if (o.screen === 'settings') return { ...state, printed: o.notice };
  if (o.screen === 'domains') return { ...state, domains: domainsReducer(state.domains, o.action) };
  return { ...state, [o.screen]: formReducer(state[o.screen], o.action) };
}

/**
 * A notice once changes were applied at `at`: one that announced a change now applied says so;
 * any other good news shown before the apply (an undo, a cancel) is done with and goes.
 * Warnings and errors stay until something replaces them.
 */
export function noticeAfterApply(n: Notice | null, applied: ReadonlySet<string>, at: number): Notice | null {
  if (n?.kind !== 'ok' || n.at === undefined || n.at > at) return n;
  if (n.pendingId === undefined) return null;
  return applied.has(n.pendingId) ? { kind: 'ok', text: n.applied ?? n.text, at } : n;
}

/** Applies the moves between screens a screen asked for, and passes the rest on. */
function navigate(state: AppState, effects: Effect[]): Step<AppState> {
  let next = state;
  for (const e of effects) {
    if (e.type === 'choose') next = { ...next, domain: e.domain, screen: 'menu', previous: 'menu' };
    if (e.type !== 'nav') continue;
    if (e.to === 'history') {
      next = showHistory(next, e.address);
      continue;
    }
    if (e.to === 'dns') {
      next = {
        ...next,
        screen: 'dns',
        previous: next.screen,
        dns: openDns(e.domain),
        outbox: [...next.outbox, { type: 'dns', domain: e.domain }],
      };
      continue;
    }
    if (e.to === 'trail') {
      next = {
        ...next,
        screen: 'trail',
        previous: next.screen,
        trail: openTrail(e.address),
        outbox: [...next.outbox, { type: 'trail', address: e.address }],
      };
      continue;
    }
    if (e.to === 'search') {
      next = showSearch(next, e.query);
      continue;
    }
    if (e.to === 'import') {
      next = { ...next, screen: 'import', previous: next.screen, import: initialImportState };
      continue;
    }
    next =
      e.to === 'back'
        ? appReducer(next, { type: 'back' })
        : e.to === 'quit'
          ? appReducer(next, { type: 'quit' })
          : appReducer(next, { type: 'open', screen: 'help' });
  }
  return { state: next, effects: effects.filter((e) => e.type !== 'nav' && e.type !== 'choose') };
}

/** Opens History for `address` (null: everything) and asks for its entries. */
function showHistory(state: AppState, address: string | null): AppState {
  return {
    ...state,
    screen: 'history',
    previous: state.screen,
    reports: openHistory(state.reports, address),
    outbox: [...state.outbox, { type: 'history', address }],
  };
}

/** Opens Search over every domain, starting from `query`. */
function showSearch(state: AppState, query: string): AppState {
  return {
    ...state,
    screen: 'search',
    previous: state.screen,
    reports: { ...state.reports, search: { ...initialReportsState.search, query, cursor: query.length } },
  };
}

/** Goes to a name on its own domain: its screen, filtered down to it. */
function jumpTo(state: AppState, j: Jump): AppState {
  const form = state[j.screen];
  return {
    ...state,
    domain: j.domain,
    screen: j.screen,
    previous: state.screen,
    [j.screen]: { ...form, filter: j.name, list: { selected: `${j.name}@${j.domain}`, top: 0 }, focus: 'table' },
  };
}

const still = (state: AppState): Step<AppState> => ({ state, effects: [] });

/** A letter with Ctrl or Alt held is not that letter's command (Ctrl-U is not u, undo). */
function isModified(key: Key): boolean {
  return key.ctrl || (key.meta && !key.escape);
}

/** What one key does, wherever it lands. */
function appKey(state: AppState, input: string, key: Key, view: AppView): Step<AppState> {
  if (!view.tooSmall && view.connected && state.screen === 'domains') {
    if (!view.domains) return still(state);
    const step = domainsKey(state.domains, input, key, view.domains);
    return navigate({ ...state, domains: step.state }, step.effects);
  }
  if (!view.tooSmall && view.connected && state.screen === 'dns') {
    const step = dnsKey(state.dns, input, key, view.text ?? { lines: 0, height: 1 });
    if (step.quit) return still(appReducer(state, { type: 'quit' }));
    return { state: { ...state, dns: step.state, screen: step.back ? 'domains' : 'dns' }, effects: step.effects };
  }
  const screenOpen = !view.tooSmall && view.connected && state.domain !== null && state.screen !== 'menu';
  if (screenOpen) {
    switch (state.screen) {
      case 'accounts':
      case 'forwards': {
        if (!view.form) return still(state);
        const step = formKey(state[state.screen], input, key, view.form);
        return navigate({ ...state, [state.screen]: step.state }, step.effects);
      }
      case 'pending': {
        if (!view.pending) return still(state);
        const step = pendingKey(state.pending, input, key, view.pending);
        return navigate({ ...state, pending: step.state }, step.effects);
      }
      case 'help':
      case 'settings': {
        const print = state.screen === 'settings' && input === 'p' && !isModified(key) ? view.text?.print : undefined;
        if (print)
          return {
            state: { ...state, printed: { kind: 'ok', text: 'Printing…' } },
            effects: [{ type: 'print', ...print }],
          };
        return still(scrollText(state, input, key, view.text ?? { lines: 0, height: 1 }));
      }
      case 'import': {
        const step = importKey(state.import, input, key, {
          domain: state.domain ?? '',
          height: view.importHeight ?? 10,
        });
        const next = { ...state, import: step.state };
        return {
          state: step.back ? { ...next, screen: state.previous === 'import' ? 'accounts' : state.previous } : next,
          effects: step.effects,
        };
      }
      case 'trail': {
        const t = trailKey(state.trail, input, key, view.trailHeight ?? 10);
        if (t.back)
          return still({ ...state, trail: t.state, screen: state.previous === 'trail' ? 'menu' : state.previous });
        return still({ ...state, trail: t.state });
      }
      case 'attention':
      case 'search':
      case 'history': {
        if (!view.report) return still(state);
        const r = reportKey(state.reports, state.screen, input, key, view.report);
        const next = { ...state, reports: r.state };
        if (r.jump) return still(jumpTo(next, r.jump));
        if (r.back) return still({ ...next, screen: state.previous === state.screen ? 'menu' : state.previous });
        if (r.reload) return still(showHistory({ ...next, screen: state.previous }, null));
        return still(next);
      }
    }
  }
  if (isModified(key)) return still(state);
  if (input === 'q') return still(appReducer(state, { type: 'quit' }));
  if (view.tooSmall || !view.connected) return still(state);
  if (input === '?') return still(appReducer(state, { type: 'open', screen: 'help' }));
  if (input === '/' || input === 'S') return still(showSearch(state, ''));
  if (key.upArrow || input === 'k') return still({ ...state, menuIndex: wrap(state.menuIndex - 1, MENU.length) });
  if (key.downArrow || input === 'j') return still({ ...state, menuIndex: wrap(state.menuIndex + 1, MENU.length) });
  if (key.home || input === 'g') return still({ ...state, menuIndex: 0 });
  if (key.end || input === 'G') return still({ ...state, menuIndex: MENU.length - 1 });
  const index = key.return ? state.menuIndex : menuIndexOf(input);
  const item = MENU[index];
  if (!item) return still(state);
  if (item.screen === 'quit') return still({ ...state, menuIndex: index, quitting: true });
  if (item.screen === 'history') return still(showHistory({ ...state, menuIndex: index }, null));
  if (item.screen === 'search') return still(showSearch({ ...state, menuIndex: index }, ''));
  return still({ ...state, menuIndex: index, screen: item.screen, previous: 'menu', scroll: 0 });
}

function scrollText(state: AppState, input: string, key: Key, text: { lines: number; height: number }): AppState {
  if (isModified(key)) return state;
  const max = Math.max(0, text.lines - text.height);
  const to = (n: number) => ({ ...state, scroll: Math.max(0, Math.min(max, n)) });
  if (key.downArrow || input === 'j') return to(state.scroll + 1);
  if (key.upArrow || input === 'k') return to(state.scroll - 1);
  if (key.pageDown || input === ' ') return to(state.scroll + text.height);
  if (key.pageUp) return to(state.scroll - text.height);
  if (key.home || input === 'g') return to(0);
  if (key.end || input === 'G') return to(max);
  if (key.escape || key.return) return appReducer({ ...state, printed: null }, { type: 'back' });
  if (input === 'q') return appReducer(state, { type: 'quit' });
  return state;
}
