// Email Forwarding: a form ([ name ]@domain -> [ destinations ]) above a table of forwarding
// addresses with where they send mail and their status. Drawn from the screen's state; keys
// are in ../shared/form-keys.ts.

import { Box, Text } from 'ink';
import type { ForwardView } from '../../src/control/protocol.js';
import { pendingStatus } from '../../src/model/format.js';
import { shownList } from '../shared/form-reducer.js';
import { FORM_CHROME_ROWS, type FormScreenProps, footerKeys } from '../shared/form-screen.js';
import { cell, Field, Footer, NoticeLine } from '../shared/frame.js';

/** Where a forward sends mail once its pending change (if any) is applied. */
export const destinationsOf = (f: ForwardView) => f.pending?.destinations ?? f.destinations;

export function visibleForwards(all: readonly ForwardView[], domain: string, filter: string): ForwardView[] {
  const f = filter.trim().toLowerCase();
  return all.filter(
    (x) => x.domain === domain && (!f || x.name.includes(f) || destinationsOf(x).some((d) => d.includes(f))),
  );
}

export function ForwardsScreen({ state, rows, total, domain, frame, edit, loading }: FormScreenProps<ForwardView>) {
  const { width, height, now, theme } = frame;
  const tableHeight = Math.max(1, height - FORM_CHROME_ROWS);
  const list = shownList(state, { rows, tableHeight });
  const nameWidth = Math.max(10, Math.floor((width - 34) / 3));
  const destWidth = Math.max(10, width - nameWidth - 34);
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold>
          {state.mode === 'add' ? 'Add a forwarding address: ' : `Forward ${state.target}@${domain} to: `}
        </Text>
        {state.mode === 'add' ? (
          <>
            <Field
              value={state.name}
              focused={state.focus === 'name'}
              placeholder="name"
              theme={theme}
              onChange={(v) => edit('name', v)}
            />
            <Text>@{domain} -&gt; </Text>
          </>
        ) : null}
        <Field
          value={state.second}
          focused={state.focus === 'second'}
          placeholder="someone@example.org, other@example.net"
          theme={theme}
          onChange={(v) => edit('second', v)}
        />
        <Text color={theme.accent}> [Change]</Text>
      </Text>
      <Text color={theme.error} wrap="truncate">
        {state.error
          ? `${state.error.field === 'name' ? 'name' : 'destinations'}: ${state.error.text}`
          : state.busy
            ? 'sending…'
            : ' '}
      </Text>
      <NoticeLine notice={state.notice} theme={theme} />
      {state.focus === 'filter' || state.filter ? (
        <Text wrap="truncate">
          Filter:{' '}
          <Field
            value={state.filter}
            focused={state.focus === 'filter'}
            placeholder="part of a name or destination"
            theme={theme}
            onChange={(v) => edit('filter', v)}
          />
          <Text dimColor={theme.dim}>{`  ${rows.length} of ${total}`}</Text>
        </Text>
      ) : (
        <Text dimColor={theme.dim}>
          {rows.length} forwarding address{rows.length === 1 ? '' : 'es'}: they store nothing and pass mail on.
        </Text>
      )}
      <Box flexDirection="column" height={tableHeight + 1}>
        <Text
          bold
          wrap="truncate"
        >{`  ${cell('NAME', nameWidth)} ${cell('FORWARDS TO', destWidth)} ${cell('STATUS', 30)}`}</Text>
        {rows.length === 0 ? (
          <Text dimColor={theme.dim}>
            {loading
              ? '  Loading the forwarding addresses…'
              : state.filter
                ? '  No forwarding address matches the filter.'
                : `  No forwarding addresses in ${domain} yet: press a to add one.`}
          </Text>
        ) : (
          rows.slice(list.top, list.top + tableHeight).map((x) => {
            const isSel = x.address === list.selected;
            return (
              <Text key={x.address} inverse={isSel && state.focus === 'table'} bold={isSel} wrap="truncate">
                {isSel ? '› ' : '  '}
                {cell(x.name, nameWidth)} {cell(destinationsOf(x).join(', '), destWidth)}{' '}
                <Text color={x.pending ? theme.warn : theme.ok}>
                  {cell(x.pending ? pendingStatus(x.pending.action, x.pending.appliesAt, now) : 'active', 30)}
                </Text>
              </Text>
            );
          })
        )}
      </Box>
      {state.focus === 'confirm' ? (
        <Text color={theme.warn} wrap="truncate">
          Remove {state.confirm}? Mail to it is refused after the next apply. [y/N]
        </Text>
      ) : (
        <Text> </Text>
      )}
      <Footer keys={footerKeys(state, 'forwards')} width={width} theme={theme} />
    </Box>
  );
}
