import type { Kysely } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import { canAdvance, HANDED_OVER_STATUSES, isFinal, REPORTABLE_STATUSES, type MessageStatus } from '../domain/message-status.js';
import type { GatewayMetrics } from '../metrics.js';
import type { StatusReport } from '../providers/provider.js';
import type { GroupCommit } from '../store/group-commit.js';
import { recordTransitions, type MessageRow, type Transition } from '../store/message-store.js';
import type { Database, MessagesTable } from '../store/schema.js';

export interface ReportOutcome {
  message_id: string | null;
  provider_message_id: string | null;
  status: string | null;
  previous_status: string | null;
  applied: boolean;
  /** Not a late or repeated report but one that could never apply (the message was never sent). */
  refused?: boolean;
  reason?: string;
}

/** Most reports one request may carry; a provider batching more sends more requests. */
export const MAX_REPORTS_PER_REQUEST = 1000;

/**
 * Applies delivery reports. Statuses only move forward; a late or repeated report changes
 * nothing. A report moves only a message some provider was handed (`sending` or later), and
 * only to what a provider can know: sent, delivered, undelivered, failed.
 */
export class StatusService {
  constructor(private readonly commits: GroupCommit, private readonly metrics: GatewayMetrics) {}

  /** A report for one of our message ids (POST /api/sms/{id}/webhook). */
  async applyToMessage(messageId: string, report: Omit<StatusReport, 'providerMessageId'> & { providerMessageId?: string }, source: string): Promise<ReportOutcome> {
    const [outcome] = await this.commits.mayFail(async (trx) => {
      const message = await trx.selectFrom('messages').selectAll().where('id', '=', messageId).executeTakeFirst();
      if (!message) throw new NotFoundError('message', messageId);
      const outcome = await this.apply(trx, message, report, source, Date.now());
      if (outcome.refused) throw new ConflictError(`message ${messageId} is ${message.status}: ${outcome.reason}`);
      return [outcome];
    });
    return outcome;
  }

  /** Reports in a provider's own format, already verified and mapped by that provider. */
  async applyProviderReports(provider: string, reports: StatusReport[], source = `provider:${provider}`): Promise<ReportOutcome[]> {
    if (reports.length === 0) return [];
    if (reports.length > MAX_REPORTS_PER_REQUEST) {
      throw new ValidationError(`at most ${MAX_REPORTS_PER_REQUEST} reports per request`, [{ field: 'body', message: `has ${reports.length} reports; at most ${MAX_REPORTS_PER_REQUEST}` }]);
    }
    return this.commits.run(async (trx) => {
      const now = Date.now();
      const ourIds = reports.map((r) => r.messageId).filter((id): id is string => id !== undefined);
      const theirIds = reports.filter((r) => r.messageId === undefined).map((r) => r.providerMessageId);
      const byId = new Map<string, MessageRow>();
      const byProviderId = new Map<string, MessageRow>();
      // In slices: one statement may bind only so many parameters.
      for (let i = 0; i < ourIds.length; i += 500) {
        for (const m of await trx.selectFrom('messages').selectAll().where('id', 'in', ourIds.slice(i, i + 500)).where('provider', '=', provider).execute()) byId.set(m.id, m);
      }
      for (let i = 0; i < theirIds.length; i += 500) {
        for (const m of await trx.selectFrom('messages').selectAll().where('provider', '=', provider).where('provider_message_id', 'in', theirIds.slice(i, i + 500)).execute()) {
          byProviderId.set(m.provider_message_id!, m);
        }
      }
      const outcomes: ReportOutcome[] = [];
      for (const report of reports) {
        const message = report.messageId !== undefined ? byId.get(report.messageId) : byProviderId.get(report.providerMessageId);
        if (!message) {
          outcomes.push({ message_id: report.messageId ?? null, provider_message_id: report.providerMessageId, status: null, previous_status: null, applied: false, reason: 'unknown message' });
          continue;
        }
        outcomes.push(await this.apply(trx, message, report, source, now));
      }
      return outcomes;
    });
  }

  private async apply(
    trx: Kysely<Database>,
    message: MessageRow,
    report: Omit<StatusReport, 'providerMessageId'> & { providerMessageId?: string },
    source: string,
    now: number,
  ): Promise<ReportOutcome> {
    const from = message.status as MessageStatus;
    const to = report.status;
    const base = { message_id: message.id, provider_message_id: message.provider_message_id ?? report.providerMessageId ?? null, previous_status: from };
    if (!HANDED_OVER_STATUSES.includes(from)) {
      return { ...base, status: from, applied: false, refused: true, reason: 'no provider has been handed this message, so no report can be about it' };
    }
    if (!(REPORTABLE_STATUSES as readonly string[]).includes(to)) {
      return { ...base, status: from, applied: false, refused: true, reason: `a report cannot set ${to}` };
    }
    if (!canAdvance(from, to)) {
      return { ...base, status: from, applied: false, reason: isFinal(from) ? `already final (${from})` : `would move back from ${from} to ${to}` };
    }
    const at = report.timestamp ?? now;
    const changes: Partial<MessagesTable> = { status: to, updated_at: now };
    if (report.errorCode !== undefined) changes.error_code = report.errorCode;
    if (report.errorMessage !== undefined) changes.error_message = report.errorMessage;
    if (report.cost !== undefined) changes.cost = report.cost;
    if (message.provider_message_id === null && report.providerMessageId) changes.provider_message_id = report.providerMessageId;
    if (message.sent_at === null && (to === 'sent' || to === 'delivered' || to === 'undelivered')) changes.sent_at = at;
    if (isFinal(to)) {
      changes.final_at = Math.max(at, message.sent_at ?? at);
      changes.lease_until = null;
    }
    const updated = await trx.updateTable('messages').set(changes).where('id', '=', message.id).where('status', '=', from).executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return { ...base, status: from, applied: false, reason: 'changed concurrently' };
    const transition: Transition = { message, from, to, source, errorCode: report.errorCode ?? null, detail: report.errorMessage ?? null, at: now };
    await recordTransitions(trx, [transition]);
    if (to === 'delivered') this.metrics.delivered.inc({ provider: message.provider });
    else if (isFinal(to)) this.metrics.failed.inc({ provider: message.provider, sms_type: message.sms_type, status: to });
    return { ...base, status: to, applied: true };
  }
}
