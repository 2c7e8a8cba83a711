// Slows password guessing per client address: logins from one address are judged one at a time,
// and after a failure the next judgement from that address waits a delay that grows with each
// failure (up to a cap). However many connections an address opens, it gets the same few
// judged guesses a minute as one connection would; other addresses are not held up. One
// throttle serves POP3 and submission, so guesses on one port count on the other, and
// judgedLogin writes the same log lines for both (fail2ban's filter reads them).
import type { Logger } from '../support/log.js';

const FAILURE_MEMORY_MS = 15 * 60_000;
/** The longest wait after a failure is this many times the first. */
const MAX_STEPS = 20;

interface AddressState {
  failures: number;
  lastFailure: number;
  /** The judgement in progress (and its delay), which the next one waits for. */
  tail: Promise<void>;
  waiting: number;
}

export class AuthThrottle {
  private readonly addresses = new Map<string, AddressState>();

  constructor(
    public stepMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long a failure from `remote` makes the next attempt wait, if one came now. */
  private delayFor(s: AddressState): number {
    return Math.min(this.stepMs * s.failures, this.stepMs * MAX_STEPS);
  }

  /**
   * Judges one login attempt from `remote`: waits its turn, runs `attempt` (true when the
   * credentials were right), and on a failure holds the turn for the delay before the caller
   * (and the next attempt from that address) goes on. Resolves to what `attempt` found, or
   * null without judging when the client is gone by its turn (`wanted` false).
   */
  async judge<T>(
    remote: string,
    attempt: () => Promise<T | null>,
    wanted: () => boolean = () => true,
  ): Promise<T | null> {
    let s = this.addresses.get(remote);
    if (!s) {
      s = { failures: 0, lastFailure: 0, tail: Promise.resolve(), waiting: 0 };
      this.addresses.set(remote, s);
    }
    const state = s;
    const before = state.tail;
    let release!: () => void;
    state.tail = new Promise<void>((r) => (release = r));
    state.waiting++;
    try {
      await before;
      if (!wanted()) return null;
      if (state.failures && this.now() - state.lastFailure > FAILURE_MEMORY_MS) state.failures = 0;
      const result = await attempt();
      if (result === null) {
        state.failures++;
        state.lastFailure = this.now();
        await new Promise((r) => setTimeout(r, this.delayFor(state)));
      }
      return result;
    } finally {
      state.waiting--;
      release();
      if (state.waiting === 0 && state.failures === 0) this.addresses.delete(remote);
      if (this.addresses.size > 100_000) this.forgetOld();
    }
  }

  /** Failures counted against `remote` now (for logs). */
  failures(remote: string): number {
    return this.addresses.get(remote)?.failures ?? 0;
  }

  private forgetOld(): void {
    const now = this.now();
    for (const [k, s] of this.addresses)
      if (s.waiting === 0 && now - s.lastFailure > FAILURE_MEMORY_MS) this.addresses.delete(k);
  }
}

/** What a login check found: the account, which may be suspended. */
export interface LoginFound {
  address: string;
  suspended?: boolean;
}

/**
 * A login check judged by `throttle` and logged, one line per attempt, as `<protocol> login`,
 * `<protocol> login failed` (with the failures counted against the address, for fail2ban) or
 * `<protocol> login refused` (suspended).
 */
export function judgedLogin<T extends LoginFound>(
  throttle: AuthThrottle,
  protocol: 'pop3' | 'submission',
  log: Logger,
  check: (user: string, password: string, remote: string) => Promise<T | null>,
): (user: string, password: string, remote: string, wanted: () => boolean) => Promise<T | null> {
  return (user, password, remote, wanted) =>
    throttle.judge(
      remote,
      async () => {
        const found = await check(user, password, remote);
        if (!found)
          log.warning(`${protocol} login failed`, {
            user: printable(user),
            rip: remote,
            failures: throttle.failures(remote) + 1,
          });
        else if (found.suspended)
          log.notice(`${protocol} login refused`, { user: found.address, rip: remote, why: 'suspended' });
        else log.info(`${protocol} login`, { user: found.address, rip: remote });
        return found;
      },
      wanted,
    );
}

/** A user name as a client sent it, safe inside one log line. */
function printable(user: string): string {
  return user.replace(/[^\x21-\x7e]/g, '?').slice(0, 100);
}

/**
 * The connections --require-tls-auth lets log in without TLS when it is unset: this host's own
 * 127.0.0.1 and ::1 (a webmail or fetchmail on the same machine). Only these two, not all of
 * 127.0.0.0/8: nothing from outside can arrive from either, and it leaves 127.0.0.2 to stand
 * for a remote client in the tests, which need no network namespace (and no root) that way.
 */
export function isLoopback(remote: string): boolean {
  return remote === '127.0.0.1' || remote === '::1' || remote === '::ffff:127.0.0.1';
}

/** Whether a login without TLS is allowed from `remote` (--require-tls-auth; the same rule for POP3 and submission). */
export function plaintextAllowed(requireTlsAuth: boolean | null, hasTls: boolean, remote: string): boolean {
  return requireTlsAuth === null ? !hasTls || isLoopback(remote) : !requireTlsAuth;
}
