import type { GatewayMetrics } from '../metrics.js';
import { processLog } from '../logging.js';
import type { GroupCommit } from '../store/group-commit.js';
import { purgeAuditBefore, purgeBefore } from '../store/retention-store.js';
import { PollingLoop } from './polling-loop.js';

const DAY_MS = 86_400_000;

export interface RetentionSettings {
  /** MESSAGE_RETENTION_DAYS: final messages older than this are deleted (undefined: kept). */
  days: number | undefined;
  /** AUDIT_RETENTION_DAYS: audit rows older than this are deleted (undefined: kept). */
  auditDays: number | undefined;
  /** Rows per table per transaction: small, so sends waiting for the write lock wait only milliseconds. */
  batchSize: number;
  /** How often to look for expired rows once none are left. */
  intervalMs: number;
}

/**
 * MESSAGE_RETENTION_DAYS: deletes final messages (with their events, attempts and callbacks),
 * emptied batches, finished OTP sessions and inbound messages once they are older than that.
 * AUDIT_RETENTION_DAYS: deletes audit rows older than that (the log has a row per API call, so it
 * grows as fast as the messages). A batch at a time, each its own short transaction through the group
 * commit, and the loop yields between batches, so a first purge of millions of rows goes on beside
 * sends rather than in front of them. Analytics keep their counts (docs/analytics.md).
 */
export class Retention {
  private readonly loop: PollingLoop;
  private purgedSinceIdle = { messages: 0, audit: 0 };
  private auditFailing = false;

  constructor(private readonly settings: RetentionSettings, private readonly commits: GroupCommit, private readonly metrics: GatewayMetrics) {
    this.loop = new PollingLoop('retention', settings.intervalMs, () => this.purgeOnce());
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One batch; returns how many rows went (0: nothing older than the retention is left). */
  async purgeOnce(now = Date.now()): Promise<number> {
    const { days, auditDays, batchSize } = this.settings;
    const purged = {
      ...(days === undefined ? { messages: 0, batches: 0, otpSessions: 0, inbound: 0 } : await this.commits.run((trx) => purgeBefore(trx, now - days * DAY_MS, batchSize))),
      audit: auditDays === undefined ? 0 : await this.purgeAudit(now - auditDays * DAY_MS),
    };
    this.metrics.retentionPurged.inc({ kind: 'message' }, purged.messages);
    this.metrics.retentionPurged.inc({ kind: 'batch' }, purged.batches);
    this.metrics.retentionPurged.inc({ kind: 'otp_session' }, purged.otpSessions);
    this.metrics.retentionPurged.inc({ kind: 'inbound' }, purged.inbound);
    this.metrics.retentionPurged.inc({ kind: 'audit' }, purged.audit);
    const total = purged.messages + purged.batches + purged.otpSessions + purged.inbound + purged.audit;
    this.purgedSinceIdle.messages += purged.messages;
    this.purgedSinceIdle.audit += purged.audit;
    if (total === 0) {
      if (this.purgedSinceIdle.messages > 0) processLog.info(`retention: deleted ${this.purgedSinceIdle.messages} messages older than ${days} days`);
      if (this.purgedSinceIdle.audit > 0) processLog.info(`retention: deleted ${this.purgedSinceIdle.audit} audit rows older than ${auditDays} days`);
      this.purgedSinceIdle = { messages: 0, audit: 0 };
    }
    return total;
  }

  /**
   * Its own transaction, and a failure its own: an audit log the gateway may not delete from (a database grant
   * that allows only INSERT and SELECT) must not stop the messages' purge. Said once, not at every batch.
   */
  private async purgeAudit(cutoff: number): Promise<number> {
    try {
      const purged = await this.commits.run((trx) => purgeAuditBefore(trx, cutoff, this.settings.batchSize));
      if (this.auditFailing) processLog.info('retention: the audit log purge works again');
      this.auditFailing = false;
      return purged;
    } catch (err) {
      if (!this.auditFailing) processLog.error('retention: the audit log purge failed (AUDIT_RETENTION_DAYS); the messages\' purge goes on', err);
      this.auditFailing = true;
      return 0;
    }
  }
}
