import { processLog } from '../logging.js';

/**
 * Runs `step` again and again: after a turn of the event loop while it finds work, after `idleMs` when
 * it found none. The turn lets what waits on this thread go first (requests, other loops' transactions
 * for the write lock), so a backlog of millions worked off a batch at a time runs beside them.
 * `stop` waits for the step in progress, so a shutdown never cuts a transaction in half.
 */
export class PollingLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly name: string, private readonly idleMs: number, private readonly step: () => Promise<number>) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New work elsewhere: an idle loop runs its step now instead of at the end of its poll interval. */
  nudge(): void {
    if (this.wake) {
      clearTimeout(this.timer);
      this.wake();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let handled = 0;
      try {
        handled = await this.step();
      } catch (err) {
        processLog.error(`${this.name} failed; retrying`, err);
      }
      if (handled > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      } else if (this.running) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, this.idleMs);
        });
        this.wake = undefined;
      }
    }
  }
}
