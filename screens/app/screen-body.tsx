// The open screen's body, as the shell draws it under the header: nothing while the terminal is
// too small, the Unreachable screen until the daemon first answers, the domain picker until a
// domain is managed, then the screen the app state says is open.
import { Box, Text } from 'ink';
import type React from 'react';
import { AccountsScreen } from '../accounts/accounts-screen.js';
import { DomainsScreen } from '../domains/domains-screen.js';
import { ForwardsScreen } from '../forwards/forwards-screen.js';
import { ImportScreen } from '../import/import-screen.js';
import { TextScreen } from '../info/info-screens.js';
import { MainMenu } from '../menu/menu-screens.js';
import { PendingScreen } from '../pending/pending-screen.js';
import { ReportView } from '../reports/report-screens.js';
import type { DaemonSnapshot } from '../shared/daemon-session.js';
import { Footer, type Frame } from '../shared/frame.js';
import { TrailScreen } from '../trail/trail-screen.js';
import type { AppState } from './app-reducer.js';
import type { ScreenRows } from './on-screen.js';

/** Draws the open screen from the app state, the daemon's snapshot and the rows it shows. */
export function screenBody({
  tooSmall,
  state,
  data,
  domain,
  frame,
  rows: { accountRows, forwardViews, pendingAll, pendingRows, domainRows, counts, attention, reportRows, text },
}: {
  tooSmall: boolean;
  state: AppState;
  data: DaemonSnapshot;
  domain: string | null;
  frame: Frame;
  rows: ScreenRows;
}): React.ReactNode {
  if (tooSmall) return null;
  if (!data.status) return <Unreachable data={data} frame={frame} />;
  if (state.screen === 'domains' || !domain) {
    return (
      <DomainsScreen
        state={state.domains}
        rows={domainRows}
        total={data.domains.length}
        current={domain}
        frame={frame}
      />
    );
  }
  switch (state.screen) {
    case 'menu':
      return (
        <MainMenu
          index={state.menuIndex}
          width={frame.width}
          height={frame.height}
          theme={frame.theme}
          counts={{
            accounts: counts.accounts,
            forwards: counts.forwards,
            pending: pendingAll.length,
          }}
          totals={data.domains.find((d) => d.domain === domain) ?? null}
          attention={attention.length}
        />
      );
    case 'accounts':
      return (
        <AccountsScreen
          state={state.accounts}
          rows={accountRows}
          total={counts.accounts}
          domain={domain}
          frame={frame}
          status={data.status}
          loading={!data.listed}
        />
      );
    case 'forwards':
      return (
        <ForwardsScreen
          state={state.forwards}
          rows={forwardViews}
          total={counts.forwards}
          domain={domain}
          frame={frame}
          loading={!data.listed}
        />
      );
    case 'pending':
      return (
        <PendingScreen
          state={state.pending}
          rows={pendingRows}
          total={pendingAll.length}
          all={data.pending.length}
          domain={domain}
          nextApplyAt={data.status.nextApplyAt}
          frame={frame}
        />
      );
    case 'settings':
      return (
        <TextScreen
          lines={text}
          scroll={state.scroll}
          frame={frame}
          keys={[{ key: 'p', label: 'print to a file' }]}
          notice={state.printed}
        />
      );
    case 'help':
      return <TextScreen lines={text} scroll={state.scroll} frame={frame} />;
    case 'dns':
      return (
        <TextScreen
          lines={text}
          scroll={state.dns.scroll}
          frame={frame}
          keys={[{ key: 'r', label: 'look up again' }]}
        />
      );
    case 'import':
      return <ImportScreen state={state.import} domain={domain} frame={frame} />;
    case 'trail':
      return <TrailScreen state={state.trail} frame={frame} />;
    case 'attention':
    case 'search':
    case 'history':
      return <ReportView screen={state.screen} state={state.reports} rows={reportRows} frame={frame} />;
  }
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
