// The main menu, as the old console had it.

import { Box, Text } from 'ink';
import type { DomainView } from '../../src/control/protocol.js';
import { humanBytes } from '../../src/model/format.js';
import { Footer } from '../shared/frame.js';
import type { Theme } from '../shared/hooks.js';
import { MENU } from './menu-items.js';

export function MainMenu({
  index,
  width,
  height,
  theme,
  counts,
  totals,
  attention,
}: {
  index: number;
  width: number;
  height: number;
  theme: Theme;
  counts: { accounts: number; forwards: number; pending: number };
  /** The managed domain's totals: the mail stored in it, its catch-all and quota. */
  totals: DomainView | null;
  /** Mailboxes on every domain whose mail nobody collects. */
  attention: number;
}) {
  const extra = (screen: string) =>
    screen === 'accounts'
      ? ` (${counts.accounts})`
      : screen === 'forwards'
        ? ` (${counts.forwards})`
        : screen === 'pending'
          ? ` (${counts.pending})`
          : '';
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box flexDirection="column" flexGrow={1} paddingTop={1}>
        {MENU.map((item, i) => (
          <Box key={item.label}>
            <Text inverse={i === index} bold={i === index} color={i === index ? undefined : theme.accent}>
              {i === index ? ' › ' : '   '}
              {`${i + 1}. ${item.label}${extra(item.screen)}`.padEnd(31)}
            </Text>
            <Text dimColor={theme.dim} wrap="truncate">{`  ${item.hint}`}</Text>
          </Box>
        ))}
        {totals ? (
          <Text dimColor={theme.dim} wrap="truncate">
            {`\n   ${totals.domain}: ${totals.messages} messages (${humanBytes(totals.bytes)}) in ${totals.accounts} mailboxes; catch-all ${totals.catchall ?? 'none'}; quota for new accounts ${totals.quota === null ? 'none' : humanBytes(totals.quota)}`}
          </Text>
        ) : null}
        {attention ? (
          <Text color={theme.warn} wrap="truncate">
            {`\n   ⚠ ${attention} mailbox${attention === 1 ? '' : 'es'} on your domains ${attention === 1 ? 'has' : 'have'} mail nobody collects: see Needs Attention (6).`}
          </Text>
        ) : null}
      </Box>
      <Footer
        keys={[
          { key: '↑↓/jk', label: 'move' },
          { key: 'Enter', label: 'open' },
          { key: '1-9', label: 'jump' },
          { key: '/', label: 'search' },
          { key: '?', label: 'help' },
          { key: 'q', label: 'quit' },
        ]}
        width={width}
        theme={theme}
      />
    </Box>
  );
}
