// The hourly apply: a timer that fires at every whole multiple of the interval since the epoch
// and applies what is due. A tick missed while the daemon was down is applied at start.
import type { Registry } from './registry.js';

export class Applier {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly registry: Registry, private readonly log: (line: string) => void) {}

  /** Finishes any apply a crash cut short, applies what is overdue, then keeps the schedule. */
  async start(): Promise<void> {
    const dropped = await this.registry.recover();
    if (dropped) this.log(`recovered ${dropped} change(s) applied before a crash`);
    await this.tick(this.registry.now());
  }

  private schedule(): void {
    if (this.stopped) return;
    const at = this.registry.nextApplyAt();
    // Long timers drift; waking a little late is fine, the due check uses the tick's time.
    const delay = Math.max(0, at - this.registry.now());
    this.timer = setTimeout(() => void this.tick(at), Math.min(delay, 2 ** 31 - 1));
  }

  private async tick(dueBy: number): Promise<void> {
    try {
      const result = await this.registry.apply(dueBy);
      if (result.applied.length || result.failed.length) {
        this.log(`applied ${result.applied.length} change(s)${result.failed.length ? `, ${result.failed.length} failed: ${result.failed[0].error}` : ''}`);
      }
    } catch (err) {
      this.log(`apply failed: ${(err as Error).message}`);
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
