// What the open screen shows, worked out from the daemon's snapshot and the app state: each
// screen's rows (filtered, sorted, memoized so a key does not redo them), and from those what a
// key acts on (the AppView the app reducer is given with each key).
import { useMemo } from 'react';
import { visibleAccounts } from '../accounts/accounts-screen.js';
import { dnsLines } from '../dns/dns-reducer.js';
import { shownDomainList } from '../domains/domains-reducer.js';
import { DOMAINS_CHROME_ROWS } from '../domains/domains-screen.js';
import { destinationsOf, visibleForwards } from '../forwards/forwards-screen.js';
import { IMPORT_CHROME_ROWS } from '../import/import-screen.js';
import { helpLines, printFileName, settingsLines, textHeight, wrapLines } from '../info/info-screens.js';
import { shownPendingList } from '../pending/pending-reducer.js';
import { PENDING_CHROME_ROWS } from '../pending/pending-screen.js';
import type { Jump } from '../reports/report-reducer.js';
import {
  attentionRows,
  historyRows,
  REPORT_CHROME_ROWS,
  type ReportRow,
  searchRows,
} from '../reports/report-screens.js';
import type { DaemonSnapshot } from '../shared/daemon-session.js';
import type { FormRow } from '../shared/form-reducer.js';
import { shownList } from '../shared/form-reducer.js';
import { FORM_CHROME_ROWS } from '../shared/form-screen.js';
import { noticeExtra } from '../shared/layout.js';
import { filtered } from '../shared/list-filter.js';
import { keysOf, selectedIndex } from '../shared/list-reducer.js';
import { TRAIL_CHROME_ROWS } from '../trail/trail-screen.js';
import type { AppState, AppView } from './app-reducer.js';

export type ScreenRows = ReturnType<typeof useScreenRows>;

/** The rows of every screen the managed domain has, as the open screen shows them. */
export function useScreenRows(data: DaemonSnapshot, domain: string | null, state: AppState, width = 80) {
  const accountRows = useMemo(
    () => (domain ? visibleAccounts(data.accounts, domain, state.accounts.filter, state.accounts.sort) : []),
    [data.accounts, domain, state.accounts.filter, state.accounts.sort],
  );
  const forwardViews = useMemo(
    () => (domain ? visibleForwards(data.forwards, domain, state.forwards.filter) : []),
    [data.forwards, domain, state.forwards.filter],
  );
  const forwardRows = useMemo(
    (): FormRow[] => forwardViews.map((f) => ({ ...f, destinations: destinationsOf(f) })),
    [forwardViews],
  );
  const pendingAll = useMemo(() => data.pending.filter((p) => p.domain === domain), [data.pending, domain]);
  const pendingRows = useMemo(
    () => filtered(pendingAll, state.pending.filter, (p) => [p.address, p.kind, p.id, p.action, ...(p.parts ?? [])]),
    [pendingAll, state.pending.filter],
  );
  const domainRows = useMemo(
    () => filtered(data.domains, state.domains.filter, (d) => [d.domain]),
    [data.domains, state.domains.filter],
  );
  const counts = useMemo(() => {
    // Until the lists arrive, the counts are the domain's totals (applied rows only).
    const totals = data.domains.find((d) => d.domain === domain);
    return data.listed
      ? {
          accounts: data.accounts.filter((a) => a.domain === domain).length,
          forwards: data.forwards.filter((f) => f.domain === domain).length,
        }
      : { accounts: totals?.accounts ?? 0, forwards: totals?.forwards ?? 0 };
  }, [data.accounts, data.forwards, data.domains, data.listed, domain]);
  const attention = useMemo(() => attentionRows(data.accounts), [data.accounts]);
  const reportRows = useMemo((): ReportRow[] => {
    if (state.screen === 'attention') return attention;
    if (state.screen === 'search') return searchRows(state.reports.search.query, data.accounts, data.forwards);
    if (state.screen !== 'history') return [];
    const exists = (address: string): Jump | null => {
      const a = data.accounts.find((x) => x.address === address);
      if (a) return { domain: a.domain, screen: 'accounts', name: a.name };
      const f = data.forwards.find((x) => x.address === address);
      return f ? { domain: f.domain, screen: 'forwards', name: f.name } : null;
    };
    return historyRows(state.reports.history.entries ?? [], exists, Date.now());
  }, [
    state.screen,
    attention,
    state.reports.search.query,
    state.reports.history.entries,
    data.accounts,
    data.forwards,
  ]);
  const text =
    state.screen === 'help'
      ? helpLines(domain ?? '', state.previous, width)
      : state.screen === 'settings'
        ? wrapLines(settingsLines(domain ?? '', data.status), width)
        : state.screen === 'dns'
          ? wrapLines(dnsLines(state.dns), width)
          : [];

  return {
    accountRows,
    forwardViews,
    forwardRows,
    pendingAll,
    pendingRows,
    domainRows,
    counts,
    attention,
    reportRows,
    text,
  };
}

