// The libraries only mail that leaves needs (nodemailer, some 150 ms of CPU to load at start),
// loaded at their first use rather than before the daemon is ready. The daemon asks for them
// right after ready (preloadOutgoing), in the background, so the first message finds them loaded
// and a broken install shows in the log at once rather than at the first forward.
import type Nodemailer from 'nodemailer';

let nodemailer: Promise<typeof Nodemailer> | null = null;

/** nodemailer's module, loaded once (a load that failed is tried again at the next call). */
export function loadNodemailer(): Promise<typeof Nodemailer> {
  nodemailer ??= import('nodemailer').then(
    (m) => m.default,
    (err: Error) => {
      nodemailer = null;
      throw err;
    },
  );
  return nodemailer;
}

/** Loads what sending needs now, in the background; `failed` hears why it could not. */
export function preloadOutgoing(failed: (err: Error) => void): void {
  loadNodemailer().catch(failed);
}
