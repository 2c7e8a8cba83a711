// POP3 Accounts: the old console's form ([ name ]@domain [ password ] [Change]) above a table of
// every account with its mailbox size, last login and status (active, or the pending action
// counting down to the apply). Drawn from the screen's state; keys are in ../shared/form-keys.ts.

import { Box, Text } from 'ink';
import React from 'react';
import type { AccountView, StatusView } from '../../src/control/protocol.js';
import {
  accountState,
  clockTime,
  formatQuota,
  healthNote,
  humanBytes,
  pendingStatus,
  shortTime,
} from '../../src/model/format.js';
import { quotaUse } from '../../src/model/quota.js';
import { type FormState, shownList } from '../shared/form-reducer.js';
import { confirmQuestion, FORM_CHROME_ROWS, type FormScreenProps, footerKeys } from '../shared/form-screen.js';
import { cell, Field, Footer, NoticeLine, shareRoom } from '../shared/frame.js';
import type { Theme } from '../shared/hooks.js';
import { fitColumns, noticeExtra, question, widest, widestOf } from '../shared/layout.js';
import { keysOf } from '../shared/list-reducer.js';

/**
 * The lists lately shown for one set of accounts, domain and order, by filter text: a letter
 * typed filters the shortest list whose text the new one contains (not all 100,000 accounts),
 * and a letter erased finds its list again.
 */
const shown = {
  all: null as readonly AccountView[] | null,
  domain: '',
  sort: '',
  byFilter: new Map<string, AccountView[]>(),
};
const SHOWN_KEPT = 32;

export function visibleAccounts(
  all: readonly AccountView[],
  domain: string,
  filter: string,
  sort: FormState['sort'],
): AccountView[] {
  const f = filter.trim().toLowerCase();
  if (shown.all !== all || shown.domain !== domain || shown.sort !== sort)
    Object.assign(shown, { all, domain, sort, byFilter: new Map() });
  const known = shown.byFilter.get(f);
  if (known) return known;
  let base = shown.byFilter.get('');
  if (!base) {
    base = all.filter((a) => a.domain === domain);
    if (sort === 'size') base.sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
    if (sort === 'quota') base.sort((a, b) => (use(b) ?? -1) - (use(a) ?? -1) || (a.name < b.name ? -1 : 1));
    shown.byFilter.set('', base);
  }
  // Every name that contains f contains each part of f: the shortest such list is enough.
  for (const [text, list] of shown.byFilter) if (f.includes(text) && list.length < base.length) base = list;
  const list = f ? base.filter((a) => a.name.includes(f)) : base;
  shown.byFilter.set(f, list);
  for (const text of shown.byFilter.keys()) {
    if (shown.byFilter.size <= SHOWN_KEPT) break;
    if (text) shown.byFilter.delete(text);
  }
  return list;
}

/** How full a mailbox is against its quota (null: it has none). */
function use(a: AccountView): number | null {
  const q = a.quota === null ? null : { bytes: a.quota, messages: a.quotaMessages };
  return quotaUse(q, { bytes: a.used, messages: a.messages });
}

/** `45% 25M`: the use and the limit, short enough for the table; read without color too. */
function quotaCell(a: AccountView): string {
  const u = use(a);
  if (u === null || a.quota === null) return '-';
  return `${Math.floor(u * 100)}% ${humanBytes(a.quota)
    .replace(/\.0 | /, '')
    .replace(/B$/, '')}`;
}

const ACCOUNT_COLUMNS = ['NAME', 'MSGS', 'SIZE', 'QUOTA', 'LAST LOGIN', 'STATUS'] as const;

/** The STATUS cell: active (and why the mail waits), or the pending change and its countdown. */
function statusCell(a: AccountView, now: number): string {
  const note = healthNote(a.health);
  return a.pending
    ? pendingStatus(a.pending, a.pending.appliesAt, now)
    : `${accountState(a)}${note ? `, ${note}` : ''}`;
}

const loginCell = (a: AccountView, now: number) => (a.lastLoginAt ? shortTime(a.lastLoginAt, new Date(now)) : '-');

/**
 * The table's column widths, by the shared rule (layout.ts): the name whole first (as wide as
 * the longest of every row), then the status (the longest on the page), then the rest.
 */
function accountColumns(
  rows: readonly AccountView[],
  page: readonly AccountView[],
  width: number,
  now: number,
): number[] {
  return fitColumns(
    [
      { title: 'NAME', want: widestOf(rows, 'name', 'NAME', (a) => a.name), priority: 0 },
      { title: 'MSGS', want: widestOf(rows, 'messages', 'MSGS', (a) => String(a.messages)), priority: 2 },
      { title: 'SIZE', want: 7, priority: 2 },
      { title: 'QUOTA', want: 8, priority: 2 },
      {
        title: 'LAST LOGIN',
        want: widest(
          'LAST LOGIN',
          page.map((a) => loginCell(a, now)),
        ),
        priority: 2,
      },
      {
        title: 'STATUS',
        want: widest(
          'STATUS',
          page.map((a) => statusCell(a, now)),
        ),
        priority: 1,
        rest: true,
      },
    ],
    width,
  );
}

