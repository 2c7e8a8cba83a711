// Pending Changes: every queued change with its countdown to the apply; cancel one, or apply
// them all now (A, confirmed).
import React, { useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import { actionWord, clockTime } from '../src/model/format.js';
import { formatCountdown } from '../src/model/schedule.js';
import type { ScreenProps } from './accounts-screen.js';
import { callError } from './daemon-session.js';
import { cell, Footer, NoticeLine } from './frame.js';
import type { Notice } from './form-reducer.js';
import { useDaemon, useScreenKeys } from './hooks.js';
import { initialListState, moveSelection, selectedIndex, type ListState } from './list-reducer.js';

export function PendingScreen({ domain, width, height, now, theme, onBack, onQuit, onHelp }: ScreenProps) {
  const { session, data } = useDaemon();
  const [list, setList] = useState<ListState>(initialListState);
  const [confirm, setConfirm] = useState<'apply' | 'cancel' | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const rows = data.pending.filter((p) => p.domain === domain);
  const keys = useMemo(() => rows.map((p) => p.id), [rows]);
  const tableHeight = Math.max(1, height - 6);
  const index = selectedIndex(list, keys);
  const selected = index >= 0 ? rows[index] : undefined;

  const run = async (what: () => Promise<string>) => {
    setConfirm(null);
    try {
      setNotice({ kind: 'ok', text: await what() });
    } catch (err) {
      setNotice({ kind: 'error', text: callError(err).text });
    }
  };

  useScreenKeys((input, key) => {
    if (confirm) {
      if (input === 'y' || input === 'Y') {
        if (confirm === 'apply') void run(async () => `Applied ${(await session.call<{ applied: unknown[] }>('pending.apply')).applied.length} change(s) now.`);
        else if (selected) void run(async () => (await session.call('pending.cancel', { id: selected.id }), `Cancelled: ${actionWord(selected.action)} ${selected.address}`));
      } else setConfirm(null);
      return;
    }
    if (key.upArrow || input === 'k') setList(moveSelection(list, keys, -1, tableHeight));
    else if (key.downArrow || input === 'j') setList(moveSelection(list, keys, 1, tableHeight));
    else if (key.pageUp) setList(moveSelection(list, keys, -tableHeight, tableHeight));
    else if (key.pageDown) setList(moveSelection(list, keys, tableHeight, tableHeight));
    else if ((input === 'c' || input === 'd' || input === 'u') && selected) setConfirm('cancel');
    else if (input === 'A' && rows.length) setConfirm('apply');
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
