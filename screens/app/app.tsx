// The console's shell: sizes itself from the terminal, draws the header and the open screen,
// and is the one place keys arrive (through the key gate) and requests leave: each key goes
// to the app reducer with what is on screen, and the requests it asks for are sent by one
// runner whose answers come back as actions.

import { Box, Text, useApp, useInput } from 'ink';
import type React from 'react';
import { startTransition, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { AccountsScreen, visibleAccounts } from '../accounts/accounts-screen.js';
import { DOMAINS_CHROME_ROWS, DomainsScreen } from '../domains/domains-screen.js';
import { destinationsOf, ForwardsScreen, visibleForwards } from '../forwards/forwards-screen.js';
import { IMPORT_CHROME_ROWS, ImportScreen, runImport } from '../import/import-screen.js';
import { helpLines, settingsLines, TextScreen, textHeight } from '../info/info-screens.js';
import { MainMenu } from '../menu/menu-screens.js';
import { PENDING_CHROME_ROWS, PendingScreen } from '../pending/pending-screen.js';
import type { Jump } from '../reports/report-reducer.js';
import {
  attentionRows,
  historyRows,
  REPORT_CHROME_ROWS,
  type ReportRow,
  ReportView,
  searchRows,
} from '../reports/report-screens.js';
import type { DaemonSession, DaemonSnapshot } from '../shared/daemon-session.js';
import { checkUnconfirmed, type FormRow } from '../shared/form-reducer.js';
import { FORM_CHROME_ROWS } from '../shared/form-screen.js';
import { Footer, type Frame, GateContext, Header } from '../shared/frame.js';
import { DaemonContext, theme as pickTheme, useDaemon, useNow, useTerminalSize } from '../shared/hooks.js';
import type { KeyGate, KeyTarget } from '../shared/key-gate.js';
import type { Screen } from '../shared/screen-names.js';
import { type AppAction, type AppState, type AppView, appReducer, initialAppState, keyTarget } from './app-reducer.js';
import { runEffect } from './effects.js';

const MIN_COLUMNS = 80;
const MIN_ROWS = 24;

const TITLES: Record<Screen, string> = {
  domains: 'Domains',
  menu: 'Main menu',
  accounts: 'POP3 Accounts',
  forwards: 'Email Forwarding',
  pending: 'Pending Changes',
  settings: 'Mail Client Settings',
  help: 'Help',
  import: 'Import Accounts',
  attention: 'Needs Attention',
  search: 'Search',
  history: 'History',
};

export function App({ session, gate }: { session: DaemonSession; gate?: KeyGate }) {
  return (
    <DaemonContext.Provider value={session}>
      <GateContext.Provider value={gate ?? null}>
        <Shell gate={gate} />
      </GateContext.Provider>
    </DaemonContext.Provider>
  );
}

function Shell({ gate }: { gate?: KeyGate }) {
  const { exit } = useApp();
  const { session, data } = useDaemon();
  const { columns, rows } = useTerminalSize();
  const [state, dispatch] = useReducer(appReducer, initialAppState);
  const now = useNow(data.skewMs);
  const theme = pickTheme();
  const hosted = data.status?.domains;
  // The only hosted domain is the one managed from the first frame (the state learns it just
  // after, in the effect below): no frame of the domain picker before it.
  const domain = state.domain ?? (hosted?.length === 1 ? hosted[0] : null);

  useEffect(() => {
    if (hosted) dispatch({ type: 'domains-known', domains: hosted });
  }, [hosted]);
  useEffect(() => {
    if (state.quitting) exit();
  }, [state.quitting, exit]);
  // Once a lost daemon is back: say whether a change sent as it went was queued after all.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the connection, the queue or an unconfirmed change moves, not on every keystroke in a form
  useEffect(() => {
    if (data.connection !== 'connected') return;
    for (const screen of ['accounts', 'forwards'] as const) {
      const action = checkUnconfirmed(state[screen], data.pending, Date.now() + data.skewMs);
      if (action) dispatch({ type: 'form', screen, action });
    }
  }, [data.connection, data.pending, state.accounts.unconfirmed, state.forwards.unconfirmed]);
  useRequests(state, dispatch, session, data.skewMs);

  // Ink repaints the whole screen when a frame is as tall as the terminal: stay one row short.
  const tooSmall = columns < MIN_COLUMNS || rows < MIN_ROWS;
  const width = columns;
  const height = rows - 1;
  const lost = data.status !== null && data.connection !== 'connected';
  const bodyHeight = height - 2 - (lost ? 2 : 0);
  const frame: Frame = { width, height: bodyHeight, now, theme };
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
  const pendingRows = useMemo(() => data.pending.filter((p) => p.domain === domain), [data.pending, domain]);
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
      ? helpLines(domain ?? '')
      : state.screen === 'settings'
        ? settingsLines(domain ?? '', data.status)
        : [];

  // What the keys act on: what is on the screen now.
  const view: AppView = { tooSmall, connected: Boolean(data.status) };
  if (state.screen === 'domains')
    view.domains = { rows: data.domains, current: domain, tableHeight: Math.max(1, bodyHeight - DOMAINS_CHROME_ROWS) };
  const formHeight = Math.max(1, bodyHeight - FORM_CHROME_ROWS);
  if (domain && state.screen === 'accounts')
    view.form = { screen: 'accounts', domain, rows: accountRows, tableHeight: formHeight };
  if (domain && state.screen === 'forwards')
    view.form = { screen: 'forwards', domain, rows: forwardRows, tableHeight: formHeight };
  if (domain && state.screen === 'pending')
    view.pending = { domain, rows: pendingRows, tableHeight: Math.max(1, bodyHeight - PENDING_CHROME_ROWS) };
  if (state.screen === 'attention' || state.screen === 'search' || state.screen === 'history')
    view.report = {
      keys: reportRows.map((r) => r.key),
      jumps: reportRows.map((r) => r.jump),
      height: Math.max(1, bodyHeight - REPORT_CHROME_ROWS),
    };
  if (state.screen === 'import') view.importHeight = Math.max(1, bodyHeight - IMPORT_CHROME_ROWS);
  if (text.length) view.text = { lines: text.length, height: textHeight(bodyHeight) };
  useInput((input, key) => dispatch({ type: 'key', input, key, view }));

  let body: React.ReactNode;
  if (tooSmall) {
    body = null;
  } else if (!data.status) {
    body = <Unreachable data={data} frame={frame} />;
  } else if (state.screen === 'domains' || !domain) {
    body = (
      <DomainsScreen
        state={state.domains}
        rows={data.domains}
        current={domain}
        frame={frame}
        edit={(value) => dispatch({ type: 'domain-typed', value })}
      />
    );
  } else {
    const edit = (screen: 'accounts' | 'forwards') => (field: 'name' | 'second' | 'filter', value: string) =>
      dispatch({ type: 'form', screen, action: { type: 'edit', field, value } });
    switch (state.screen) {
      case 'menu':
        body = (
          <MainMenu
            index={state.menuIndex}
            width={width}
            height={bodyHeight}
            theme={theme}
            counts={{
              accounts: counts.accounts,
              forwards: counts.forwards,
              pending: pendingRows.length,
            }}
            totals={data.domains.find((d) => d.domain === domain) ?? null}
            attention={attention.length}
          />
        );
        break;
      case 'accounts':
        body = (
          <AccountsScreen
            state={state.accounts}
            rows={accountRows}
            total={counts.accounts}
            domain={domain}
            frame={frame}
            edit={edit('accounts')}
            status={data.status}
            loading={!data.listed}
          />
        );
        break;
      case 'forwards':
        body = (
          <ForwardsScreen
            state={state.forwards}
            rows={forwardViews}
            total={counts.forwards}
            domain={domain}
            frame={frame}
            edit={edit('forwards')}
            loading={!data.listed}
          />
        );
        break;
      case 'pending':
        body = (
          <PendingScreen
            state={state.pending}
            rows={pendingRows}
            all={data.pending.length}
            domain={domain}
            nextApplyAt={data.status.nextApplyAt}
            frame={frame}
          />
        );
        break;
      case 'settings':
      case 'help':
        body = <TextScreen lines={text} scroll={state.scroll} frame={frame} />;
        break;
      case 'import':
        body = (
          <ImportScreen
            state={state.import}
            domain={domain}
            frame={frame}
            edit={(value) => dispatch({ type: 'path-typed', value })}
          />
        );
        break;
      case 'attention':
      case 'search':
      case 'history':
        body = <ReportView screen={state.screen} state={state.reports} rows={reportRows} frame={frame} />;
        break;
    }
  }

  // The last thing drawn: lets the gate release the next key once this key's commit has landed.
  const sync = <GateSync gate={gate} target={keyTarget(state)} />;

  if (tooSmall) {
    return (
      <Box width={width} height={height} flexDirection="column" justifyContent="center" alignItems="center">
        <Text wrap="wrap">
          Terminal too small: {columns}x{rows}; vmail needs {MIN_COLUMNS}x{MIN_ROWS}. Enlarge it, or press q to quit.
        </Text>
        {sync}
      </Box>
    );
  }
  // Once connected, a lost daemon is a banner over the open screen, which keeps what was typed.
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Header title={TITLES[state.screen]} domain={domain} data={data} now={now} width={width} theme={theme} />
      <Text dimColor={theme.dim}>{'─'.repeat(width)}</Text>
      {lost ? (
        <>
          <Text color={theme.error} bold wrap="truncate">
            ✕ The vmail daemon cannot be reached. Reconnecting by itself; nothing can be sent until then.
          </Text>
          <Text wrap="truncate">{`  Looked for it at: ${data.socketPath}  (start it with: vmail daemon)`}</Text>
        </>
      ) : null}
      {body}
      {sync}
    </Box>
  );
}

