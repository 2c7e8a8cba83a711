// Email Forwarding: a form ([ name ]@domain -> [ destinations ]) above a table of forwarding
// addresses with where they send mail and their status. Add, change destinations, remove, undo.
import React from 'react';
import { Box, Text } from 'ink';
import type { ForwardView } from '../src/control/protocol.js';
import type { PendingView } from '../src/control/protocol.js';
import { actionWord, pendingStatus, whenApplies } from '../src/model/format.js';
import type { ScreenProps } from './accounts-screen.js';
import { callError, type DaemonSnapshot } from './daemon-session.js';
import { cell, Field, Footer, NoticeLine, type Key } from './frame.js';
import { fieldOf, formKey } from './form-reducer.js';
import { useScreenKeys } from './hooks.js';
import { selectedIndex } from './list-reducer.js';
import { useFormScreen } from './use-form-screen.js';

const FIXED_ROWS = 8;

const destinationsOf = (f: ForwardView) => f.pending?.destinations ?? f.destinations;

const FORWARDS = {
  pick: (d: DaemonSnapshot) => d.forwards,
  select: (all: ForwardView[], domain: string, filter: string) => {
    const f = filter.trim().toLowerCase();
    return all.filter((x) => x.domain === domain && (!f || x.name.includes(f) || x.destinations.some((d) => d.includes(f))));
  },
};

