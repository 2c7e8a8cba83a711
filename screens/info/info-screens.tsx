// The text screens: Mail Client Settings (what to enter in a mail client) and Help (how vmail
// works, as the old console's pages told it, and every key). Scrolled by the app's state.

import { Box, Text } from 'ink';
import type { StatusView } from '../../src/control/protocol.js';
import { Footer, type Frame } from '../shared/frame.js';
import { keyHelpLines } from '../shared/keys.js';
import { wrapWords } from '../shared/layout.js';

export function TextScreen({ lines, scroll, frame }: { lines: readonly string[]; scroll: number; frame: Frame }) {
  const { width, height, theme } = frame;
  const view = textHeight(height);
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
      <Footer
        keys={[
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

/** Lines of text that fit above the footer. */
export function textHeight(height: number): number {
  return Math.max(1, height - 1);
}

export function settingsLines(domain: string, status: StatusView | null): string[] {
  const host = status?.hostname ?? 'this server';
  const pop3 = status?.pop3.port ?? 110;
  const pop3s = status?.pop3s?.port;
  return [
    'Mail Client Settings',
    '',
    `For a POP3 account NAME@${domain}, enter in Thunderbird, Outlook, Apple Mail or a phone:`,
    '',
    `  Account type        POP3`,
    `  Incoming server     ${host}`,
    `  Port                ${pop3}${pop3s ? `   (or ${pop3s} with SSL/TLS)` : ''}`,
    `  Security            ${pop3s ? 'SSL/TLS on the second port, or STARTTLS' : 'none configured (the admin can add a certificate)'}`,
    `  Username            the whole address: NAME@${domain}`,
    '  Password            the one set on the POP3 Accounts screen',
    '  Authentication      normal password',
    '',
    "  Outgoing (SMTP)     your Internet provider's outgoing server, as before:",
    '                      this server receives mail for your domain; it does not relay.',
    '',
    'Leaving mail on the server',
    '  Mail clients can keep copies on the server ("leave messages on server"); vmail keeps',
    "  each message's ID stable, so nothing is downloaded twice. The mailbox size on the",
    '  POP3 Accounts screen grows until the client deletes what it has fetched.',
    '',
    'After a change',
    '  New accounts and new passwords work after the next hourly apply (see the countdown',
    '  at the top right). Until then, the old password still works.',
  ];
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
