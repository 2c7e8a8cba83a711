// Pending Changes: every queued change with its countdown to the apply; cancel one, or apply
// them all now (A, confirmed).
import React, { useMemo } from 'react';
import { Box, Text } from 'ink';
import { actionWord, clockTime } from '../src/model/format.js';
import { formatCountdown } from '../src/model/schedule.js';
import type { ScreenProps } from './accounts-screen.js';
import { callError } from './daemon-session.js';
import { cell, Footer, NoticeLine } from './frame.js';
import type { Notice } from './form-reducer.js';
import { useDaemon, useLatestReducer, useScreenKeys } from './hooks.js';
import { initialListState, moveSelection, selectedIndex, type ListState } from './list-reducer.js';

interface PendingState {
  list: ListState;
  confirm: 'apply' | 'cancel' | null;
  notice: Notice | null;
}

const patch = (s: PendingState, p: Partial<PendingState>): PendingState => ({ ...s, ...p });

export function PendingScreen({ domain, width, height, now, theme, onBack, onQuit, onHelp }: ScreenProps) {
  const { session, data } = useDaemon();
  const [{ list, confirm, notice }, set, latest] = useLatestReducer(patch, { list: initialListState, confirm: null, notice: null });
  const rows = useMemo(() => data.pending.filter((p) => p.domain === domain), [data.pending, domain]);
  const keys = useMemo(() => rows.map((p) => p.id), [rows]);
  const tableHeight = Math.max(1, height - 6);
  const index = selectedIndex(list, keys);
  const selected = index >= 0 ? rows[index] : undefined;

  const run = async (what: () => Promise<string>) => {
    set({ confirm: null });
    try {
      set({ notice: { kind: 'ok', text: await what() } });
    } catch (err) {
      set({ notice: { kind: 'error', text: callError(err).text } });
    }
  };

  useScreenKeys((input, key) => {
    // The state as the last key left it, even if this handler was made before that key.
    const { list, confirm } = latest();
    const current = rows[selectedIndex(list, keys)];
    if (confirm) {
      if (input === 'y' || input === 'Y') {
        if (confirm === 'apply') void run(async () => `Applied ${(await session.call('pending.apply', { domain })).applied.length} change(s) of ${domain} now.`);
        else if (current) void run(async () => (await session.call('pending.cancel', { id: current.id }), `Cancelled: ${actionWord(current.action)} ${current.address}`));
      } else set({ confirm: null });
      return;
    }
    const move = (delta: number) => set({ list: moveSelection(list, keys, delta, tableHeight) });
    if (key.upArrow || input === 'k') move(-1);
    else if (key.downArrow || input === 'j') move(1);
    else if (key.pageUp) move(-tableHeight);
    else if (key.pageDown) move(tableHeight);
    else if ((input === 'c' || input === 'd' || input === 'u') && current) set({ confirm: 'cancel' });
    else if (input === 'A' && rows.length) set({ confirm: 'apply' });
    else if (key.escape) onBack();
    else if (input === 'q') onQuit();
    else if (input === '?') onHelp();
  });

  const next = data.status?.nextApplyAt;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        {rows.length} pending change{rows.length === 1 ? '' : 's'}
        {next ? `; they apply at ${clockTime(next, new Date(now))} (in ${formatCountdown(Date.parse(next) - now)}), at the top of the hour.` : '.'}
      </Text>
      <NoticeLine notice={notice} theme={theme} />
      <Box flexDirection="column" height={tableHeight + 1}>
        <Text bold wrap="truncate">{`  ${cell('ID', 6)} ${cell('KIND', 8)} ${cell('ACTION', 18)} ${cell('ADDRESS', Math.max(10, width - 70))} ${cell('APPLIES IN', 12)} ${cell('QUEUED', 10)}`}</Text>
        {rows.length === 0 ? (
          <Text dimColor={theme.dim}>  Nothing is waiting: every change has been applied.</Text>
        ) : (
          rows.slice(list.top, list.top + tableHeight).map((p, i) => {
            const isSel = list.top + i === index;
            return (
              <Text key={p.id} inverse={isSel} wrap="truncate">
                {isSel ? '› ' : '  '}
                {cell(p.id, 6)} {cell(p.kind, 8)} {cell(actionWord(p.action), 18)} {cell(p.address, Math.max(10, width - 70))} {cell(formatCountdown(Date.parse(p.appliesAt) - now), 12)} {cell(clockTime(p.requestedAt, new Date(now)), 10)}
              </Text>
            );
          })
        )}
      </Box>
      {confirm === 'apply' ? (
        <Text color={theme.warn}>Apply all {rows.length} pending change(s) now, without waiting for the hour? [y/N]</Text>
      ) : confirm === 'cancel' && selected ? (
        <Text color={theme.warn}>Cancel the pending {actionWord(selected.action)} of {selected.address}? [y/N]</Text>
      ) : (
        <Text> </Text>
      )}
      <Footer keys={confirm ? [{ key: 'y', label: 'yes' }, { key: 'n/Esc', label: 'no (default)' }] : [{ key: 'c', label: 'cancel change' }, { key: 'A', label: 'apply all now' }, { key: 'Esc', label: 'menu' }, { key: '?', label: 'help' }, { key: 'q', label: 'quit' }]} width={width} theme={theme} />
    </Box>
  );
}
