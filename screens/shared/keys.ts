// Every key of the console, defined once: the in-app help (`?`, opened on the keys of the
// screen it was pressed on) is drawn from this list, and so is the README's console key table
// (`npm run keys` writes it; test/unit/generated.test.ts fails when it is not what this makes).

/** A key (or keys) and what it does. */
export interface KeyDoc {
  keys: string;
  does: string;
}

/** The keys of one screen (or of every screen, or of every text field). */
export interface KeySection {
  /** The screens it is the help of (`?` pressed on one opens Help on this section). */
  screens: readonly string[];
  title: string;
  keys: readonly KeyDoc[];
}

/** The editing keys of every text field (their handling lives with the field). */
const FIELD_KEYS: KeyDoc[] = [
  { keys: 'Left/Right', does: 'in a field: move the cursor by one character' },
  { keys: 'Home/End, Ctrl-A/Ctrl-E', does: 'in a field: to the start / the end' },
  { keys: 'Backspace / Delete', does: 'in a field: delete before / after the cursor' },
  { keys: 'Ctrl-U/Ctrl-K/Ctrl-W', does: 'in a field: delete to the start / to the end / the word before' },
  { keys: 'Tab, Enter', does: 'in a field: next field; Enter in the last one sends' },
  { keys: 'Esc', does: 'in a field: cancel (a filter: drop it)' },
  { keys: 'a paste', does: 'in a field: lands whole, without line breaks or control characters' },
];

/** The keys every list shares. */
const LIST_KEYS: KeyDoc[] = [
  { keys: 'Up/Down, j/k', does: 'move the selection' },
  { keys: 'PgUp/PgDn', does: 'a page up / down' },
  { keys: 'Home/End, g/G', does: 'the first / the last row' },
];

export const KEY_SECTIONS: readonly KeySection[] = [
  {
    screens: ['*'],
    title: 'Keys everywhere',
    keys: [
      { keys: '?', does: 'the keys of the screen you are on (then every other key)' },
      { keys: 'Esc', does: 'back (a filter first drops the filter)' },
      { keys: 'q', does: 'quit (when not typing)' },
      { keys: 'Ctrl-C', does: 'quit at once' },
    ],
  },
  {
    screens: ['menu'],
    title: 'Main menu',
    keys: [
      { keys: 'Up/Down, j/k', does: 'move' },
      { keys: 'Home/End, g/G', does: 'the first / the last item' },
      { keys: 'Enter', does: 'open the selected item' },
      { keys: '1-9, 0', does: 'open item 1-9; 0 quits' },
      { keys: '/ or S', does: 'search every domain' },
    ],
  },
  {
    screens: ['accounts'],
    title: 'POP3 Accounts',
    keys: [
      ...LIST_KEYS,
      { keys: 'a or Tab', does: 'add: the name, Tab, the password, Enter' },
      { keys: 'p', does: "change the selected account's password" },
      { keys: 'l', does: 'change its quota (25M, 2G or none): mail past it waits (452)' },
      { keys: 'z', does: 'suspend it (no login; mail is kept) or resume it (asks first)' },
      { keys: 'r', does: 'rename it: its mail moves along' },
      { keys: 'd', does: 'remove it (asks first; the default is No)' },
      { keys: 'u', does: 'undo its pending change (asks first)' },
      { keys: 'Enter', does: 'its details and mail client settings' },
      { keys: 'h', does: 'its history: who changed it, and when' },
      { keys: 't', does: 'its trail: each message from arrival to the client that deleted it' },
      { keys: '/ or f', does: 'filter this list by name, on screen; Esc drops the filter' },
      { keys: 'S', does: "search every domain's names and destinations" },
      { keys: 's', does: 'sort by name, size or quota use' },
      { keys: 'i', does: 'import accounts and forwards from a CSV file' },
    ],
  },
  {
    screens: ['forwards'],
    title: 'Email Forwarding',
    keys: [
      ...LIST_KEYS,
      { keys: 'a or Tab', does: 'add: the name, Tab, the destinations, Enter' },
      { keys: 'e or Enter', does: "edit the selected forward's destinations" },
      { keys: 'd', does: 'remove it (asks first; the default is No)' },
      { keys: 'u', does: 'undo its pending change (asks first)' },
      { keys: 'h', does: 'its history: who changed it, and when' },
      { keys: 't', does: 'its trail: each message, where it was forwarded, the answer' },
      { keys: '/ or f', does: 'filter by name or destination, on screen; Esc drops the filter' },
      { keys: 'S', does: "search every domain's names and destinations" },
    ],
  },
  {
    screens: ['accounts', 'forwards', 'domains', 'import'],
    title: 'In a text field',
    keys: FIELD_KEYS,
  },
  {
    screens: ['pending'],
    title: 'Pending Changes',
    keys: [
      ...LIST_KEYS,
      { keys: 'c (or d, u)', does: 'cancel the selected change (asks first)' },
      { keys: 'A', does: "apply this domain's pending changes now (asks first)" },
      { keys: '/ or f', does: 'filter by address, kind or id, on screen; Esc drops the filter' },
      { keys: 'S', does: "search every domain's names and destinations" },
    ],
  },
  {
    screens: ['domains'],
    title: 'Domains',
    keys: [
      ...LIST_KEYS,
      { keys: 'Enter', does: 'manage the selected domain' },
      { keys: 'a', does: 'add a domain: mail for it is taken once the add applies' },
      { keys: 'd', does: 'remove the selected domain, with its accounts (asks first)' },
      { keys: 'u', does: "undo the domain's pending add or removal" },
      { keys: 'A', does: "apply the domain's pending change now" },
      { keys: 'c', does: 'set its catch-all (none refuses unknown names)' },
      { keys: 'l', does: 'set the quota new accounts get (25M, none)' },
      { keys: 'n', does: "check the domain's DNS records (MX, SPF, DKIM, DMARC...): ok, missing or wrong" },
      { keys: '/ or f', does: 'filter the domains by name, on screen; Esc drops the filter' },
      { keys: 'S', does: "search every domain's names and destinations" },
    ],
  },
  {
    screens: ['trail'],
    title: 'Trail',
    keys: [
      { keys: 'Up/Down, j/k', does: 'move the selection, one message at a time' },
      { keys: 'PgUp/PgDn, Home/End', does: 'a page / the first or last message' },
      { keys: 'Enter', does: 'open the message into its events (again: close it)' },
      { keys: 'Esc', does: 'close the opened message, then back' },
    ],
  },
  {
    screens: ['attention', 'history'],
    title: 'Needs Attention and History',
    keys: [
      ...LIST_KEYS,
      { keys: 'Enter', does: "go to the row's account or forward, on its own domain" },
      { keys: 'a', does: 'History of one address: show all of it' },
    ],
  },
  {
    screens: ['search'],
    title: 'Search',
    keys: [
      { keys: 'typing', does: 'names and destinations on every domain, as you type' },
      { keys: 'Up/Down, PgUp/PgDn', does: 'move the selection (the search itself edits as every field)' },
      { keys: 'Enter', does: 'go to the match, on its own domain' },
    ],
  },
  {
    screens: ['import'],
    title: 'Import Accounts',
    keys: [
      { keys: 'Enter', does: 'read the CSV file typed, and preview every row' },
      { keys: 'Up/Down, j/k, PgUp/PgDn', does: 'scroll the preview' },
      { keys: 'y', does: 'queue every row (when none is refused)' },
      { keys: 's', does: 'queue the good rows, skip the refused ones' },
      { keys: 'n', does: 'back to the file name' },
      { keys: 'Esc', does: 'while it runs: stop, and queue none' },
    ],
  },
  {
    screens: ['help', 'settings'],
    title: 'Help and Mail Client Settings',
    keys: [
      { keys: 'Up/Down, j/k', does: 'scroll a line' },
      { keys: 'PgUp/PgDn, Space', does: 'scroll a page' },
      { keys: 'Home/End, g/G', does: 'the top / the end' },
      { keys: 'p', does: 'Mail Client Settings: print the page to vmail-settings-DOMAIN.txt here' },
      { keys: 'Esc or Enter', does: 'back' },
    ],
  },
];

