// What one client address may do to the SMTP intake, as Postfix's anvil, postscreen and
// smtpd error limits have it: a cap on the connections it holds at once; refused recipients
// (guessed addresses, forged SRS, relay attempts) answered one at a time per address, and past
// the first few each answer waits longer, as POP3 login guessing does (pop3/auth-throttle.ts),
// so that opening more connections does not guess faster; and the greeting held a while for an
// address whose sessions keep being cut off or turned away. Other addresses are not held up.

import type { Socket } from 'node:net';

/**
 * Calls `fn` once when `socket` closes. smtp-server's STARTTLS takes every listener off the
 * plain socket (removeAllListeners) before wrapping it in TLS, a per-address count's release
 * with them: the listener is put back each time, so a session that turned TLS on still gives
 * its place back (else an address is refused for good after that many TLS sessions).
 */
export function onceClosed(socket: Socket, fn: () => void): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    fn();
  };
  const removeAll = socket.removeAllListeners.bind(socket);
  socket.removeAllListeners = ((event?: string | symbol) => {
    removeAll(event);
    if (!done && !socket.listeners('close').includes(once)) socket.once('close', once);
    return socket;
  }) as Socket['removeAllListeners'];
  socket.once('close', once);
}

/** Refused recipients an address gets answered at once (Postfix's smtpd_soft_error_limit). */
export const SOFT_ERRORS = 10;
/** Errors one session may make before it is cut off with 421 (smtpd_hard_error_limit). */
export const HARD_ERRORS = 20;
/** An address quiet this long starts afresh. */
const MEMORY_MS = 15 * 60_000;
/** The longest wait before a refusal is this many steps. */
const MAX_STEPS = 20;
/** The greeting is held this long per strike, up to the most. */
const HOLD_STEP_MS = 1000;
const MAX_HOLD_MS = 5000;

interface AddressState {
  connections: number;
  refusals: number;
  /** Sessions cut off, connections turned away. */
  strikes: number;
  last: number;
  /** The refusal being answered (and its wait), which the next one waits for. */
  tail: Promise<void>;
  waiting: number;
}

export class SmtpGuard {
  private readonly addresses = new Map<string, AddressState>();

  constructor(
    /** Connections one address may hold at once. */
    public maxPerAddress: number,
    /** The first wait before a refusal past the soft limit; it grows every SOFT_ERRORS refusals. */
    public stepMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private state(remote: string): AddressState {
    let s = this.addresses.get(remote);
    const now = this.now();
    if (!s) {
      if (this.addresses.size >= 100_000) this.forgetOld(now);
      s = { connections: 0, refusals: 0, strikes: 0, last: now, tail: Promise.resolve(), waiting: 0 };
      this.addresses.set(remote, s);
    } else if (now - s.last > MEMORY_MS) {
      s.refusals = 0;
      s.strikes = 0;
    }
    s.last = now;
    return s;
  }

  /** Takes a connection slot for `remote`, or false (a strike) when it holds its cap already. */
  admit(remote: string): boolean {
    const s = this.state(remote);
    if (s.connections >= this.maxPerAddress) {
      s.strikes++;
      return false;
    }
    s.connections++;
    return true;
  }

  release(remote: string): void {
    const s = this.addresses.get(remote);
    if (s && s.connections > 0) s.connections--;
    // An address with nothing against it is not remembered.
    if (s && !s.connections && !s.refusals && !s.strikes && !s.waiting) this.addresses.delete(remote);
  }

  /** A session of `remote` was cut off for its errors. */
  strike(remote: string): void {
    this.state(remote).strikes++;
  }

  /** How long the greeting to `remote` is held: a second per recent strike, at most five. */
  greetingHold(remote: string): number {
    const s = this.addresses.get(remote);
    if (!s || this.now() - s.last > MEMORY_MS) return 0;
    return Math.min(s.strikes * HOLD_STEP_MS, MAX_HOLD_MS);
  }

  /**
   * Resolves when a refused recipient from `remote` may be answered: after the refusals from
   * that address before it, and past SOFT_ERRORS of them, after a wait of one step, two steps
   * past twice as many, and so on up to MAX_STEPS.
   */
  async refused(remote: string): Promise<void> {
    const s = this.state(remote);
    s.refusals++;
    const over = s.refusals - SOFT_ERRORS;
    const wait = over <= 0 ? 0 : Math.min(this.stepMs * Math.ceil(over / SOFT_ERRORS), this.stepMs * MAX_STEPS);
    const before = s.tail;
    let release!: () => void;
    s.tail = new Promise<void>((r) => (release = r));
    s.waiting++;
    try {
      await before;
      if (wait) await new Promise((r) => setTimeout(r, wait));
    } finally {
      s.waiting--;
      release();
    }
  }

  private forgetOld(now: number): void {
    for (const [k, s] of this.addresses)
      if (s.connections === 0 && s.waiting === 0 && now - s.last > MEMORY_MS) this.addresses.delete(k);
  }
}

/**
 * Sends the replies to what one read from `socket` brought (MAIL, RCPT and DATA pipelined, RFC
 * 2920) in one write, as Postfix does, not one write (and one wake of the client) each: the
 * socket is corked while the read is handled, and uncorked once it is.
 */
export function batchReplies(socket: Socket): void {
  socket.on('data', () => {
    if (socket.writableCorked) return;
    socket.cork();
    process.nextTick(() => flushReplies(socket));
  });
}

/** Sends what batchReplies holds now: STARTTLS's "220 Ready" must leave before the TLS handshake. */
export function flushReplies(socket: Socket): void {
  while (socket.writableCorked) socket.uncork();
}
