// Slows password guessing per client address: logins from one address are judged one at a time,
// and after a failure the next judgement from that address waits a delay that grows with each
// failure (up to a cap). However many connections an address opens, it gets the same few
// judged guesses a minute as one connection would; other addresses are not held up.

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
