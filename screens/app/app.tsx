// The console's shell: sizes itself from the terminal, draws the header and the open screen,
// and is the one place keys arrive (through the key gate) and requests leave: each key goes
// to the app reducer with what is on screen, and the requests it asks for are sent by one
// runner whose answers come back as actions.

import { Box, Text, useApp, useInput } from 'ink';
import { startTransition, useEffect, useReducer, useRef, useState } from 'react';
import { applyCadence } from '../../src/model/format.js';
import { runImport } from '../import/import-screen.js';
import type { DaemonSession, DaemonSnapshot } from '../shared/daemon-session.js';
import { checkUnconfirmed } from '../shared/form-reducer.js';
import { type Frame, Header } from '../shared/frame.js';
import { DaemonContext, theme as pickTheme, useDaemon, useNow, useTerminalSize } from '../shared/hooks.js';
import type { KeyGate, KeyTarget } from '../shared/key-gate.js';
import type { Screen } from '../shared/screen-names.js';
import { type AppAction, type AppState, appReducer, initialAppState, keyTarget } from './app-reducer.js';
import { runEffect } from './effects.js';
import { keyView, listPosition, useScreenRows } from './on-screen.js';
import { screenBody } from './screen-body.js';

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
  trail: 'Trail',
  dns: 'DNS Check',
};

export function App({ session, gate }: { session: DaemonSession; gate?: KeyGate }) {
  return (
    <DaemonContext.Provider value={session}>
      <Shell gate={gate} />
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
  useUnconfirmedCheck(state, data, dispatch);
  useEffect(() => {
    if (data.lastApply) dispatch({ type: 'applied', ...data.lastApply });
  }, [data.lastApply]);
  useRequests(state, dispatch, session, data.skewMs);

  // Ink repaints the whole screen when a frame is as tall as the terminal: stay one row short.
  const tooSmall = columns < MIN_COLUMNS || rows < MIN_ROWS;
  const width = columns;
  const height = rows - 1;
  const lost = data.status !== null && data.connection !== 'connected';
  const bodyHeight = height - 2 - (lost ? 2 : 0);
  const interval = data.status?.applyIntervalSeconds;
  const frame: Frame = { width, height: bodyHeight, now, theme, applies: applyCadence(interval ?? 3600) };
  const shown = useScreenRows(data, domain, state, width);
  const view = keyView(state, data, domain, shown, tooSmall, bodyHeight, width);
  useInput((input, key) => dispatch({ type: 'key', input, key, view }));

  const body = screenBody({ tooSmall, state, data, domain, frame, rows: shown });

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
      <Header
        title={`${TITLES[state.screen]}${listPosition(state, view)}`}
        domain={domain}
        data={data}
        now={now}
        width={width}
        theme={theme}
      />
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

/** Once a lost daemon is back: says whether a change sent as it went was queued after all. */
function useUnconfirmedCheck(state: AppState, data: DaemonSnapshot, dispatch: (a: AppAction) => void): void {
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the connection, the queue or an unconfirmed change moves, not on every keystroke in a form
  useEffect(() => {
    if (data.connection !== 'connected') return;
    for (const screen of ['accounts', 'forwards'] as const) {
      const action = checkUnconfirmed(state[screen], data.pending, Date.now() + data.skewMs);
      if (action) dispatch({ type: 'form', screen, action });
    }
  }, [data.connection, data.pending, state.accounts.unconfirmed, state.forwards.unconfirmed]);
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
  // biome-ignore lint/correctness/useExhaustiveDependencies: reports the commit asked for (released), with where keys go as of that commit; of a change of target alone, only the end of busy releases the keys held
  useEffect(() => {
    gate?.committed(released, target);
  }, [gate, released, target.busy]);
  return null;
}