/** The one field that changes the selected account: what it asks, and what a refusal is about. */
const CHANGES = {
  change: {
    label: (a: string) => `New password for ${a}: `,
    placeholder: '8+ characters',
    mask: true,
    what: 'password',
  },
  quota: { label: (a: string) => `Quota for ${a}: `, placeholder: '25M, 2G or none', mask: false, what: 'quota' },
  rename: { label: (a: string) => `Rename ${a} to `, placeholder: 'new name', mask: false, what: 'name' },
} as const;

/**
 * The form above the table: a new account's name and password, or the one field that changes the
 * selected account; below it, why the daemon refused what was sent.
 */
function AccountForm({
  state,
  domain,
  theme,
  width,
}: Pick<FormScreenProps<AccountView>, 'state' | 'domain'> & { theme: Theme; width: number }) {
  // Columns left for the fields' text: the line less its words, the brackets and [Change].
  const [nameRoom, passRoom] = shareRoom(
    width - 'Add a POP3 account: '.length - `@${domain}  password `.length - ' [Change]'.length - 4,
    state.focus === 'name' ? 0 : state.focus === 'second' ? 1 : null,
  );
  const label = state.mode === 'add' ? '' : CHANGES[state.mode].label(`${state.target}@${domain}`);
  const changeRoom = width - label.length - (state.mode === 'rename' ? domain.length + 1 : 0) - ' [Change]'.length - 2;
  // Names are kept in lower case: said while the typed one has capitals, never done silently.
  const lower = state.mode === 'add' ? state.name.trim() : state.mode === 'rename' ? state.second.trim() : '';
  const caseNote = lower !== lower.toLowerCase() ? `names are saved in lower case: ${lower.toLowerCase()}` : null;
  return (
    <>
      <Box>
        {state.mode === 'add' ? (
          <Text wrap="truncate">
            <Text bold>Add a POP3 account: </Text>
            <Field
              value={state.name}
              cursor={state.cursor}
              focused={state.focus === 'name'}
              placeholder="name"
              width={nameRoom}
              theme={theme}
            />
            <Text>{`@${domain}  password `}</Text>
            <Field
              value={state.second}
              cursor={state.cursor}
              focused={state.focus === 'second'}
              placeholder="8+ characters"
              mask
              width={passRoom}
              theme={theme}
            />
            <Text color={theme.accent}> [Change]</Text>
          </Text>
        ) : (
          <Text wrap="truncate">
            <Text bold>{label}</Text>
            <Field
              value={state.second}
              focused={state.focus === 'second'}
              placeholder={CHANGES[state.mode].placeholder}
              cursor={state.cursor}
              mask={CHANGES[state.mode].mask}
              width={changeRoom}
              theme={theme}
            />
            <Text>{state.mode === 'rename' ? `@${domain}` : ''}</Text>
            <Text color={theme.accent}> [Change]</Text>
          </Text>
        )}
      </Box>
      <Text color={state.error || !caseNote ? theme.error : theme.warn} wrap="truncate">
        {state.error
          ? `${state.mode === 'add' ? (state.error.field === 'name' ? 'name' : 'password') : CHANGES[state.mode].what}: ${state.error.text}`
          : state.busy
            ? 'sending…'
            : (caseNote ?? ' ')}
      </Text>
    </>
  );
}

export function AccountsScreen({
  state,
  rows,
  total,
  domain,
  frame,
  status,
  loading,
}: FormScreenProps<AccountView> & { status: StatusView | null }) {
  const { width, height, now, theme } = frame;
  const noticeLines = 1 + noticeExtra(state.notice, width);
  const tableHeight = Math.max(1, height - FORM_CHROME_ROWS - noticeLines + 1);
  const list = shownList(state, { rows, tableHeight });
  // The row at the (settled) selection: found by index, not by a scan of every row.
  const at = list.selected === null ? -1 : keysOf(rows).indexOf(list.selected);
  const selected = at >= 0 ? rows[at] : undefined;
  const page = rows.slice(list.top, list.top + tableHeight);
  const w = accountColumns(rows, page, width, now);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <AccountForm state={state} domain={domain} theme={theme} width={width} />
      <NoticeLine notice={state.notice} theme={theme} width={width} rows={noticeLines} />
      <Box>
        {state.focus === 'filter' || state.filter ? (
          <Text wrap="truncate">
            <Text>Filter: </Text>
            <Field
              value={state.filter}
              cursor={state.cursor}
              focused={state.focus === 'filter'}
              placeholder="part of a name"
              width={width - 'Filter: '.length - 2 - `  ${rows.length} of ${total}`.length}
              theme={theme}
            />
            <Text dimColor={theme.dim}>{`  ${rows.length} of ${total}`}</Text>
          </Text>
        ) : (
          <Text dimColor={theme.dim}>
            {rows.length} account{rows.length === 1 ? '' : 's'}, sorted by {state.sort}. Changes apply{' '}
            {frame.applies ?? 'on the hour'}.
          </Text>
        )}
      </Box>
      {state.focus === 'details' && selected ? (
        <Details account={selected} height={tableHeight + 1} now={now} theme={theme} status={status} />
      ) : (
        <Box flexDirection="column" height={tableHeight + 1}>
          <Text
            bold
            wrap="truncate"
          >{`  ${ACCOUNT_COLUMNS.map((title, i) => cell(title, w[i], i > 0 && i < 4)).join(' ')}`}</Text>
          {rows.length === 0 ? (
            <Text dimColor={theme.dim}>
              {loading
                ? '  Loading the accounts…'
                : state.filter
                  ? '  No account matches the filter.'
                  : `  No POP3 accounts in ${domain} yet: press a to add one.`}
            </Text>
          ) : (
            page.map((a) => (
              <AccountRow
                key={a.address}
                account={a}
                selected={a.address === list.selected}
                focused={state.focus === 'table'}
                widths={w}
                now={now}
                theme={theme}
              />
            ))
          )}
        </Box>
      )}
      <Text color={theme.warn}>
        {state.focus === 'confirm' ? question(confirmQuestion(state, 'accounts') ?? '', width) : ' '}
      </Text>
      <Footer keys={footerKeys(state, 'accounts')} width={width} theme={theme} />
    </Box>
  );
}

