// Pending Changes: this domain's queued changes with their countdown to the apply, narrowed by
// the on-screen filter; cancel one, or apply this domain's changes now (A, confirmed). Keys are
// in pending-reducer.ts.

import { Box, Text } from 'ink';
import type { PendingView } from '../../src/control/protocol.js';
import { actionWord, changeDetail, changeWord, clockTime } from '../../src/model/format.js';
import { formatCountdown } from '../../src/model/schedule.js';
import { cell, FilterLine, Footer, type Frame, NoticeLine } from '../shared/frame.js';
import { cutWords, fitColumns, noticeExtra, widest } from '../shared/layout.js';
import { type PendingState, shownPendingList } from './pending-reducer.js';

/** The ACTION cell: the action as a sentence reads it, or every part of a change of several. */
function actionCell(p: PendingView): string {
  return p.parts && p.parts.length > 1 ? p.parts.join(' + ') : actionWord(p.action);
}

/** Rows around the table: summary, notice, table header, question, footer, margin. */
export const PENDING_CHROME_ROWS = 6;

/**
 * The table's columns by the shared rule (layout.ts): the address whole first, then what the
 * change does and when, then the rest; DETAIL (what each part sets) takes what is left.
 */
function pendingColumns(rows: readonly PendingView[], shown: readonly PendingView[], width: number, now: number) {
  const applies = (p: PendingView) => formatCountdown(Date.parse(p.appliesAt) - now);
  const queued = (p: PendingView) => clockTime(p.requestedAt, new Date(now));
  const w = fitColumns(
    [
      {
        title: 'ID',
        want: widest(
          'ID',
          shown.map((p) => p.id),
        ),
        priority: 2,
      },
      {
        title: 'KIND',
        want: widest(
          'KIND',
          shown.map((p) => p.kind),
        ),
        priority: 2,
      },
      { title: 'ACTION', want: widest('ACTION', shown.map(actionCell)), priority: 1 },
      {
        title: 'ADDRESS',
        want: widest(
          'ADDRESS',
          rows.map((p) => p.address),
        ),
        priority: 0,
      },
      { title: 'APPLIES', want: widest('APPLIES', shown.map(applies)), priority: 1 },
      { title: 'QUEUED', want: widest('QUEUED', shown.map(queued)), priority: 2 },
      { title: 'DETAIL', want: widest('DETAIL', shown.map(changeDetail)), priority: 3, rest: true },
    ],
    width,
  );
  return { w, applies, queued };
}

/** The line above the table: how many changes wait and when they apply, or the filter. */
function PendingSummary({
  state,
  shown,
  total,
  others,
  domain,
  nextApplyAt,
  frame,
}: {
  state: PendingState;
  shown: number;
  total: number;
  others: number;
  domain: string;
  nextApplyAt: string | undefined;
  frame: Frame;
}) {
  const { width, now, theme } = frame;
  if (state.filter.typing || state.filter.text)
    return (
      <FilterLine
        filter={state.filter}
        shown={shown}
        total={total}
        placeholder="part of an address, kind or id"
        width={width}
        theme={theme}
      />
    );
  return (
    <Text>
      {cutWords(
        `${total} pending change${total === 1 ? '' : 's'} in ${domain}${others ? ` (and ${others} in other domains)` : ''}${
          nextApplyAt
            ? `; they apply at ${clockTime(nextApplyAt, new Date(now))} (in ${formatCountdown(Date.parse(nextApplyAt) - now)}); changes apply ${frame.applies ?? 'on the hour'}.`
            : '.'
        }`,
        width,
      )}
    </Text>
  );
}

export function PendingScreen({
  state,
  rows,
  total,
  all,
  domain,
  nextApplyAt,
  frame,
}: {
  state: PendingState;
  /** The domain's changes the filter lets through. */
  rows: readonly PendingView[];
  /** How many the domain has, and how many every domain has. */
  total: number;
  all: number;
  domain: string;
  nextApplyAt: string | undefined;
  frame: Frame;
}) {
  const { width, height, now, theme } = frame;
  const noticeLines = 1 + noticeExtra(state.notice, width);
  const tableHeight = Math.max(1, height - PENDING_CHROME_ROWS - noticeLines + 1);
  const list = shownPendingList(state, { domain, rows, tableHeight });
  const selected = rows.find((p) => p.id === list.selected);
  const others = all - total;
  const shown = rows.slice(list.top, list.top + tableHeight);
  const { w, applies, queued } = pendingColumns(rows, shown, width, now);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <PendingSummary
        state={state}
        shown={rows.length}
        total={total}
        others={others}
        domain={domain}
        nextApplyAt={nextApplyAt}
        frame={frame}
      />
      <NoticeLine notice={state.notice} theme={theme} width={width} rows={noticeLines} />
      <Box flexDirection="column" height={tableHeight + 1}>
        <Text
          bold
          wrap="truncate"
        >{`  ${['ID', 'KIND', 'ACTION', 'ADDRESS', 'APPLIES', 'QUEUED', 'DETAIL'].map((t, i) => cell(t, w[i])).join(' ')}`}</Text>
        {rows.length === 0 ? (
          <Text dimColor={theme.dim}>
            {total
              ? '  No pending change matches the filter.'
              : `  Nothing is waiting in ${domain}: every change has been applied.`}
          </Text>
        ) : (
          shown.map((p) => {
            const isSel = p.id === list.selected;
            return (
              <Text key={p.id} inverse={isSel} wrap="truncate">
                {isSel ? '› ' : '  '}
                {[p.id, p.kind, actionCell(p), p.address, applies(p), queued(p), changeDetail(p)]
                  .map((text, i) => cell(text, w[i]))
                  .join(' ')}
              </Text>
            );
          })
        )}
      </Box>
      {state.confirm === 'apply' ? (
        <Text color={theme.warn} wrap="truncate">
          Apply the {rows.length} pending change(s) of {domain} now, without waiting for the hour?
          {others ? ` (The ${others} of other domains wait.)` : ''} [y/N]
        </Text>
      ) : state.confirm === 'cancel' && selected ? (
        // Whole, on two lines if it must (the margin row): every part and the address are named.
        <Box height={2} overflowY="hidden">
          <Text color={theme.warn} wrap="wrap">
            {(selected.parts?.length ?? 1) > 1
              ? `Cancel all ${selected.parts?.length} parts (${changeWord(selected)}) of ${selected.address}? [y/N]`
              : `Cancel the pending ${changeWord(selected)} of ${selected.address}? [y/N]`}
          </Text>
        </Box>
      ) : selected ? (
        // The selected change whole, whatever the columns above had room for.
        <Box height={2} overflowY="hidden">
          <Text dimColor={theme.dim} wrap="wrap">
            {`${changeWord(selected)} of ${selected.address}`}
            {changeDetail(selected) ? `: ${changeDetail(selected)}` : ''}
          </Text>
        </Box>
      ) : (
        <Text> </Text>
      )}
      <Footer
        keys={
          state.filter.typing
            ? [
                { key: 'Enter', label: 'keep the filter' },
                { key: 'Esc', label: 'drop it' },
              ]
            : state.confirm
              ? [
                  { key: 'y', label: 'yes' },
                  { key: 'n/Esc', label: 'no (default)' },
                ]
              : [
                  { key: 'c', label: 'cancel change' },
                  { key: 'A', label: `apply ${domain} now` },
                  { key: '/', label: 'filter' },
                  { key: 'Esc', label: 'menu' },
                  { key: '?', label: 'help' },
                  { key: 'q', label: 'quit' },
                ]
        }
        width={width}
        theme={theme}
      />
    </Box>
  );
}
