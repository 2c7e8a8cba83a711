// The text screens: Mail Client Settings (what to enter in a mail client) and Help (how vmail
// works, as the old console's pages told it, and every key). Scrolled by the app's state.

import { Box, Text } from 'ink';
import type { StatusView } from '../../src/control/protocol.js';
import { clientSettingsLines } from '../../src/model/client-settings.js';
import { Footer, type FooterKey, type Frame, NoticeLine } from '../shared/frame.js';
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

export function helpLines(domain: string): string[] {
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
    'Keys everywhere',
    '  ↑ ↓ or j k        move            Enter       choose / open',
    '  Esc               back            q           quit (when not typing)',
    '  ?                 this help       1-7         menu items, on the main menu',
    '',
    'POP3 Accounts and Email Forwarding',
    '  a or Tab          add: type the name, Tab, the password (or destinations), Enter',
    '  ← →  Ctrl-U       in a field: move the cursor; clear the field',
    "  p                 change the selected account's password",
    '  l                 change its quota (25M, 2G or none): mail past it waits (452)',
    '  z                 suspend it (no login; its mail is kept) or resume it',
    '  r                 rename it: its mail moves along, mail clients fetch nothing again',
    "  Enter / e         details of an account / edit a forward's destinations",
    '  d                 remove (asks first; the default is No)',
    "  u                 undo the selected name's pending change",
    '  f                 filter by name             s     sort by name, size or quota use',
    "  /                 search every domain's names and destinations (on every list)",
    '  The QUOTA column shows how full each mailbox is (yellow past 80%, red past 95%).',
    '  STATUS says "never fetched" or "mail 45d old" where nobody collects the mail.',
    '  PgUp PgDn Home End (g G)                     page through long lists',
    '  h                 history: who changed the selected name, and when',
    '  i                 import accounts and forwards from a CSV file: a preview of every row',
    '                    first, then one pending change per row (Esc while it runs: none)',
    '',
    'Needs Attention, Search, History (menu 6, 7 and 8; / on the menu searches)',
    '  Needs Attention lists the mailboxes on every domain whose mail nobody collects.',
    '  Search finds names and forward destinations on every domain as you type.',
    '  History is the audit log: each change, the Unix user who asked, what came of it.',
    "  Enter             go to the row's account or forward, on its own domain",
    '',
    'Mail Client Settings',
    '  p                 print the page to vmail-settings-DOMAIN.txt in the directory the',
    '                    console was started in (or: vmail domains settings DOMAIN)',
    '',
    'Pending Changes',
    '  c                 cancel the selected change (asks first)',
    "  A                 apply this domain's pending changes now (asks first)",
    '',
    'Domains',
    '  Enter             manage the selected domain (the others stay as they are)',
    '  a                 add a domain: mail for it is taken once the add applies',
    '  d                 remove the selected domain (asks first). One with accounts goes with',
    '                    them: their mail is archived, and mail for the domain is refused.',
    "  u / A             undo the domain's pending add or removal / apply it now",
    '  c / l             set the catch-all (an account or forward that gets mail for unknown',
    '                    names; none refuses them) / the quota new accounts get (25M, none)',
    '',
    'The console and the daemon',
    '  The console talks to the vmail daemon over its control socket. If the daemon stops,',
    '  the console says so and reconnects by itself when it is back.',
  ];
}
