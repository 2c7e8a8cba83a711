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

export function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}