/** Sends the requests keys asked for; each answer comes back as an action. */
function useRequests(state: AppState, dispatch: (a: AppAction) => void, session: DaemonSession, skewMs: number): void {
  // The import under way, so that Esc can stop it.
  const importing = useRef<AbortController | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the outbox alone says when there is something to send
  useEffect(() => {
    if (state.outbox.length === 0) return;
    const effects = state.outbox;
    dispatch({ type: 'sent', count: effects.length });
    for (const effect of effects) {
      if (effect.type === 'nav' || effect.type === 'choose') continue;
      if (effect.type === 'import-stop') {
        importing.current?.abort();
        continue;
      }
      if (effect.type === 'import') {
        const stop = new AbortController();
        importing.current = stop;
        void runImport(
          session,
          effect,
          (action) => dispatch({ type: 'outcome', outcome: { screen: 'import', action } }),
          stop.signal,
        );
        continue;
      }
      void runEffect(session, effect, () => Date.now() + skewMs).then((outcome) =>
        dispatch({ type: 'outcome', outcome }),
      );
    }
  }, [state.outbox]);
}

/**
 * The app's side of the key gate: the gate asks for a re-render of this (empty) last child in
 * a transition, which React renders only after all other work and after the effects of
 * earlier commits have run, so when it commits every update a key set off has been committed
 * and every key handler re-subscribed. Its own state is all that re-renders, so asking costs
 * little.
 */
