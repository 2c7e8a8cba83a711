// Pending Changes: this domain's queued changes with their countdown to the apply; cancel one,
// or apply this domain's changes now (A, confirmed). Keys are in pending-reducer.ts.

import { Box, Text } from 'ink';
import type { PendingView } from '../../src/control/protocol.js';
import { actionWord, changeDetail, changeWord, clockTime } from '../../src/model/format.js';
import { formatCountdown } from '../../src/model/schedule.js';
import { cell, Footer, type Frame, NoticeLine } from '../shared/frame.js';
import { type PendingState, shownPendingList } from './pending-reducer.js';

/** The ACTION cell: the action as a sentence reads it, or every part of a change of several. */
function actionCell(p: PendingView): string {
  return p.parts && p.parts.length > 1 ? p.parts.join(' + ') : actionWord(p.action);
}

/** Rows around the table: summary, notice, table header, question, footer, margin. */
export const PENDING_CHROME_ROWS = 6;

export function PendingScreen({
  state,
  rows,
  all,
  domain,
  nextApplyAt,
  frame,
}: {
  state: PendingState;
  rows: readonly PendingView[];
  all: number;
  domain: string;
  nextApplyAt: string | undefined;
  frame: Frame;
}) {
  const { width, height, now, theme } = frame;
  const tableHeight = Math.max(1, height - PENDING_CHROME_ROWS);
  const list = shownPendingList(state, { domain, rows, tableHeight });
  const selected = rows.find((p) => p.id === list.selected);
  const others = all - rows.length;
  // Every part of a change is named (`password + quota`; DETAIL says what each sets), and the
  // address column is no wider than the longest address shown, to leave DETAIL the room.
  const shown = rows.slice(list.top, list.top + tableHeight);
  const actionWidth = Math.min(
    34,
    shown.reduce((w, p) => Math.max(w, actionCell(p).length), 18),
  );
  const addressWidth = Math.max(
    10,
    Math.min(
      width - 52 - actionWidth,
      shown.reduce((w, p) => Math.max(w, p.address.length), 0),
    ),
  );
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        {rows.length} pending change{rows.length === 1 ? '' : 's'} in {domain}
        {others ? ` (and ${others} in other domains)` : ''}
        {nextApplyAt
          ? `; they apply at ${clockTime(nextApplyAt, new Date(now))} (in ${formatCountdown(Date.parse(nextApplyAt) - now)}); changes apply ${frame.applies ?? 'on the hour'}.`
          : '.'}
      </Text>
      <NoticeLine notice={state.notice} theme={theme} />
      <Box flexDirection="column" height={tableHeight + 1}>
        <Text
          bold
          wrap="truncate"
        >{`  ${cell('ID', 6)} ${cell('KIND', 8)} ${cell('ACTION', actionWidth)} ${cell('ADDRESS', addressWidth)} ${cell('APPLIES IN', 12)} ${cell('QUEUED', 10)} DETAIL`}</Text>
        {rows.length === 0 ? (
          <Text dimColor={theme.dim}>{`  Nothing is waiting in ${domain}: every change has been applied.`}</Text>
        ) : (
          shown.map((p) => {
            const isSel = p.id === list.selected;
            return (
              <Text key={p.id} inverse={isSel} wrap="truncate">
                {isSel ? '› ' : '  '}
                {cell(p.id, 6)} {cell(p.kind, 8)} {cell(actionCell(p), actionWidth)} {cell(p.address, addressWidth)}{' '}
                {cell(formatCountdown(Date.parse(p.appliesAt) - now), 12)}{' '}
                {cell(clockTime(p.requestedAt, new Date(now)), 10)} {changeDetail(p)}
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
          state.confirm
            ? [
                { key: 'y', label: 'yes' },
                { key: 'n/Esc', label: 'no (default)' },
              ]
            : [
                { key: 'c', label: 'cancel change' },
                { key: 'A', label: `apply ${domain} now` },
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
