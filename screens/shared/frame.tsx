// The frame every screen sits in: a header with the domain, the connection and the countdown to
// the next apply; the screen's body; a footer with the keys that work here.

import { Box, Text } from 'ink';
import TextInput from 'ink-text-input';
import { createContext, useContext } from 'react';
import { clockTime } from '../../src/model/format.js';
import { formatCountdown } from '../../src/model/schedule.js';
import type { DaemonSnapshot } from './daemon-session.js';
import type { Theme } from './hooks.js';
import { isText, type KeyGate } from './key-gate.js';
import type { Notice } from './step.js';

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
  const conn =
    data.connection === 'connected' ? (
      <Text color={theme.ok}>● connected</Text>
    ) : data.connection === 'connecting' ? (
      <Text color={theme.warn}>○ connecting…</Text>
    ) : (
      <Text color={theme.error}>✕ daemon unreachable</Text>
    );
  return (
    <Box width={width} justifyContent="space-between">
      <Text wrap="truncate">
        <Text bold color={theme.accent}>
          vmail
        </Text>
        <Text> {domain ?? '-'} </Text>
        <Text bold>› {title}</Text>
      </Text>
      <Text wrap="truncate">
        {conn}
        {data.status?.nodes && data.connection === 'connected' ? (
          <Text>{`  ${data.status.nodes.filter((n) => n.alive).length} nodes`}</Text>
        ) : null}
        {filter && data.connection === 'connected' ? (
          <Text color={filter.state === 'down' ? theme.error : theme.ok}>
            {filter.state === 'down' ? '  ✕ rspamd down' : filter.state === 'up' ? '  rspamd ✓' : ''}
          </Text>
        ) : null}
        {next && data.connection === 'connected' ? <Text>{`   ${nextApplyLabel(Date.parse(next), now)}`}</Text> : null}
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

export function NoticeLine({ notice, theme }: { notice: Notice | null; theme: Theme }) {
  if (!notice) return <Text> </Text>;
  const color = notice.kind === 'ok' ? theme.ok : notice.kind === 'warn' ? theme.warn : theme.error;
  return (
    <Text color={color} wrap="truncate">
      {notice.kind === 'error' ? '✕ ' : notice.kind === 'warn' ? '! ' : '✓ '}
      {notice.text}
    </Text>
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

/** The key gate, for fields to know which key the terminal sent (see Field). */
export const GateContext = createContext<KeyGate | null>(null);

/**
 * A one-line text field: ink-text-input while it has the keys (cursor movement, paste),
 * plain text otherwise. The field's text lives in the screen's state.
 */
export function Field({
  value,
  focused,
  placeholder,
  mask,
  theme,
  onChange,
}: {
  value: string;
  focused: boolean;
  placeholder: string;
  mask?: boolean;
  theme: Theme;
  onChange: (value: string) => void;
}) {
  const gate = useContext(GateContext);
  const edit = (next: string) => {
    // ink-text-input types the letter of a Ctrl or Alt key (Ctrl-U is "clear the field"
    // here): a change that adds text on a key that was not text is not the admin's typing.
    if (gate && next.length > value.length && !isText(gate.lastKey)) return;
    onChange(next);
  };
  const shown = mask ? '*'.repeat([...value].length) : value;
  return (
    <Text>
      <Text inverse={focused}>[</Text>
      {focused ? (
        // A new input when the text is cleared from outside it (Ctrl-U, a queued change): its
        // cursor starts at the end of what is there, not where the old text had it.
        <TextInput
          key={value === '' ? 'empty' : 'text'}
          value={value}
          onChange={edit}
          mask={mask ? '*' : undefined}
          focus
          showCursor
        />
      ) : shown ? (
        <Text>{shown}</Text>
      ) : (
        <Text dimColor={theme.dim}>{placeholder}</Text>
      )}
      <Text inverse={focused}>]</Text>
    </Text>
  );
}
