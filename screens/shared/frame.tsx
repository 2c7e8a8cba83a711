// The frame every screen sits in: a header with the domain, the connection and the countdown to
// the next apply; the screen's body; a footer with the keys that work here.

import { Box, Text } from 'ink';
import { clockTime } from '../../src/model/format.js';
import { formatCountdown } from '../../src/model/schedule.js';
import type { DaemonSnapshot } from './daemon-session.js';
import type { Theme } from './hooks.js';
import { cutWords, wrapWords } from './layout.js';
import type { ListFilter } from './list-filter.js';
import type { Notice } from './step.js';
import { fieldView } from './text-buffer.js';

/** A key and what it does, as the footer lists it. */
export interface FooterKey {
  key: string;
  label: string;
}

/**
 * `next apply 14:00 in 37:12` within a day (tomorrow's midnight too); `next apply in 3d 19h`
 * beyond (a long --apply-interval): short enough that the title stays whole at 80 columns.
 */
export function nextApplyLabel(at: number, now: number): string {
  const left = at - now;
  // Within a day the countdown says which day: the clock time goes without its date.
  if (left < 86_400_000)
    return `next apply ${clockTime(new Date(at).toISOString(), new Date(at))} in ${formatCountdown(left)}`;
  const hours = Math.floor(left / 3_600_000);
  return `next apply in ${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function Header({
  title,
  domain,
  data,
  now,
  width,
  theme,
}: {
  title: string;
  domain: string | null;
  data: DaemonSnapshot;
  now: number;
  width: number;
  theme: Theme;
}) {
  const next = data.status?.nextApplyAt;
  const filter = data.status?.spamFilter;
  const connected = data.connection === 'connected';
  const conn =
    data.connection === 'connected'
      ? { text: '● connected', color: theme.ok }
      : data.connection === 'connecting'
        ? { text: '○ connecting…', color: theme.warn }
        : { text: '✕ daemon unreachable', color: theme.error };
  const nodes = data.status?.nodes && connected ? `  ${data.status.nodes.filter((n) => n.alive).length} nodes` : '';
  const spam =
    filter && connected
      ? filter.state === 'down'
        ? '  ✕ rspamd down'
        : filter.state === 'up'
          ? '  rspamd ✓'
          : ''
      : '';
  // The right side is never cut: when both sides do not fit with two spaces between them, the
  // countdown loses its clock time, then the left side is cut between words.
  let apply = next && connected ? `   ${nextApplyLabel(Date.parse(next), now)}` : '';
  const left = `vmail ${domain ?? '-'} › `;
  const rightWidth = () => conn.text.length + nodes.length + spam.length + apply.length;
  if (next && connected && left.length + title.length + 2 + rightWidth() > width)
    apply = `   apply in ${formatCountdown(Date.parse(next) - now)}`;
  const titleShown = cutWords(title, Math.max(1, width - left.length - 2 - rightWidth()));
  return (
    <Box width={width} justifyContent="space-between">
      <Text wrap="truncate">
        <Text bold color={theme.accent}>
          vmail
        </Text>
        <Text> {domain ?? '-'} </Text>
        <Text bold>› {titleShown}</Text>
      </Text>
      <Text wrap="truncate">
        <Text color={conn.color}>{conn.text}</Text>
        {nodes ? <Text>{nodes}</Text> : null}
        {spam ? <Text color={filter?.state === 'down' ? theme.error : theme.ok}>{spam}</Text> : null}
        {apply ? <Text>{apply}</Text> : null}
      </Text>
    </Box>
  );
}

export function Footer({ keys, width, theme }: { keys: FooterKey[]; width: number; theme: Theme }) {
  // Spaced out when it fits; packed as key:label when the terminal is narrow (80 columns), and
  // on two lines when even that does not fit (the screens leave a row for it).
  const size = (ks: FooterKey[], gap: number) =>
    ks.reduce((n, k) => n + k.key.length + 1 + k.label.length, 0) + gap * Math.max(0, ks.length - 1);
  const roomy = size(keys, 2) <= width;
  const lines: FooterKey[][] = [[]];
  for (const k of keys) {
    const line = lines[lines.length - 1];
    if (!roomy && line.length && size([...line, k], 1) > width) lines.push([k]);
    else line.push(k);
  }
  return (
    <Box width={width} flexDirection="column">
      {lines.map((line) => (
        <Text key={line[0]?.key ?? ''} wrap="truncate">
          {line.map((k, i) => (
            <Text key={k.key}>
              {i > 0 ? (roomy ? '  ' : ' ') : ''}
              <Text bold color={theme.accent}>
                {k.key}
              </Text>
              <Text dimColor={theme.dim}>
                {roomy ? ' ' : ':'}
                {k.label}
              </Text>
            </Text>
          ))}
        </Text>
      ))}
    </Box>
  );
}

/**
 * The notice under a form: wrapped at word boundaries over at most `rows` lines (see
 * noticeRows in layout.ts, which the screen's table gives up its rows for), never cut mid-word.
 */
export function NoticeLine({
  notice,
  theme,
  width,
  rows = 1,
}: {
  notice: Notice | null;
  theme: Theme;
  width?: number;
  rows?: number;
}) {
  if (!notice) return <Text> </Text>;
  const color = notice.kind === 'ok' ? theme.ok : notice.kind === 'warn' ? theme.warn : theme.error;
  const text = `${notice.kind === 'error' ? '✕ ' : notice.kind === 'warn' ? '! ' : '✓ '}${notice.text}`;
  if (!width) return <Text color={color}>{text}</Text>;
  const lines = wrapWords(text, width, 2);
  const shown =
    lines.length > rows ? [...lines.slice(0, rows - 1), cutWords(lines.slice(rows - 1).join(' '), width)] : lines;
  return (
    <Box flexDirection="column">
      {shown.map((line, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: lines of one wrapped text, drawn in place
        <Text key={i} color={color}>
          {line}
        </Text>
      ))}
    </Box>
  );
}

/** Pads or cuts text to exactly `width` columns. */
export function cell(text: string, width: number, right = false): string {
  if (width <= 0) return '';
  const t = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

/** What every screen is drawn into. */
export interface Frame {
  width: number;
  height: number;
  now: number;
  theme: Theme;
  /** How often changes apply, as the daemon is set (applyCadence): `on the hour` unless told. */
  applies?: string;
}

/** How many columns a field gets when no width is given. */
const FIELD_WIDTH = 40;

/**
 * A one-line text field, drawn from its buffer (text-buffer.ts): the screen's state owns the
 * text and the cursor, and the keys edit them there. While it has the keys the cursor shows as
 * an inverse cell and the text scrolls to keep it in view in `width` columns; a password shows
 * one star per character. Not ink-text-input: that keeps its cursor to itself (no prop places
 * it, so Home, End and Delete-forward cannot be told to it), draws the whole value (no window
 * that follows the cursor) and masks one star per UTF-16 unit (two for an emoji).
 */
export function Field({
  value,
  cursor,
  focused,
  placeholder,
  mask,
  width = FIELD_WIDTH,
  theme,
}: {
  value: string;
  cursor: number;
  focused: boolean;
  placeholder: string;
  mask?: boolean;
  /** Columns for the text between the brackets, the cursor's cell included. */
  width?: number;
  theme: Theme;
}) {
  const v = fieldView({ value, cursor: focused ? cursor : 0 }, width, mask);
  return (
    <Text>
      <Text inverse={focused}>[</Text>
      {focused ? (
        <Text>
          {v.cutStart ? '…' : ''}
          {v.before}
          <Text inverse>{v.at}</Text>
          {v.after}
          {v.cutEnd ? '…' : ''}
        </Text>
      ) : value ? (
        <Text>{`${v.at}${v.after}${v.cutEnd ? '…' : ''}`}</Text>
      ) : (
        <Text dimColor={theme.dim}>{placeholder}</Text>
      )}
      <Text inverse={focused}>]</Text>
    </Text>
  );
}

/**
 * Columns for two fields on one line with `room` between them: the one with the keys gets
 * most, the other at least what shows its start.
 */
export function shareRoom(room: number, focus: 0 | 1 | null): [number, number] {
  if (focus === null) return [Math.floor(room / 2), Math.ceil(room / 2)];
  const other = Math.min(12, Math.floor(room / 3));
  return focus === 0 ? [room - other, other] : [other, room - other];
}

/** A list's on-screen filter (list-filter.ts): its field and how many rows it lets through. */
export function FilterLine({
  filter,
  shown,
  total,
  placeholder,
  width,
  theme,
}: {
  filter: ListFilter;
  shown: number;
  total: number;
  placeholder: string;
  width: number;
  theme: Theme;
}) {
  const count = `  ${shown} of ${total}`;
  return (
    <Text wrap="truncate">
      <Text>Filter: </Text>
      <Field
        value={filter.text}
        cursor={filter.cursor}
        focused={filter.typing}
        placeholder={placeholder}
        width={width - 'Filter: '.length - 2 - count.length}
        theme={theme}
      />
      <Text dimColor={theme.dim}>{count}</Text>
    </Text>
  );
}
