import type { SimulatorProvider } from '../providers/simulator.js';
import type { GroupCommit } from '../store/group-commit.js';
import { markReported, type SimulatorOutboxStore } from '../store/simulator-outbox-store.js';
import { PollingLoop } from './polling-loop.js';
import type { StatusService } from './status-service.js';

/**
 * The simulated network's side of delivery reports: when an outbox entry's report falls due,
 * its report goes through the simulator's own report mapping and the same StatusService path
 * that POST /api/webhooks/simulator uses. Marked in the transaction that applies it: a crash
 * between applying and marking can no longer repeat a round, and a round is one write turn, not
 * two. (Two workers may still read the same due rows; the second apply changes nothing.)
 */
export class SimulatorReports {
  private readonly loop = new PollingLoop('simulator delivery reports', 100, () => this.deliverDue());

  constructor(
    private readonly simulator: SimulatorProvider, private readonly outbox: SimulatorOutboxStore, private readonly status: StatusService, private readonly commits: GroupCommit,
  ) {}

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  async deliverDue(now = Date.now()): Promise<number> {
    const due = await this.outbox.dueReports(now, 1000);
    if (due.length === 0) return 0;
    const reports = due.map((entry) => this.simulator.toStatusReport(this.simulator.reportFor(entry, now)));
    await this.commits.run(async (trx) => {
      await this.status.applyProviderReportsIn(trx, 'simulator', reports);
      await markReported(trx, due.map((d) => d.id), now);
    });
    return due.length;
  }
}
