import type { GatewayMetrics } from '../metrics.js';
import { processLog } from '../logging.js';
import type { GroupCommit } from '../store/group-commit.js';
import { purgeBefore } from '../store/retention-store.js';
import { PollingLoop } from './polling-loop.js';

const DAY_MS = 86_400_000;

export interface RetentionSettings {
  /** MESSAGE_RETENTION_DAYS: final messages older than this are deleted. */
  days: number;
  /** Rows per table per transaction: small, so sends waiting for the write lock wait only milliseconds. */
  batchSize: number;
  /** How often to look for expired rows once none are left. */
  intervalMs: number;
}

/**
 * MESSAGE_RETENTION_DAYS: deletes final messages (with their events, attempts and callbacks),
 * emptied batches, finished OTP sessions and inbound messages once they are older than that.
 * A batch at a time, each its own short transaction through the group commit, and the loop
 * yields between batches, so a first purge of millions of rows goes on beside sends rather than
 * in front of them. Analytics keep their counts (docs/analytics.md); the audit log is not touched.
 */
export class Retention {
  private readonly loop: PollingLoop;
  private purgedSinceIdle = 0;

  constructor(private readonly settings: RetentionSettings, private readonly commits: GroupCommit, private readonly metrics: GatewayMetrics) {
    this.loop = new PollingLoop('message retention', settings.intervalMs, () => this.purgeOnce());
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One batch; returns how many rows went (0: nothing older than the retention is left). */
  async purgeOnce(now = Date.now()): Promise<number> {
    const cutoff = now - this.settings.days * DAY_MS;
    const purged = await this.commits.run((trx) => purgeBefore(trx, cutoff, this.settings.batchSize));
    this.metrics.retentionPurged.inc({ kind: 'message' }, purged.messages);
    this.metrics.retentionPurged.inc({ kind: 'batch' }, purged.batches);
    this.metrics.retentionPurged.inc({ kind: 'otp_session' }, purged.otpSessions);
    this.metrics.retentionPurged.inc({ kind: 'inbound' }, purged.inbound);
    const total = purged.messages + purged.batches + purged.otpSessions + purged.inbound;
    this.purgedSinceIdle += purged.messages;
    if (total === 0 && this.purgedSinceIdle > 0) {
      processLog.info(`retention: deleted ${this.purgedSinceIdle} messages older than ${this.settings.days} days`);
      this.purgedSinceIdle = 0;
    }
    // Let sends and reports take the write lock between batches.
    if (total > 0) await new Promise((r) => setImmediate(r));
    return total;
  }
}
