// Needs Attention, Search and History: lists over every domain, each row a line of columns;
// Enter jumps to the row's account or forward on its own domain. Keys are in report-reducer.ts.

import { Box, Text } from 'ink';
import type { AccountView, ForwardView, LogEntryView } from '../../src/control/protocol.js';
import { clockTime, healthNote, humanBytes } from '../../src/model/format.js';
import { visible } from '../../src/model/trail-format.js';
import { cell, Field, Footer, type Frame } from '../shared/frame.js';
import { cutWords, fitColumns, widestOf, wrapWords } from '../shared/layout.js';
import type { ListState } from '../shared/list-reducer.js';
import { selectedIndex } from '../shared/list-reducer.js';
import type { ReportScreen } from '../shared/screen-names.js';
import type { Jump, ReportsState } from './report-reducer.js';

/** Rows around the list: the summary line, a blank line, the header, the footer, a margin. */
export const REPORT_CHROME_ROWS = 5;

export interface ReportRow {
  key: string;
  cells: string[];
  jump: Jump | null;
}

/** Mailboxes whose mail nobody collects, on every domain: the stalest and biggest first. */
export function attentionRows(accounts: readonly AccountView[]): ReportRow[] {
  return accounts
    .filter((a) => a.health.piling || a.health.neverFetched)
    .sort((a, b) => (b.health.oldestDays ?? 0) - (a.health.oldestDays ?? 0) || b.bytes - a.bytes)
    .map((a) => ({
      key: a.address,
      cells: [
        a.address,
        healthNote(a.health),
        `${a.messages}`,
        humanBytes(a.bytes),
        a.health.lastLoginDays === null ? 'never' : `${a.health.lastLoginDays}d ago`,
      ],
      jump: { domain: a.domain, screen: 'accounts', name: a.name },
    }));
}

/** Accounts and forwards on every domain whose address or destinations contain `query`. */
export function searchRows(
  query: string,
  accounts: readonly AccountView[],
  forwards: readonly ForwardView[],
): ReportRow[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const out: ReportRow[] = [];
  for (const a of accounts)
    if (a.address.includes(q))
      out.push({
        key: a.address,
        cells: [a.address, 'account', `${a.messages} messages, ${humanBytes(a.bytes)}`],
        jump: { domain: a.domain, screen: 'accounts', name: a.name },
      });
  for (const f of forwards)
    if (f.address.includes(q) || f.destinations.some((d) => d.includes(q)))
      out.push({
        key: f.address,
        cells: [f.address, 'forward', `to ${f.destinations.join(', ')}`],
        jump: { domain: f.domain, screen: 'forwards', name: f.name },
      });
  return out.sort((a, b) => a.key.localeCompare(b.key)).slice(0, 1000);
}

/** Audit log entries, newest first; Enter goes to the address an entry is about, if it is still there. */
export function historyRows(
  entries: readonly LogEntryView[],
  exists: (address: string) => Jump | null,
  now: number,
): ReportRow[] {
  return entries.map((e, i) => ({
    key: String(i),
    // What was asked is as the client sent it (a refused name may hold an ESC): made visible.
    cells: [
      clockTime(e.at, new Date(now)),
      e.user,
      e.method,
      e.params.address ?? e.params.domain ?? '-',
      e.outcome,
    ].map(visible),
    jump: e.params.address ? exists(e.params.address) : null,
  }));
}

/** Each list's columns and their priority (layout.ts): the address first, then the status. */
const HEADERS: Record<ReportScreen, { title: string; priority: number }[]> = {
  attention: [
    { title: 'ACCOUNT', priority: 0 },
    { title: 'WHY', priority: 1 },
    { title: 'MESSAGES', priority: 2 },
    { title: 'SIZE', priority: 2 },
    { title: 'LAST LOGIN', priority: 2 },
  ],
  search: [
    { title: 'ADDRESS', priority: 0 },
    { title: 'KIND', priority: 1 },
    { title: 'DETAIL', priority: 2 },
  ],
  history: [
    { title: 'WHEN', priority: 2 },
    { title: 'USER', priority: 2 },
    { title: 'REQUEST', priority: 1 },
    { title: 'ADDRESS', priority: 0 },
    { title: 'OUTCOME', priority: 3 },
  ],
};

