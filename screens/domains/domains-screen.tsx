// Domains: every hosted domain (and each being added) with its accounts, forwards, mail and
// pending changes; choose the one to manage, add one, remove one (with its accounts, their mail
// archived), undo or apply a domain's change now. Shown first when there is more than one
// domain, or none. Keys are in domains-keys.ts.

import { Box, Text } from 'ink';
import type { DomainView } from '../../src/control/protocol.js';
import { humanBytes, pendingStatus } from '../../src/model/format.js';
import { showDomain, unicodeDomain } from '../../src/model/names.js';
import { cell, Field, FilterLine, Footer, type FooterKey, type Frame, NoticeLine } from '../shared/frame.js';
import { cutWords, fitColumns, noticeExtra, widest } from '../shared/layout.js';
import { confirmQuestion, type DomainsState, shownDomainList } from './domains-reducer.js';

/** Rows around the table: field, error, notice, summary, table header, question, footer, margin. */
export const DOMAINS_CHROME_ROWS = 8;

export function DomainsScreen({
  state,
  rows,
  total,
  current,
  frame,
}: {
  state: DomainsState;
  /** The domains the filter lets through, of `total`. */
  rows: readonly DomainView[];
  total: number;
  current: string | null;
  frame: Frame;
}) {
  const { width, height, now, theme } = frame;
  const noticeLines = 1 + noticeExtra(state.notice, width);
  const tableHeight = Math.max(1, height - DOMAINS_CHROME_ROWS - noticeLines + 1);
  const list = shownDomainList(state, { rows, current, tableHeight });
  const selected = rows.find((r) => r.domain === list.selected);
  const status = (d: DomainView) =>
    d.change ? pendingStatus(d.change, d.change.appliesAt, now) : d.pending ? `${d.pending} pending` : 'hosted';
  // The shared rule (layout.ts): the domain whole first, then its status, then the numbers.
  const num = (title: string, f: (d: DomainView) => string) => ({
    title,
    want: widest(title, rows.map(f)),
    priority: 2,
  });
  const [nameWidth, ...w] = fitColumns(
    [
      {
        title: 'DOMAIN',
        want: widest(
          'DOMAIN',
          rows.map((d) => showDomain(d.domain)),
        ),
        priority: 0,
      },
      num('ACCOUNTS', (d) => String(d.accounts)),
      num('FORWARDS', (d) => String(d.forwards)),
      num('MESSAGES', (d) => String(d.messages)),
      num('SIZE', (d) => humanBytes(d.bytes)),
      { title: 'STATUS', want: widest('STATUS', rows.map(status)), priority: 1, rest: true },
    ],
    width,
  );
  // An international domain as "bücher.test (xn--bcher-kva.test)", its U-label alone when that does not fit.
  const named = (domain: string) => {
    const both = showDomain(domain);
    return both.length <= nameWidth ? both : unicodeDomain(domain);
  };
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold>{fieldLabel(state.field)}</Text>
        <Field
          value={state.name}
          cursor={state.cursor}
          focused={state.focus === 'name'}
          width={width - fieldLabel(state.field).length - ' [Change]'.length - 2}
          placeholder={
            state.field.what === 'add'
              ? 'example.org'
              : state.field.what === 'quota'
                ? '25M, 2G or none'
                : 'name or none'
          }
          theme={theme}
        />
        <Text color={theme.accent}>{state.field.what === 'add' ? ' [Add]' : ' [Change]'}</Text>
      </Text>
      <Text color={theme.error} wrap="truncate">
        {state.error
          ? `${state.field.what === 'add' ? 'domain' : state.field.what}: ${state.error}`
          : state.busy
            ? 'sending…'
            : ' '}
      </Text>
      <NoticeLine notice={state.notice} theme={theme} width={width} rows={noticeLines} />
      <DomainsSummary state={state} shown={rows.length} total={total} frame={frame} />
      <Box flexDirection="column" height={tableHeight + 1}>
        <Text
          bold
          wrap="truncate"
        >{`  ${cell('DOMAIN', nameWidth)} ${cell('ACCOUNTS', w[0], true)} ${cell('FORWARDS', w[1], true)} ${cell('MESSAGES', w[2], true)} ${cell('SIZE', w[3], true)} ${cell('STATUS', w[4])}`}</Text>
        {rows.slice(list.top, list.top + tableHeight).map((d) => {
          const isSel = d.domain === list.selected;
          const mark = d.domain === current ? '●' : ' ';
          return (
            <Text key={d.domain} inverse={isSel} wrap="truncate">
              {isSel ? '›' : ' '}
              {mark}
              {`${cell(named(d.domain), nameWidth)} ${cell(String(d.accounts), w[0], true)} ${cell(String(d.forwards), w[1], true)} ${cell(String(d.messages), w[2], true)} ${cell(humanBytes(d.bytes), w[3], true)} ${cell(status(d), w[4])}`}
            </Text>
          );
        })}
      </Box>
      <Text color={state.confirm ? theme.warn : undefined} wrap="truncate">
        {state.confirm
          ? confirmQuestion(state.confirm, selected)
          : selected
            ? cutWords(
                `${showDomain(selected.domain)}: catch-all ${selected.catchall ? `${selected.catchall}@${unicodeDomain(selected.domain)}` : 'none (unknown names get 550)'}; quota for new accounts ${selected.quota === null ? 'none' : humanBytes(selected.quota)}`,
                width,
              )
            : ' '}
      </Text>
      <Footer keys={footerKeys(state, current)} width={width} theme={theme} />
    </Box>
  );
}

