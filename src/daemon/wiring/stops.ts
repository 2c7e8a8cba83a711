// How the daemon's wiring undoes itself: each step of a start hands back how to stop what it
// started, and a stop runs those in the reverse order, so what started last stops first (the
// ports close before anything else; the store closes after every part that writes to it).
// A start that fails midway stops what it had started, the same way.

/** What a wiring step started, and how to stop it. */
export interface Started {
  stop(): Promise<void> | void;
}

/** How long a stop waits for messages being stored and relay attempts under way. */
export const STOP_BOUND_MS = 10_000;

export class Stops {
  private readonly started: Started[] = [];

  /** Notes `step` to be stopped before everything noted so far; hands it back. */
  add<T extends Started>(step: T): T {
    this.started.push(step);
    return step;
  }

  /** Stops every step noted, the last noted first. */
  async stopAll(): Promise<void> {
    for (const step of this.started.reverse()) await step.stop();
  }
}
