// The main menu, as the old console had it.

import { Box, Text } from 'ink';
import type { DomainView } from '../../src/control/protocol.js';
import { humanBytes } from '../../src/model/format.js';
import { Footer } from '../shared/frame.js';
import type { Theme } from '../shared/hooks.js';
import { cutWords, wrapWords } from '../shared/layout.js';
import { MENU, menuDigit } from './menu-items.js';

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
  // One line per item, whole: the labels padded to the longest, the hints in one column after
  // them, cut between words where the width runs out.
  const labels = MENU.map((item, i) => `${menuDigit(i)}. ${item.label}${extra(item.screen)}`);
  const labelWidth = Math.max(...labels.map((l) => l.length));
  const hintWidth = width - 3 - labelWidth - 2;
  const notes = [
    ...(totals
      ? wrapWords(
          `${totals.domain}: ${totals.messages} messages (${humanBytes(totals.bytes)}) in ${totals.accounts} mailboxes; catch-all ${totals.catchall ?? 'none'}; quota for new accounts ${totals.quota === null ? 'none' : humanBytes(totals.quota)}`,
          width - 3,
          2,
        ).map((text) => ({ text, warn: false }))
      : []),
    ...(attention
      ? wrapWords(
          `⚠ ${attention} mailbox${attention === 1 ? '' : 'es'} on your domains ${attention === 1 ? 'has' : 'have'} mail nobody collects: see Needs Attention (6).`,
          width - 3,
          2,
        ).map((text) => ({ text, warn: true }))
      : []),
  ];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box flexDirection="column" flexGrow={1} paddingTop={1}>
        {MENU.map((item, i) => (
          <Text key={item.label} wrap="truncate">
            <Text inverse={i === index} bold={i === index} color={i === index ? undefined : theme.accent}>
              {i === index ? ' › ' : '   '}
              {labels[i].padEnd(labelWidth)}
            </Text>
            <Text dimColor={theme.dim}>{`  ${cutWords(item.hint, hintWidth)}`}</Text>
          </Text>
        ))}
        {notes.length ? <Text> </Text> : null}
        {notes.map((note, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: lines of one wrapped text, drawn in place
          <Text key={i} color={note.warn ? theme.warn : undefined} dimColor={note.warn ? false : theme.dim}>
            {`   ${note.text}`}
          </Text>
        ))}
      </Box>
      <Footer
        keys={[
          { key: '↑↓/jk', label: 'move' },
          { key: 'Enter', label: 'open' },
          { key: '1-9,0', label: 'jump' },
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
