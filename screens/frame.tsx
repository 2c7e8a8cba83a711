// The frame every screen sits in: a header with the domain, the connection and the countdown to
// the next apply; the screen's body; a footer with the keys that work here.
import React from 'react';
import { Box, Text } from 'ink';
import { formatCountdown } from '../src/model/schedule.js';
import { clockTime } from '../src/model/format.js';
import type { DaemonSnapshot } from './daemon-session.js';
import type { Theme } from './hooks.js';

export interface Key {
  key: string;
  label: string;
}

export function Header({ title, domain, data, now, width, theme }: { title: string; domain: string | null; data: DaemonSnapshot; now: number; width: number; theme: Theme }) {
  const next = data.status?.nextApplyAt;
  const conn =
    data.connection === 'connected' ? <Text color={theme.ok}>● connected</Text>
    : data.connection === 'connecting' ? <Text color={theme.warn}>○ connecting…</Text>
    : <Text color={theme.error}>✕ daemon unreachable</Text>;
  return (
    <Box width={width} justifyContent="space-between">
      <Text wrap="truncate">
        <Text bold color={theme.accent}>vmail</Text>
        <Text> {domain ?? '-'} </Text>
        <Text bold>› {title}</Text>
      </Text>
      <Text wrap="truncate">
        {conn}
        {next && data.connection === 'connected' ? <Text>   next apply {clockTime(next, new Date(now))} in {formatCountdown(Date.parse(next) - now)}</Text> : null}
      </Text>
    </Box>
  );
}

export function Footer({ keys, width, theme }: { keys: Key[]; width: number; theme: Theme }) {
  // Spaced out when it fits; packed as key:label when the terminal is narrow (80 columns).
  const roomy = keys.reduce((n, k) => n + k.key.length + 1 + k.label.length, 0) + 2 * (keys.length - 1) <= width;
  return (
    <Box width={width}>
      <Text wrap="truncate">
        {keys.map((k, i) => (
          <Text key={k.key}>
            {i > 0 ? (roomy ? '  ' : ' ') : ''}
            <Text bold color={theme.accent}>{k.key}</Text>
            <Text dimColor={theme.dim}>{roomy ? ' ' : ':'}{k.label}</Text>
          </Text>
        ))}
      </Text>
    </Box>
  );
}

export function NoticeLine({ notice, theme }: { notice: { kind: 'ok' | 'warn' | 'error'; text: string } | null; theme: Theme }) {
  if (!notice) return <Text> </Text>;
  const color = notice.kind === 'ok' ? theme.ok : notice.kind === 'warn' ? theme.warn : theme.error;
  return <Text color={color} wrap="truncate">{notice.kind === 'error' ? '✕ ' : notice.kind === 'warn' ? '! ' : '✓ '}{notice.text}</Text>;
}

/** Pads or cuts text to exactly `width` columns. */
export function cell(text: string, width: number, right = false): string {
  if (width <= 0) return '';
  const t = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

/**
 * A one-line text field drawn from state. Its keys are handled by the screen's reducer, not by
 * the field, so keys typed faster than React re-renders still land in the right field.
 */
export function Field({ value, focused, placeholder, mask, theme }: { value: string; focused: boolean; placeholder: string; mask?: boolean; theme: Theme }) {
  const shown = mask ? '*'.repeat(value.length) : value;
  return (
    <Text>
      <Text inverse={focused}>[</Text>
      {shown ? <Text>{shown}</Text> : <Text dimColor={theme.dim}>{focused ? '' : placeholder}</Text>}
      {focused ? <Text inverse> </Text> : null}
      <Text inverse={focused}>]</Text>
    </Text>
  );
}
