// The daemon's log: one line per event on stderr, `EVENT key=value ...` as Postfix writes them,
// for admins to grep and fail2ban to match. Under journald (JOURNAL_STREAM set, as systemd
// sets it for a service) each line starts with its priority (<3> error ... <7> debug) and no
// time, since journald adds one; otherwise it starts with the time in ISO 8601.
export type LogLevel = 'error' | 'warning' | 'notice' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warning', 'notice', 'info', 'debug'];

export type Fields = Record<string, string | number | boolean | null | undefined>;

const PRIORITY: Record<LogLevel, number> = { error: 3, warning: 4, notice: 5, info: 6, debug: 7 };

/** A value as it goes in a line: bare when it is one plain word, else quoted with escapes. */
function value(v: string | number | boolean | null): string {
  const s = String(v);
  if (/^[\x21-\x7e]+$/.test(s) && !/["=\\]/.test(s)) return s;
  // JSON escapes C0 but not DEL and C1 (U+009B is a CSI to many terminals): escaped too.
  return JSON.stringify(s.length > 500 ? `${s.slice(0, 500)}…` : s).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function formatFields(fields: Fields): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${value(v as string | number | boolean | null)}`)
    .join(' ');
}

export class Logger {
  private readonly journald: boolean;

  constructor(
    public level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
    env = process.env,
  ) {
    this.journald = Boolean(env.JOURNAL_STREAM);
  }

  private line(level: LogLevel, event: string, fields: Fields): void {
    if (PRIORITY[level] > PRIORITY[this.level]) return;
    const rest = formatFields(fields);
    const text = rest ? `${event} ${rest}` : event;
    this.write(this.journald ? `<${PRIORITY[level]}>${text}\n` : `${new Date().toISOString()} ${level} ${text}\n`);
  }

  error(event: string, fields: Fields = {}): void {
    this.line('error', event, fields);
  }

  warning(event: string, fields: Fields = {}): void {
    this.line('warning', event, fields);
  }

  notice(event: string, fields: Fields = {}): void {
    this.line('notice', event, fields);
  }

  info(event: string, fields: Fields = {}): void {
    this.line('info', event, fields);
  }

  debug(event: string, fields: Fields = {}): void {
    this.line('debug', event, fields);
  }
}
