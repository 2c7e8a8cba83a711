// The console's shell: sizes itself from the terminal, draws the header, owns the global keys
// (q, ?, number keys on the menu) and renders the open screen. Navigation is one reducer.
import React, { useCallback, useContext, useEffect, useRef } from 'react';
import { Box, Text, useApp, useInput } from 'ink';
import { AccountsScreen } from './accounts-screen.js';
import { appReducer, initialAppState, MENU, type Screen } from './app-reducer.js';
import type { DaemonSession } from './daemon-session.js';
import { ForwardsScreen } from './forwards-screen.js';
import { Footer, Header } from './frame.js';
import { DaemonContext, KeysContext, theme as pickTheme, useDaemon, useLatestReducer, useNow, useTerminalSize, type KeyHandler } from './hooks.js';
import { HelpScreen, SettingsScreen } from './info-screens.js';
import { DomainPicker, MainMenu } from './menu-screens.js';
import { PendingScreen } from './pending-screen.js';

export const MIN_COLUMNS = 80;
export const MIN_ROWS = 24;

const TITLES: Record<Screen, string> = {
  domains: 'Choose a domain',
  menu: 'Main menu',
  accounts: 'POP3 Accounts',
  forwards: 'Email Forwarding',
  pending: 'Pending Changes',
  settings: 'Mail Client Settings',
  help: 'Help',
};

export function App({ session }: { session: DaemonSession }) {
  const keys = useRef<KeyHandler | null>(null);
  return (
    <DaemonContext.Provider value={session}>
      <KeysContext.Provider value={keys}>
        <Shell />
      </KeysContext.Provider>
    </DaemonContext.Provider>
  );
}

function Shell() {
  const { exit } = useApp();
  const { data } = useDaemon();
  const { columns, rows } = useTerminalSize();
  const [state, dispatch, latest] = useLatestReducer(appReducer, initialAppState);
  const screenKeys = useContext(KeysContext);
  const now = useNow(data.skewMs);
  const theme = pickTheme();
  const domains = data.status?.domains ?? [];

  useEffect(() => {
    if (domains.length) dispatch({ type: 'domains-known', domains });
  }, [domains.join(',')]);
  useEffect(() => {
    if (state.quitting) exit();
  }, [state.quitting, exit]);

  const tooSmall = columns < MIN_COLUMNS || rows < MIN_ROWS;
  // One input handler for the whole console, reading state as the last key left it: the open
  // screen gets the keys when it has registered for them, the shell takes the rest.
  const live = useRef({ tooSmall, connected: Boolean(data.status), domains });
  live.current = { tooSmall, connected: Boolean(data.status), domains };
  useInput((input, key) => {
      const state = latest();
      const { tooSmall, connected, domains } = live.current;
      const screenOpen = !tooSmall && connected && state.domain !== null && state.screen !== 'menu' && state.screen !== 'domains';
      if (screenOpen && screenKeys.current) return screenKeys.current(input, key);
      if (input === 'q') return dispatch({ type: 'quit' });
      if (tooSmall || !connected) return;
      if (input === '?') return dispatch({ type: 'open', screen: 'help' });
      if (state.screen === 'menu') {
        if (key.upArrow || input === 'k') dispatch({ type: 'menu-move', delta: -1 });
        else if (key.downArrow || input === 'j') dispatch({ type: 'menu-move', delta: 1 });
        else if (key.return) dispatch({ type: 'menu-pick' });
        else if (/^[1-9]$/.test(input) && Number(input) <= MENU.length) dispatch({ type: 'menu-pick', index: Number(input) - 1 });
      } else if (state.screen === 'domains') {
        if (key.upArrow || input === 'k') dispatch({ type: 'domain-move', delta: -1, count: domains.length });
        else if (key.downArrow || input === 'j') dispatch({ type: 'domain-move', delta: 1, count: domains.length });
        else if (key.return && domains[state.domainIndex]) dispatch({ type: 'domain-pick', domain: domains[state.domainIndex] });
      }
  });
  const onBack = useCallback(() => dispatch({ type: 'back' }), []);
  const onQuit = useCallback(() => dispatch({ type: 'quit' }), []);
  const onHelp = useCallback(() => dispatch({ type: 'open', screen: 'help' }), []);

  // Ink repaints the whole screen when a frame is as tall as the terminal: stay one row short.
  const width = columns;
  const height = rows - 1;
  if (tooSmall) {
    return (
      <Box width={width} height={height} flexDirection="column" justifyContent="center" alignItems="center">
        <Text wrap="wrap">Terminal too small: {columns}x{rows}; vmail needs {MIN_COLUMNS}x{MIN_ROWS}. Enlarge it, or press q to quit.</Text>
      </Box>
    );
  }

  // Once connected, a lost daemon is a banner over the open screen, which keeps what was typed.
  const lost = data.status !== null && data.connection !== 'connected';
  const bodyHeight = height - 2 - (lost ? 2 : 0);
  const domain = state.domain;
  let body: React.ReactNode;
  if (!data.status) {
    body = <Unreachable width={width} height={bodyHeight} />;
  } else if (state.screen === 'domains' || !domain) {
    body = <DomainPicker domains={domains} index={state.domainIndex} width={width} height={bodyHeight} theme={theme} />;
  } else {
    const props = { domain, width, height: bodyHeight, now, theme, onBack, onQuit, onHelp };
    switch (state.screen) {
      case 'menu':
        body = <MainMenu index={state.menuIndex} width={width} height={bodyHeight} theme={theme} counts={{ accounts: data.accounts.filter((a) => a.domain === domain).length, forwards: data.forwards.filter((f) => f.domain === domain).length, pending: data.pending.filter((p) => p.domain === domain).length }} />;
        break;
      case 'accounts':
        body = <AccountsScreen {...props} />;
        break;
      case 'forwards':
        body = <ForwardsScreen {...props} />;
        break;
      case 'pending':
        body = <PendingScreen {...props} />;
        break;
      case 'settings':
        body = <SettingsScreen {...props} />;
        break;
      case 'help':
        body = <HelpScreen {...props} />;
        break;
    }
  }
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Header title={TITLES[state.screen]} domain={domain} data={data} now={now} width={width} theme={theme} />
      <Text dimColor={theme.dim}>{'─'.repeat(width)}</Text>
      {lost ? (
        <>
          <Text color={theme.error} bold wrap="truncate">✕ The vmail daemon cannot be reached. Reconnecting by itself; nothing can be sent until then.</Text>
          <Text wrap="truncate">  Looked for it at: {data.socketPath}  (start it with: vmail daemon)</Text>
        </>
      ) : null}
      {body}
    </Box>
  );
}

function Unreachable({ width, height }: { width: number; height: number }) {
  const { data } = useDaemon();
  const theme = pickTheme();
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
        <Text>Start it with:   vmail daemon --domain example.com</Text>
        <Text>or point the console at it with --socket PATH or $VMAIL_SOCKET.</Text>
        <Text> </Text>
        <Text dimColor={theme.dim}>This screen reconnects by itself once the daemon answers; nothing you queued is lost.</Text>
      </Box>
      <Footer keys={[{ key: 'q', label: 'quit' }]} width={width} theme={theme} />
    </Box>
  );
}