/** What the keys act on: what is on the screen now. */
export function keyView(
  state: AppState,
  data: DaemonSnapshot,
  domain: string | null,
  rows: ScreenRows,
  tooSmall: boolean,
  bodyHeight: number,
  width = 80,
): AppView {
  const { accountRows, forwardRows, pendingRows, domainRows, reportRows, text } = rows;
  const view: AppView = { tooSmall, connected: Boolean(data.status) };
  if (state.screen === 'domains')
    view.domains = {
      rows: domainRows,
      current: domain,
      tableHeight: Math.max(1, bodyHeight - DOMAINS_CHROME_ROWS - noticeExtra(state.domains.notice, width)),
    };
  // A notice wrapped over more lines takes them from the table (as the screen draws it).
  const formScreen = state.screen === 'forwards' ? state.forwards : state.accounts;
  const formHeight = Math.max(1, bodyHeight - FORM_CHROME_ROWS - noticeExtra(formScreen.notice, width));
  if (domain && state.screen === 'accounts')
    view.form = { screen: 'accounts', domain, rows: accountRows, tableHeight: formHeight };
  if (domain && state.screen === 'forwards')
    view.form = { screen: 'forwards', domain, rows: forwardRows, tableHeight: formHeight };
  if (domain && state.screen === 'pending')
    view.pending = {
      domain,
      rows: pendingRows,
      tableHeight: Math.max(1, bodyHeight - PENDING_CHROME_ROWS - noticeExtra(state.pending.notice, width)),
    };
  if (state.screen === 'attention' || state.screen === 'search' || state.screen === 'history')
    view.report = {
      keys: reportRows.map((r) => r.key),
      jumps: reportRows.map((r) => r.jump),
      height: Math.max(1, bodyHeight - REPORT_CHROME_ROWS),
    };
  if (state.screen === 'trail') view.trailHeight = Math.max(1, bodyHeight - TRAIL_CHROME_ROWS);
  if (state.screen === 'import') view.importHeight = Math.max(1, bodyHeight - IMPORT_CHROME_ROWS);
  if (text.length) view.text = { lines: text.length, height: textHeight(bodyHeight, state.printed !== null) };
  if (domain && data.status && state.screen === 'settings' && view.text)
    view.text.print = { file: printFileName(domain), lines: text };
  return view;
}

/** Where the selection is in the open list, for the title: `12 of 240` (empty: no list). */
export function listPosition(state: AppState, view: AppView): string {
  const of = (index: number, length: number) => (length ? ` · ${index + 1} of ${length}` : '');
  if (view.form) {
    const list = shownList(state[view.form.screen], view.form);
    return of(list.selected === null ? 0 : keysOf(view.form.rows).indexOf(list.selected), view.form.rows.length);
  }
  if (view.pending) {
    const list = shownPendingList(state.pending, view.pending);
    return of(
      Math.max(
        0,
        view.pending.rows.findIndex((p) => p.id === list.selected),
      ),
      view.pending.rows.length,
    );
  }
  if (view.domains) {
    const list = shownDomainList(state.domains, view.domains);
    return of(
      Math.max(
        0,
        view.domains.rows.findIndex((d) => d.domain === list.selected),
      ),
      view.domains.rows.length,
    );
  }
  if (view.report && (state.screen === 'attention' || state.screen === 'search' || state.screen === 'history'))
    return of(Math.max(0, selectedIndex(state.reports[state.screen], view.report.keys)), view.report.keys.length);
  return '';
}
