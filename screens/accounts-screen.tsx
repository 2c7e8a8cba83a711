// POP3 Accounts: the old console's form ([ name ]@domain [ password ] [Change]) above a table of
// every account with its mailbox size, last login and status (active, or the pending action
// counting down to the apply). Add, change password, remove, undo, filter, sort, details.
import React from 'react';
import { Box, Text } from 'ink';
import type { AccountView } from '../src/control/protocol.js';
import type { PendingView } from '../src/control/protocol.js';
import { actionWord, clockTime, humanBytes, pendingStatus, shortTime, whenApplies } from '../src/model/format.js';
import { callError, type DaemonSnapshot } from './daemon-session.js';
import { cell, Field, Footer, NoticeLine, type Key } from './frame.js';
import { fieldOf, formKey, type FormState } from './form-reducer.js';
import { useDaemon, useScreenKeys, type Theme } from './hooks.js';
import { selectedIndex } from './list-reducer.js';
import { useFormScreen } from './use-form-screen.js';

export interface ScreenProps {
  domain: string;
  width: number;
  height: number;
  now: number;
  theme: Theme;
  onBack: () => void;
  onQuit: () => void;
  onHelp: () => void;
}

const FIXED_ROWS = 8; // form (2), notice, blank, table header, footer, margins

export function visibleAccounts(all: AccountView[], domain: string, filter: string, sort: FormState['sort']): AccountView[] {
  const f = filter.trim().toLowerCase();
  const list = all.filter((a) => a.domain === domain && (!f || a.name.includes(f)));
  if (sort === 'size') return list.sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
  return list;
}

const ACCOUNTS = { pick: (d: DaemonSnapshot) => d.accounts, select: visibleAccounts };

function status(a: AccountView, now: number): string {
  if (a.pending) return pendingStatus(a.pending.action, a.pending.appliesAt, now);
  return 'active';
}