/** The summary in two lines, wrapped at words (the second blank when it fits on one). */
function summaryLines(summary: string, width: number): [string, string] {
  const lines = wrapWords(summary, width);
  return [lines[0] ?? '', lines.length > 2 ? cutWords(lines.slice(1).join(' '), width) : (lines[1] ?? ' ')];
}

export function ReportView({
  screen,
  state,
  rows,
  frame,
}: {
  screen: ReportScreen;
  state: ReportsState;
  rows: readonly ReportRow[];
  frame: Frame;
}) {
  const { width, height, theme } = frame;
  const list: ListState = state[screen];
  const tableHeight = Math.max(1, height - REPORT_CHROME_ROWS);
  const index = selectedIndex(
    list,
    rows.map((r) => r.key),
  );
  const top = Math.min(list.top, Math.max(0, rows.length - tableHeight));
  const headers = HEADERS[screen];
  const widths = fitColumns(
    headers.map((x, i) => ({
      ...x,
      want: widestOf(rows, `${screen}${i}`, x.title, (r) => r.cells[i] ?? ''),
      rest: i === headers.length - 1,
    })),
    width,
  );
  const line = (cells: string[]) => cells.map((c, i) => cell(c, widths[i])).join(' ');
  const h = state.history;
  const summary =
    screen === 'attention'
      ? rows.length
        ? `${rows.length} mailbox${rows.length === 1 ? '' : 'es'} on every domain whose mail is not being collected (never fetched, or mail left 30 days or more): stalest first.`
        : 'Every mailbox with mail has been fetched from, and none holds mail 30 days old.'
      : screen === 'search'
        ? `   ${state.search.query ? `${rows.length} match${rows.length === 1 ? '' : 'es'}` : 'type part of a name or destination'}`
        : h.entries === null
          ? `Loading the history${h.address ? ` of ${h.address}` : ''}…`
          : h.error
            ? `The history cannot be read: ${h.error}`
            : `${rows.length} change${rows.length === 1 ? '' : 's'}${h.address ? ` to ${h.address}` : ''}, newest first: who asked (their Unix user) and what came of it.`;
  const empty = screen === 'history' && h.entries?.length === 0 && !h.error ? 'Nothing has been changed yet.' : null;
  const keys = [
    ...(screen === 'search' ? [{ key: 'type', label: 'search' }] : [{ key: '↑↓/jk', label: 'move' }]),
    { key: 'Enter', label: 'go to it' },
    ...(screen === 'history' && h.address ? [{ key: 'a', label: 'all history' }] : []),
    { key: 'Esc', label: 'back' },
  ];
  return (
    <Box flexDirection="column" width={width} height={height}>
      {screen === 'search' ? (
        <>
          <Text wrap="truncate">
            {'Search every domain: '}
            <Field
              value={state.search.query}
              cursor={state.search.cursor}
              focused
              placeholder=""
              width={width - 'Search every domain: '.length - 2 - summary.length}
              theme={theme}
            />
            {summary}
          </Text>
          <Text> </Text>
        </>
      ) : (
        // The summary wraps at words onto the blank line under it.
        summaryLines(summary, width).map((l, i) => (
          <Text
            key={i === 0 ? 'summary' : 'more'}
            color={screen === 'attention' && rows.length ? theme.warn : undefined}
          >
            {l}
          </Text>
        ))
      )}
      <Box flexDirection="column" height={tableHeight + 1}>
        <Text bold wrap="truncate">{`  ${line(headers.map((x) => x.title))}`}</Text>
        {empty ? <Text dimColor={theme.dim}>{`  ${empty}`}</Text> : null}
        {rows.slice(top, top + tableHeight).map((r, i) => {
          const isSel = top + i === index;
          return (
            <Text key={r.key} inverse={isSel} wrap="truncate">
              {isSel ? '› ' : '  '}
              {line(r.cells)}
            </Text>
          );
        })}
      </Box>
      <Footer keys={keys} width={width} theme={theme} />
    </Box>
  );
}