export function ForwardsScreen({ domain, width, height, now, theme, onBack, onQuit, onHelp }: ScreenProps) {
  const tableHeight = Math.max(1, height - FIXED_ROWS);
  const { act, session, state, dispatch, latest, rows, keys, selected, index, typing } = useFormScreen(FORWARDS, domain, tableHeight, now);

  const submit = async () => {
    const state = latest();
    if (state.busy) return;
    const name = state.name.trim();
    const destinations = state.second.split(/[\s,;]+/).filter(Boolean);
    if (!name) return dispatch({ type: 'rejected', field: 'name', text: `enter the forwarding name (without @${domain})` });
    if (destinations.length === 0) return dispatch({ type: 'rejected', field: 'second', text: 'enter one or more destination addresses' });
    dispatch({ type: 'submitting' });
    try {
      const r = await session.call('forwards.add', { name, destinations, domain });
      const text = 'queued' in r ? `Queued: ${actionWord(r.queued.action)} ${r.queued.address} -> ${destinations.join(', ')}, ${whenApplies(r.queued.appliesAt, now)}` : 'Done';
      dispatch({ type: 'submitted', notice: { kind: 'ok', text } });
    } catch (err) {
      const e = callError(err);
      if (e.unreachable) dispatch({ type: 'unconfirmed', address: `${name}@${domain}`, action: state.mode === 'add' ? 'add' : 'update', notice: { kind: 'error', text: 'Not confirmed: the daemon went away before answering. Once it is back, this line says whether it was queued.' } });
      else dispatch({ type: 'rejected', field: fieldOf(e.text), text: e.text });
    }
  };

  useScreenKeys((input, key) => {
    // The state as the last key left it, even if this handler was made before that key.
    const state = latest();
    const command = formKey(state, input, key, keys, tableHeight);
    if (command?.type === 'submit') return void submit();
    if (command?.type === 'remove') {
      const address = command.address;
      return void act('forwards.remove', { name: address, domain }, (r) =>
        'queued' in r ? `Queued: removal of ${address}, ${whenApplies(r.queued.appliesAt, now)}` : `Cancelled the pending add of ${address}`);
    }
    if (command) return dispatch(command);
    if (state.focus !== 'table') return;
    const selected = rows[selectedIndex(state.list, keys)];
    if ((input === 'e' || key.return) && selected) dispatch({ type: 'start-change', name: selected.name, second: destinationsOf(selected).join(', ') });
    else if (input === 'd' && selected) dispatch({ type: 'ask-remove', address: selected.address });
    else if (input === 'u' && selected) {
      const p = selected.pending;
      if (p) void act('pending.cancel', { id: p.id }, () => `Undone: the pending ${actionWord(p.action)} of ${selected.address}`);
      else dispatch({ type: 'notice', notice: { kind: 'warn', text: `${selected.address} has no pending change to undo` } });
    } else if (key.escape) onBack();
    else if (input === 'q') onQuit();
    else if (input === '?') onHelp();
  });

  const footer: Key[] =
    state.focus === 'confirm' ? [{ key: 'y', label: 'yes, remove' }, { key: 'n/Esc', label: 'no (default)' }]
    : typing ? [{ key: 'Enter', label: state.focus === 'second' ? 'queue the change' : 'next' }, { key: 'Tab', label: 'next field' }, { key: 'Esc', label: 'cancel' }]
    : [{ key: 'a', label: 'add' }, { key: 'Enter/e', label: 'edit destinations' }, { key: 'd', label: 'remove' }, { key: 'u', label: 'undo' }, { key: '/', label: 'filter' }, { key: 'Esc', label: 'menu' }, { key: '?', label: 'help' }, { key: 'q', label: 'quit' }];

  const nameWidth = Math.max(10, Math.floor((width - 34) / 3));
  const destWidth = Math.max(10, width - nameWidth - 34);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold>{state.mode === 'add' ? 'Add a forwarding address: ' : `Forward ${state.target}@${domain} to: `}</Text>
        {state.mode === 'add' ? (
          <>
            <Field value={state.name} focused={state.focus === 'name'} placeholder="name" theme={theme} />
            <Text>@{domain} -&gt; </Text>
          </>
        ) : null}
        <Field value={state.second} focused={state.focus === 'second'} placeholder="someone@example.org, other@example.net" theme={theme} />
        <Text color={theme.accent}> [Change]</Text>
      </Text>
      <Text color={theme.error} wrap="truncate">{state.error ? `${state.error.field === 'name' ? 'name' : 'destinations'}: ${state.error.text}` : state.busy ? 'sending…' : ' '}</Text>
      <NoticeLine notice={state.notice} theme={theme} />
      {state.focus === 'filter' || state.filter ? (
        <Text wrap="truncate">
          Filter: <Field value={state.filter} focused={state.focus === 'filter'} placeholder="part of a name or destination" theme={theme} />
        </Text>
      ) : (
        <Text dimColor={theme.dim}>{rows.length} forwarding address{rows.length === 1 ? '' : 'es'}: they store nothing and pass mail on.</Text>
      )}
      <Box flexDirection="column" height={tableHeight + 1}>
        <Text bold wrap="truncate">{`  ${cell('NAME', nameWidth)} ${cell('FORWARDS TO', destWidth)} ${cell('STATUS', 30)}`}</Text>
        {rows.length === 0 ? (
          <Text dimColor={theme.dim}>  No forwarding addresses in {domain} yet: press a to add one.</Text>
        ) : (
          rows.slice(state.list.top, state.list.top + tableHeight).map((x, i) => {
            const isSel = state.list.top + i === index;
            return (
              <Text key={x.address} inverse={isSel && state.focus === 'table'} bold={isSel} wrap="truncate">
                {isSel ? '› ' : '  '}
                {cell(x.name, nameWidth)} {cell(destinationsOf(x).join(', '), destWidth)}{' '}
                <Text color={x.pending ? theme.warn : theme.ok}>{cell(x.pending ? pendingStatus(x.pending.action, x.pending.appliesAt, now) : 'active', 30)}</Text>
              </Text>
            );
          })
        )}
      </Box>
      {state.focus === 'confirm' ? <Text color={theme.warn}>Remove {state.confirm}? Mail to it is refused after the next apply. [y/N]</Text> : <Text> </Text>}
      <Footer keys={footer} width={width} theme={theme} />
    </Box>
  );
}
