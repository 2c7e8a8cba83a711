// The text screens: Mail Client Settings (what to enter in a mail client) and Help (how vmail
// works, as the old console's pages told it, and every key). Scrolled by the app's state.

import { Box, Text } from 'ink';
import type { StatusView } from '../../src/control/protocol.js';
import { clientSettingsLines } from '../../src/model/client-settings.js';
import { Footer, type FooterKey, type Frame, NoticeLine } from '../shared/frame.js';
import { keyHelpLines } from '../shared/keys.js';
import { wrapWords } from '../shared/layout.js';
import type { Notice } from '../shared/step.js';

export function TextScreen({
  lines,
  scroll,
  frame,
  keys = [],
  notice = null,
}: {
  lines: readonly string[];
  scroll: number;
  frame: Frame;
  /** The screen's own keys, before scroll, back and quit. */
  keys?: FooterKey[];
  /** What the last of them did (Mail Client Settings: where p printed the page). */
  notice?: Notice | null;
}) {
  const { width, height, theme } = frame;
  const view = textHeight(height, notice !== null);
  const top = Math.max(0, Math.min(scroll, lines.length - view));
  const more = lines.length > view;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Box flexDirection="column" height={view}>
        {lines.slice(top, top + view).map((l, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: fixed lines of text, drawn in place
          <Text key={i} wrap="truncate" bold={/^[A-Z][A-Za-z ]+$/.test(l)}>
            {l || ' '}
          </Text>
        ))}
      </Box>
      {notice ? <NoticeLine notice={notice} theme={theme} /> : null}
      <Footer
        keys={[
          ...keys,
          {
            key: '↑↓',
            label: `scroll${more ? ` (${top + 1}-${Math.min(lines.length, top + view)} of ${lines.length})` : ''}`,
          },
          { key: 'Esc', label: 'back' },
          { key: 'q', label: 'quit' },
        ]}
        width={width}
        theme={theme}
      />
    </Box>
  );
}

/** Lines of text that fit above the footer (and the notice, when there is one). */
export function textHeight(height: number, notice = false): number {
  return Math.max(1, height - 1 - (notice ? 1 : 0));
}

/** The page as the daemon listens (src/model/client-settings.ts); the same text p prints. */
export function settingsLines(domain: string, status: StatusView | null): string[] {
  if (status) return clientSettingsLines(domain, status);
  return ['Mail Client Settings', '', 'The daemon has not answered yet: its host and ports are not known.'];
}

/** The file p prints the page of `domain` to, in the console's directory. */
export function printFileName(domain: string): string {
  return `vmail-settings-${domain}.txt`;
}

/**
 * Help, opened from `from`: that screen's keys first, how vmail works, then every other key
 * (all from the one key list, screens/shared/keys.ts); wrapped at words to `width`.
 */
export function helpLines(domain: string, from: string, width: number): string[] {
  const { own, rest } = keyHelpLines(from);
  return wrapLines([...own, ...aboutLines(domain), '', ...rest], width);
}

/** Lines of text wrapped at words to `width`, each continuation under its text. */
export function wrapLines(lines: readonly string[], width: number): string[] {
  return lines.flatMap((l) => (l.length <= width ? [l] : wrapWords(l, width, hangingIndent(l))));
}

/** Where a wrapped line's continuation starts: under the text after a key column, or its indent. */
function hangingIndent(line: string): number {
  const key = /^( {2}\S.*? {2,})\S/.exec(line);
  if (key) return key[1].length;
  return /^ */.exec(line)?.[0].length ?? 0;
}

function aboutLines(domain: string): string[] {
  return [
    'How vmail works',
    '',
    'POP3 accounts and forwarding addresses',
    `  A POP3 account (NAME@${domain}) keeps its mail on this server until the owner's mail`,
    '  client fetches it. A forwarding address keeps nothing: it passes each message on to one',
    '  or more other addresses. A name is one or the other, never both.',
    '  Enter names without the @domain. Names are 1-64 characters: letters, digits, . - _',
    '  Passwords are 8-128 characters and may not be the name.',
    '',
    'Changes apply on the hour',
    '  Every add, password change and removal is queued and takes effect at the top of the',
    '  next hour ("the mail server may take up to 1 hr to complete your changes"). Until then',
    '  the change shows with a countdown and can be undone (u) or applied at once from',
    "  Pending Changes (A). A removed account's mail is archived on the server, not deleted.",
    '  Quotas, suspensions and catch-alls are queued the same way.',
    '',
    'POP3 Accounts',
    '  The QUOTA column shows how full each mailbox is (yellow past 80%, red past 95%).',
    '  STATUS says "never fetched" or "mail 45d old" where nobody collects the mail.',
    '',
    'Needs Attention, Search, History (menu 6, 7 and 8)',
    '  Needs Attention lists the mailboxes on every domain whose mail nobody collects.',
    '  Search finds names and forward destinations on every domain as you type.',
    '  History is the audit log: each change, the Unix user who asked, what came of it.',

    '',
    'The console and the daemon',
    '  The console talks to the vmail daemon over its control socket. If the daemon stops,',
    '  the console says so and reconnects by itself when it is back.',
  ];
}
