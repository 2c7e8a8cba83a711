// Email Forwarding: a form ([ name ]@domain -> [ destinations ]) above a table of forwarding
// addresses with where they send mail and their status. Drawn from the screen's state; keys
// are in ../shared/form-keys.ts.

import { Box, Text } from 'ink';
import type { ForwardView } from '../../src/control/protocol.js';
import { pendingStatus } from '../../src/model/format.js';
import { shownList } from '../shared/form-reducer.js';
import { confirmQuestion, FORM_CHROME_ROWS, type FormScreenProps, footerKeys } from '../shared/form-screen.js';
import { cell, Field, Footer, NoticeLine, shareRoom } from '../shared/frame.js';
import { fitColumns, noticeExtra, question, widest, widestOf } from '../shared/layout.js';

/** Where a forward sends mail once its pending change (if any) is applied. */
export const destinationsOf = (f: ForwardView) => f.pending?.destinations ?? f.destinations;

export function visibleForwards(all: readonly ForwardView[], domain: string, filter: string): ForwardView[] {
  const f = filter.trim().toLowerCase();
  return all.filter(
    (x) => x.domain === domain && (!f || x.name.includes(f) || destinationsOf(x).some((d) => d.includes(f))),
  );
}

/** The table's widths by the shared rule (layout.ts): the name whole first, then the status, then the destinations. */
function forwardColumns(
  rows: readonly ForwardView[],
  page: readonly ForwardView[],
  status: (x: ForwardView) => string,
  width: number,
): number[] {
  return fitColumns(
    [
      { title: 'NAME', want: widestOf(rows, 'name', 'NAME', (x) => x.name), priority: 0 },
      {
        title: 'FORWARDS TO',
        want: widest(
          'FORWARDS TO',
          page.map((x) => destinationsOf(x).join(', ')),
        ),
        priority: 2,
        rest: true,
      },
      { title: 'STATUS', want: widest('STATUS', page.map(status)), priority: 1 },
    ],
    width,
  );
}

export function ForwardsScreen({ state, rows, total, domain, frame, loading }: FormScreenProps<ForwardView>) {
  const { width, height, now, theme } = frame;
  const noticeLines = 1 + noticeExtra(state.notice, width);
  const tableHeight = Math.max(1, height - FORM_CHROME_ROWS - noticeLines + 1);
  const list = shownList(state, { rows, tableHeight });
  const page = rows.slice(list.top, list.top + tableHeight);
  const status = (x: ForwardView) => (x.pending ? pendingStatus(x.pending.action, x.pending.appliesAt, now) : 'active');
  const [nameWidth, destWidth, statusWidth] = forwardColumns(rows, page, status, width);
  // Columns left for the fields' text: the line less its words, the brackets and [Change].
  const head = state.mode === 'add' ? 'Add a forwarding address: ' : `Forward ${state.target}@${domain} to: `;
  const room = width - head.length - ' [Change]'.length - (state.mode === 'add' ? `@${domain} -> `.length + 4 : 2);
  const [nameRoom, destRoom] =
    state.mode === 'add'
      ? shareRoom(room, state.focus === 'name' ? 0 : state.focus === 'second' ? 1 : null)
      : [0, room];
  // Names are kept in lower case: said while the typed one has capitals, never done silently.
  const caseNote =
    state.mode === 'add' && state.name.trim() !== state.name.trim().toLowerCase()
      ? `names are saved in lower case: ${state.name.trim().toLowerCase()}`
      : null;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text wrap="truncate">
        <Text bold>{head}</Text>
        {state.mode === 'add' ? (
          <>
            <Field
              value={state.name}
              cursor={state.cursor}
              focused={state.focus === 'name'}
              placeholder="name"
              width={nameRoom}
              theme={theme}
            />
            <Text>@{domain} -&gt; </Text>
          </>
        ) : null}
        <Field
          value={state.second}
          cursor={state.cursor}
          focused={state.focus === 'second'}
          placeholder="to@example.org, …"
          width={destRoom}
          theme={theme}
        />
        <Text color={theme.accent}> [Change]</Text>
      </Text>
      <Text color={state.error || !caseNote ? theme.error : theme.warn} wrap="truncate">
        {state.error
          ? `${state.error.field === 'name' ? 'name' : 'destinations'}: ${state.error.text}`
          : state.busy
            ? 'sending…'
            : (caseNote ?? ' ')}
      </Text>
      <NoticeLine notice={state.notice} theme={theme} width={width} rows={noticeLines} />
      {state.focus === 'filter' || state.filter ? (
        <Text wrap="truncate">
          Filter:{' '}
          <Field
            value={state.filter}
            cursor={state.cursor}
            focused={state.focus === 'filter'}
            placeholder="part of a name or destination"
            width={width - 'Filter: '.length - 2 - `  ${rows.length} of ${total}`.length}
            theme={theme}
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
        >{`  ${cell('NAME', nameWidth)} ${cell('FORWARDS TO', destWidth)} ${cell('STATUS', statusWidth)}`}</Text>
        {rows.length === 0 ? (
          <Text dimColor={theme.dim}>
            {loading
              ? '  Loading the forwarding addresses…'
              : state.filter
                ? '  No forwarding address matches the filter.'
                : `  No forwarding addresses in ${domain} yet: press a to add one.`}
          </Text>
        ) : (
          page.map((x) => {
            const isSel = x.address === list.selected;
            return (
              <Text key={x.address} inverse={isSel && state.focus === 'table'} bold={isSel} wrap="truncate">
                {isSel ? '› ' : '  '}
                {cell(x.name, nameWidth)} {cell(destinationsOf(x).join(', '), destWidth)}{' '}
                <Text color={x.pending ? theme.warn : theme.ok}>{cell(status(x), statusWidth)}</Text>
              </Text>
            );
          })
        )}
      </Box>
      <Text color={theme.warn}>
        {state.focus === 'confirm' ? question(confirmQuestion(state, 'forwards') ?? '', width) : ' '}
      </Text>
      <Footer keys={footerKeys(state, 'forwards')} width={width} theme={theme} />
    </Box>
  );
}
