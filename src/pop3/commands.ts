// The POP3 command table, checked in one place: for each verb the states it is allowed in, how
// many arguments it takes and what runs it; and how a command line splits into verb and
// arguments. The session (session.ts) holds the state and the commands' bodies.

export type Pop3State = 'AUTHORIZATION' | 'TRANSACTION' | 'UPDATE';

/** The commands' bodies, as the session carries them out. */
export interface CommandTarget {
  capa(): void;
  userCommand(user: string): void;
  passCommand(password: string): Promise<void>;
  authCommand(args: string[]): Promise<void>;
  stls(): void;
  quit(): Promise<void>;
  ok(text: string): void;
  stat(): void;
  list(arg?: string): void;
  uidl(arg?: string): void;
  retr(arg: string): Promise<void>;
  top(arg: string, linesArg: string): Promise<void>;
  dele(arg: string): void;
  rset(): void;
}

interface Command {
  states: Pop3State[];
  min: number;
  max: number;
  run: (s: CommandTarget, args: string[], rest: string) => Promise<void> | void;
}

const AUTH: Pop3State[] = ['AUTHORIZATION'];
const TRANS: Pop3State[] = ['TRANSACTION'];
const BOTH: Pop3State[] = ['AUTHORIZATION', 'TRANSACTION'];

const COMMANDS: Record<string, Command> = {
  CAPA: { states: BOTH, min: 0, max: 0, run: (s) => s.capa() },
  USER: { states: AUTH, min: 1, max: 1, run: (s, [user]) => s.userCommand(user) },
  // The password is the whole rest of the line, spaces and all (RFC 1939 7: "PASS string").
  PASS: { states: AUTH, min: 0, max: Infinity, run: (s, _a, rest) => s.passCommand(rest) },
  AUTH: { states: AUTH, min: 0, max: 2, run: (s, args) => s.authCommand(args) },
  STLS: { states: AUTH, min: 0, max: 0, run: (s) => s.stls() },
  QUIT: { states: BOTH, min: 0, max: 0, run: (s) => s.quit() },
  NOOP: { states: TRANS, min: 0, max: 0, run: (s) => s.ok('') },
  STAT: { states: TRANS, min: 0, max: 0, run: (s) => s.stat() },
  LIST: { states: TRANS, min: 0, max: 1, run: (s, [n]) => s.list(n) },
  UIDL: { states: TRANS, min: 0, max: 1, run: (s, [n]) => s.uidl(n) },
  RETR: { states: TRANS, min: 1, max: 1, run: (s, [n]) => s.retr(n) },
  TOP: { states: TRANS, min: 2, max: 2, run: (s, [n, k]) => s.top(n, k) },
  DELE: { states: TRANS, min: 1, max: 1, run: (s, [n]) => s.dele(n) },
  RSET: { states: TRANS, min: 0, max: 0, run: (s) => s.rset() },
};

/**
 * Longest command line accepted (RFC 2449: 255 octets); the longer lines a password may need
 * (PASS, AUTH PLAIN) are bounded by the line reader.
 */
const MAX_COMMAND = 255;
const LONG_LINE_VERBS = new Set(['PASS', 'AUTH']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text as a client sent it: UTF-8 when it is valid UTF-8, else one character per byte (Latin-1). */
function clientText(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    // Not UTF-8: the bytes are taken as Latin-1, which any byte string is.
    return bytes.toString('latin1');
  }
}

/** One command line taken apart: the answer to send, or the checked command and its arguments. */
export type CommandLine = { refuse: string } | { command: Command; args: string[]; rest: string };

/** Takes a command line apart and checks it against the table in `state`. */
export function parseCommand(bytes: Buffer, state: Pop3State): CommandLine {
  const sp = bytes.indexOf(32);
  const verb = bytes
    .subarray(0, sp < 0 ? bytes.length : sp)
    .toString('latin1')
    .toUpperCase();
  if (bytes.length > MAX_COMMAND && !LONG_LINE_VERBS.has(verb)) return { refuse: 'Line too long.' };
  // A password may be any UTF-8 text, and so may a user name (an address at bücher.test);
  // everything else a client sends is ASCII.
  const text = verb === 'PASS' || verb === 'USER';
  const rest = sp < 0 ? '' : text ? clientText(bytes.subarray(sp + 1)) : bytes.subarray(sp + 1).toString('latin1');
  const args = rest.split(' ').filter((a) => a.length > 0);
  const command = Object.hasOwn(COMMANDS, verb) ? COMMANDS[verb] : undefined;
  if (!command) return { refuse: verb ? 'Unknown command.' : 'Empty command.' };
  if (!command.states.includes(state)) {
    return { refuse: state === 'AUTHORIZATION' ? 'Not logged in.' : 'Already logged in.' };
  }
  if (args.length < command.min || args.length > command.max)
    return { refuse: `Wrong number of arguments for ${verb}.` };
  return { command, args, rest };
}