const AccountRow = React.memo(function AccountRow({
  account: a,
  selected,
  focused,
  widths: w,
  now,
  theme,
}: {
  account: AccountView;
  selected: boolean;
  focused: boolean;
  widths: readonly number[];
  now: number;
  theme: Theme;
}) {
  const note = healthNote(a.health);
  const status = statusCell(a, now);
  const u = use(a) ?? 0;
  const quotaColor = u >= 0.95 ? theme.error : u >= 0.8 ? theme.warn : undefined;
  const quota = cell(quotaCell(a), w[3], true);
  const login = ` ${cell(loginCell(a, now), w[4])} `;
  // A colored quota cell is an element of its own; the usual uncolored one stays in the row's
  // text, which keeps each row one element fewer to lay out as the table scrolls.
  return (
    <Text inverse={selected && focused} bold={selected} wrap="truncate">
      {selected ? '› ' : '  '}
      {`${cell(a.name, w[0])} ${cell(String(a.messages), w[1], true)} ${cell(humanBytes(a.bytes), w[2], true)} `}
      {quotaColor ? <Text color={quotaColor}>{quota}</Text> : quota}
      {login}
      <Text color={a.pending || a.suspended || note ? theme.warn : theme.ok}>{cell(status, w[5])}</Text>
    </Text>
  );
});

function Details({
  account: a,
  height,
  now,
  theme,
  status,
}: {
  account: AccountView;
  height: number;
  now: number;
  theme: Theme;
  status: StatusView | null;
}) {
  const host = status?.hostname ?? 'this server';
  const port = status?.pop3.port ?? 110;
  const line = (label: string, value: string) => (
    <Text wrap="truncate">
      <Text dimColor={theme.dim}>{label.padEnd(22)}</Text>
      {value}
    </Text>
  );
  return (
    <Box flexDirection="column" height={height}>
      <Text bold>{a.address}</Text>
      {line(
        'Status',
        a.pending
          ? `${pendingStatus(a.pending, a.pending.appliesAt, now)} (applies ${clockTime(a.pending.appliesAt, new Date(now))})`
          : accountState(a),
      )}
      {line('Messages', `${a.messages} (${humanBytes(a.bytes)}, ${a.bytes.toLocaleString('en')} bytes)`)}
      {line(
        'Quota',
        a.quota === null
          ? 'none'
          : `${formatQuota({ bytes: a.quota, messages: a.quotaMessages })}, ${Math.floor((use(a) ?? 0) * 100)}% used`,
      )}
      {line(
        'Last POP3 login',
        a.lastLoginAt ? `${clockTime(a.lastLoginAt, new Date(now))} from ${a.lastLoginFrom ?? '?'}` : 'never',
      )}
      {line('Last delivery', a.lastDeliveryAt ? clockTime(a.lastDeliveryAt, new Date(now)) : 'never')}
      {line(
        'Mail collection',
        a.health.neverFetched
          ? 'never fetched: nobody has logged in to this mailbox'
          : a.health.piling
            ? `mail waits on the server: the oldest is ${a.health.oldestDays} days old`
            : 'fetched',
      )}
      {a.health.clientsNote ? line('POP3 clients', a.health.clientsNote) : null}
      <Text> </Text>
      <Text bold>Mail client settings</Text>
      {line('Account type', 'POP3')}
      {line('Incoming server', host)}
      {line('Port', `${port} (POP3${status?.pop3s ? `; ${status.pop3s.port} with SSL/TLS` : ''})`)}
      {line('Username', a.address)}
      {line('Password', 'the one set here')}
    </Box>
  );
}