/** The width of the key column in Help. */
const KEY_COLUMN = 18;

/** A section as Help shows it: its title, then a line per key. */
function sectionLines(section: KeySection): string[] {
  return [
    section.title,
    ...section.keys.map((k) =>
      k.keys.length < KEY_COLUMN ? `  ${k.keys.padEnd(KEY_COLUMN)}${k.does}` : `  ${k.keys}  ${k.does}`,
    ),
  ];
}

/** Every key, for Help: the sections of `screen` (headed `Keys on ...`), and the rest. */
export function keyHelpLines(screen: string): { own: string[]; rest: string[] } {
  const mine = KEY_SECTIONS.filter((s) => s.screens.includes(screen));
  const own: string[] = [];
  for (const [i, s] of mine.entries())
    own.push(...(i === 0 ? [`Keys on ${s.title}`, ...sectionLines(s).slice(1)] : sectionLines(s)), '');
  const rest = KEY_SECTIONS.filter((s) => !s.screens.includes(screen)).flatMap((s) => [...sectionLines(s), '']);
  return { own, rest };
}

/** The README's console key table, as Markdown. */
export function keyTable(): string {
  const cell = (t: string) => t.replace(/\|/g, '\\|');
  const rows = KEY_SECTIONS.flatMap((s) =>
    s.keys.map((k) => `| ${cell(s.title)} | \`${cell(k.keys)}\` | ${cell(k.does)} |`),
  );
  return ['| where | keys | what they do |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Marks around the generated table in the README. */
export const KEY_TABLE_START = '<!-- console keys: made by npm run keys from screens/shared/keys.ts -->';
export const KEY_TABLE_END = '<!-- end of console keys -->';

/** `readme` with its key table replaced by the one the list makes. */
export function withKeyTable(readme: string): string {
  const start = readme.indexOf(KEY_TABLE_START);
  const end = readme.indexOf(KEY_TABLE_END);
  if (start < 0 || end < start) throw new Error(`README has no ${KEY_TABLE_START} ... ${KEY_TABLE_END} marks`);
  return `${readme.slice(0, start + KEY_TABLE_START.length)}\n${keyTable()}\n${readme.slice(end)}`;
}