/** The line above the table: how many domains and what Enter does, or the filter. */
function DomainsSummary({
  state,
  shown,
  total,
  frame,
}: {
  state: DomainsState;
  shown: number;
  total: number;
  frame: Frame;
}) {
  const { width, theme } = frame;
  if (state.filter.typing || state.filter.text)
    return (
      <FilterLine
        filter={state.filter}
        shown={shown}
        total={total}
        placeholder="part of a domain name"
        width={width}
        theme={theme}
      />
    );
  return (
    <Text dimColor={theme.dim}>
      {cutWords(
        total === 0
          ? 'No domain is hosted yet: press a and type one to receive mail for it.'
          : `${total} domain${total === 1 ? '' : 's'}. Enter manages the selected one; changes apply ${frame.applies ?? 'on the hour'}.`,
        width,
      )}
    </Text>
  );
}

function fieldLabel(field: DomainsState['field']): string {
  if (field.what === 'add') return 'Add a domain: ';
  return field.what === 'quota'
    ? `Quota for new accounts of ${field.domain}: `
    : `Catch-all of ${field.domain} (gets mail for unknown names): `;
}

function footerKeys(state: DomainsState, current: string | null): FooterKey[] {
  if (state.focus === 'confirm')
    return [
      { key: 'y', label: 'yes' },
      { key: 'n/Esc', label: 'no (default)' },
    ];
  if (state.filter.typing)
    return [
      { key: 'Enter', label: 'keep the filter' },
      { key: 'Esc', label: 'drop it' },
    ];
  if (state.focus === 'name')
    return [
      { key: 'Enter', label: state.field.what === 'add' ? 'queue the add' : 'queue the change' },
      { key: '←→', label: 'move' },
      { key: 'Ctrl-U', label: 'clear' },
      { key: 'Esc', label: 'cancel' },
    ];
  return [
    { key: 'Enter', label: 'manage' },
    { key: 'a', label: 'add' },
    { key: 'd', label: 'remove' },
    { key: 'c', label: 'catch-all' },
    { key: 'l', label: 'quota' },
    { key: 'u', label: 'undo' },
    { key: 'A', label: 'apply now' },
    { key: '/', label: 'filter' },
    ...(current ? [{ key: 'Esc', label: 'menu' }] : []),
    { key: '?', label: 'help' },
    { key: 'q', label: 'quit' },
  ];
}
