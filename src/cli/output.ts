// How a command ends: its output one line at a time (or JSON with stable field names), and its
// exit status: 0 ok; 1 a refused change or a runtime failure; 64 usage (unknown command or
// option, missing argument, a bad value caught before the daemon is asked); 69 daemon
// unreachable; 78 configuration.
import { InputError } from '../model/errors.js';

export const EXIT = { ok: 0, failure: 1, usage: 64, unreachable: 69, config: 78 } as const;

/** A mistake in the command line itself: exit 64. */
export class UsageError extends InputError {}

export function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

/**
 * Prints `value` as JSON, with DEL, C1 controls, Unicode format characters and line breaks
 * escaped as `\\uNNNN` (JSON.stringify escapes only C0): the same value to a parser, but an
 * outsider's U+009B (a CSI to many terminals) or bidi override in a Message-ID does not reach
 * the admin's terminal raw when `--json` is read there.
 */
export function json(value: unknown): void {
  out(JSON.stringify(value, null, 2).replace(UNSHOWN_IN_JSON, escapeUnits));
}

const UNSHOWN_IN_JSON = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;

/** Each UTF-16 unit of `c` as `\\uNNNN` (an astral tag character is two). */
function escapeUnits(c: string): string {
  return c
    .split('')
    .map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .join('');
}
