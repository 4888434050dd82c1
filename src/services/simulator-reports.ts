import type { SimulatorProvider } from '../providers/simulator.js';
import type { SimulatorOutboxStore } from '../store/simulator-outbox-store.js';
import type { StatusService } from './status-service.js';

/**
 * The simulated network's side of delivery reports: when an outbox entry's report falls due,
 * its report goes through the simulator's own report mapping and the same StatusService path
 * that POST /api/webhooks/simulator uses. Marked only after it was applied, so a crash in
 * between repeats a report (harmless: statuses never move back) rather than loses one.
 */
export class SimulatorReports {
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly simulator: SimulatorProvider, private readonly outbox: SimulatorOutboxStore, private readonly status: StatusService) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
  }

  async deliverDue(now = Date.now()): Promise<number> {
    const due = await this.outbox.dueReports(now, 1000);
    if (due.length === 0) return 0;
    const reports = due.map((entry) => this.simulator.toStatusReport(this.simulator.reportFor(entry, now)));
    await this.status.applyProviderReports('simulator', reports);
    await this.outbox.markReported(due.map((d) => d.id), now);
    return due.length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let handled = 0;
      try {
        handled = await this.deliverDue();
      } catch (err) {
        console.error('simulator delivery reports failed; retrying', err);
      }
      if (handled === 0 && this.running) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, 100);
        });
      }
    }
  }
}