function GateSync({ gate, target }: { gate?: KeyGate; target: KeyTarget }): null {
  const [released, setReleased] = useState(0);
  useEffect(() => {
    if (!gate) return;
    gate.onRelease = (seq) => startTransition(() => setReleased(seq));
    return () => {
      gate.onRelease = () => {};
    };
  }, [gate]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: reports the commit asked for (released), with where keys go as of that commit; a change of target alone releases nothing
  useEffect(() => {
    gate?.committed(released, target);
  }, [gate, released]);
  return null;
}

function Unreachable({ data, frame }: { data: DaemonSnapshot; frame: Frame }) {
  const { width, height, theme } = frame;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box flexDirection="column" flexGrow={1} paddingTop={1} paddingLeft={2}>
        <Text bold color={data.connection === 'down' ? theme.error : theme.warn}>
          {data.connection === 'down' ? 'The vmail daemon cannot be reached.' : 'Connecting to the vmail daemon…'}
        </Text>
        <Text> </Text>
        <Text wrap="truncate">Looked for it at: {data.socketPath}</Text>
        {data.problem ? <Text wrap="truncate">Problem: {data.problem}</Text> : null}
        <Text> </Text>
        <Text>{'Start it with:   vmail daemon --domain example.com'}</Text>
        <Text>or point the console at it with --socket PATH or $VMAIL_SOCKET.</Text>
        <Text> </Text>
        <Text dimColor={theme.dim}>
          This screen reconnects by itself once the daemon answers; nothing you queued is lost.
        </Text>
      </Box>
      <Footer keys={[{ key: 'q', label: 'quit' }]} width={width} theme={theme} />
    </Box>
  );
}