export function AccountsScreen({ domain, width, height, now, theme, onBack, onQuit, onHelp }: ScreenProps) {
  const tableHeight = Math.max(1, height - FIXED_ROWS);
  const { act, session, data, state, dispatch, latest, rows, keys, index, selected, typing } = useFormScreen(ACCOUNTS, domain, tableHeight, now);

  const submit = async () => {
    const state = latest();
    if (state.busy) return;
    const name = state.name.trim();
    if (!name) return dispatch({ type: 'rejected', field: 'name', text: 'enter the account name (without @' + domain + ')' });
    if (!state.second) return dispatch({ type: 'rejected', field: 'second', text: 'enter a password' });
    dispatch({ type: 'submitting' });
    const method = state.mode === 'add' ? 'accounts.add' : 'accounts.passwd';
    try {
      const r = await session.call(method, { name, password: state.second, domain });
      const q = 'queued' in r ? r.queued : null;
      dispatch({ type: 'submitted', notice: { kind: 'ok', text: q ? `Queued: ${actionWord(q.action)} ${q.address}, ${whenApplies(q.appliesAt, now)}` : 'Done' } });
    } catch (err) {
      const e = callError(err);
      if (e.unreachable) {
        dispatch({ type: 'unconfirmed', address: `${name}@${domain}`, action: method === 'accounts.add' ? 'add' : 'password', notice: { kind: 'error', text: 'Not confirmed: the daemon went away before answering. Once it is back, this line says whether it was queued.' } });
      } else {
        dispatch({ type: 'rejected', field: fieldOf(e.text), text: e.text });
      }
    }
  };

  const remove = (address: string) =>
    act('accounts.remove', { name: address, domain }, (r) =>
      'queued' in r ? `Queued: removal of ${address}, ${whenApplies(r.queued.appliesAt, now)}; its mail is archived, not deleted` : `Cancelled the pending add of ${address}: nothing was created`);

  const undo = (a: AccountView) => {
    const p = a.pending;
    if (!p) return dispatch({ type: 'notice', notice: { kind: 'warn', text: `${a.address} has no pending change to undo` } });
    void act('pending.cancel', { id: p.id }, () => `Undone: the pending ${actionWord(p.action)} of ${a.address}`);
  };

  useScreenKeys((input, key) => {
    // The state as the last key left it, even if this handler was made before that key.
    const state = latest();
    const command = formKey(state, input, key, keys, tableHeight);
    if (command?.type === 'submit') return void submit();
    if (command?.type === 'remove') return void remove(command.address);
    if (command) return dispatch(command);
    if (state.focus !== 'table') return;
    const selected = rows[selectedIndex(state.list, keys)];
    if (input === 'p' && selected) dispatch({ type: 'start-change', name: selected.name });
    else if (input === 'd' && selected) dispatch({ type: 'ask-remove', address: selected.address });
    else if (input === 'u' && selected) undo(selected);
    else if (input === 's') dispatch({ type: 'toggle-sort' });
    else if (key.return && selected) dispatch({ type: 'focus', focus: 'details' });
    else if (key.escape) onBack();
    else if (input === 'q') onQuit();
    else if (input === '?') onHelp();
  });

  const footer: Key[] =
    state.focus === 'confirm' ? [{ key: 'y', label: 'yes, remove' }, { key: 'n/Esc', label: 'no (default)' }]
    : state.focus === 'details' ? [{ key: 'Esc', label: 'back to the list' }]
    : typing ? [{ key: 'Enter', label: state.focus === 'second' ? 'queue the change' : 'next' }, { key: 'Tab', label: 'next field' }, { key: 'Esc', label: 'cancel' }]
    : [{ key: 'a', label: 'add' }, { key: 'p', label: 'passwd' }, { key: 'd', label: 'remove' }, { key: 'u', label: 'undo' }, { key: '/', label: 'find' }, { key: 's', label: 'sort' }, { key: 'Enter', label: 'info' }, { key: 'Esc', label: 'menu' }, { key: '?', label: 'help' }, { key: 'q', label: 'quit' }];

  // Fixed columns take 61 of the width; the name gets the rest (19 at 80 columns).
  const nameWidth = Math.max(8, width - 61);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box>
        {state.mode === 'add' ? (
          <Text wrap="truncate">
            <Text bold>Add a POP3 account: </Text>
            <Field value={state.name} focused={state.focus === 'name'} placeholder="name" theme={theme} />
            <Text>@{domain}  password </Text>
            <Field value={state.second} focused={state.focus === 'second'} placeholder="8+ characters" mask theme={theme} />
            <Text color={theme.accent}> [Change]</Text>
          </Text>
        ) : (
          <Text wrap="truncate">
            <Text bold>New password for {state.target}@{domain}: </Text>
            <Field value={state.second} focused={state.focus === 'second'} placeholder="8+ characters" mask theme={theme} />
            <Text color={theme.accent}> [Change]</Text>
          </Text>
        )}
      </Box>
      <Text color={theme.error} wrap="truncate">{state.error ? `${state.error.field === 'name' ? 'name' : 'password'}: ${state.error.text}` : state.busy ? 'sending…' : ' '}</Text>
      <NoticeLine notice={state.notice} theme={theme} />
      <Box>
        {state.focus === 'filter' || state.filter ? (
          <Text wrap="truncate">
            <Text>Filter: </Text>
            <Field value={state.filter} focused={state.focus === 'filter'} placeholder="part of a name" theme={theme} />
            <Text dimColor={theme.dim}>  {rows.length} of {data.accounts.length}</Text>
          </Text>
        ) : (
          <Text dimColor={theme.dim}>{rows.length} account{rows.length === 1 ? '' : 's'}, sorted by {state.sort}. Changes apply on the hour.</Text>
        )}
      </Box>
      {state.focus === 'details' && selected ? (
        <Details account={selected} height={tableHeight + 1} now={now} theme={theme} />
      ) : (
        <Box flexDirection="column" height={tableHeight + 1}>
          <Text bold wrap="truncate">{`  ${cell('NAME', nameWidth)} ${cell('MESSAGES', 8, true)} ${cell('SIZE', 9, true)}  ${cell('LAST LOGIN', 12)} ${cell('STATUS', 25)}`}</Text>
          {rows.length === 0 ? (
            <Text dimColor={theme.dim}>  {state.filter ? 'No account matches the filter.' : `No POP3 accounts in ${domain} yet: press a to add one.`}</Text>
          ) : (
            rows.slice(state.list.top, state.list.top + tableHeight).map((a, i) => {
              const isSel = state.list.top + i === index;
              const st = status(a, now);
              return (
                <Text key={a.address} inverse={isSel && state.focus === 'table'} bold={isSel} wrap="truncate">
                  {isSel ? '› ' : '  '}
                  {cell(a.name, nameWidth)} {cell(String(a.messages), 8, true)} {cell(humanBytes(a.bytes), 9, true)}  {cell(a.lastLoginAt ? shortTime(a.lastLoginAt, new Date(now)) : '-', 12)}{' '}
                  <Text color={a.pending ? theme.warn : theme.ok}>{cell(st, 25)}</Text>
                </Text>
              );
            })
          )}
        </Box>
      )}
      {state.focus === 'confirm' ? (
        <Text color={theme.warn} wrap="truncate">Remove {state.confirm}? Its mail is archived at the next apply. [y/N]</Text>
      ) : (
        <Text> </Text>
      )}
      <Footer keys={footer} width={width} theme={theme} />
    </Box>
  );
}

function Details({ account: a, height, now, theme }: { account: AccountView; height: number; now: number; theme: Theme }) {
  const { data } = useDaemon();
  const host = data.status?.hostname ?? 'this server';
  const port = data.status?.pop3.port ?? 110;
  const line = (label: string, value: string) => (
    <Text wrap="truncate">
      <Text dimColor={theme.dim}>{label.padEnd(22)}</Text>
      {value}
    </Text>
  );
  return (
    <Box flexDirection="column" height={height}>
      <Text bold>{a.address}</Text>
      {line('Status', a.pending ? `${pendingStatus(a.pending.action, a.pending.appliesAt, now)} (applies ${clockTime(a.pending.appliesAt, new Date(now))})` : 'active')}
      {line('Messages', `${a.messages} (${humanBytes(a.bytes)}, ${a.bytes.toLocaleString('en')} bytes)`)}
      {line('Last POP3 login', a.lastLoginAt ? `${clockTime(a.lastLoginAt, new Date(now))} from ${a.lastLoginFrom ?? '?'}` : 'never')}
      {line('Last delivery', a.lastDeliveryAt ? clockTime(a.lastDeliveryAt, new Date(now)) : 'never')}
      <Text> </Text>
      <Text bold>Mail client settings</Text>
      {line('Account type', 'POP3')}
      {line('Incoming server', host)}
      {line('Port', `${port} (POP3${data.status?.pop3s ? `; ${data.status.pop3s.port} with SSL/TLS` : ''})`)}
      {line('Username', a.address)}
      {line('Password', 'the one set here')}
    </Box>
  );
}
