import type { Kysely } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import { canAdvance, HANDED_OVER_STATUSES, isFinal, REPORTABLE_STATUSES, type MessageStatus } from '../domain/message-status.js';
import type { GatewayMetrics } from '../metrics.js';
import { MAX_REPORTS_PER_REQUEST, type StatusReport } from '../providers/provider.js';
import type { GroupCommit } from '../store/group-commit.js';
import { recordTransitions, type MessageRow, type Transition } from '../store/message-store.js';
import { newId } from '../domain/ids.js';
import { messageStatusFromParts, type PartStatus } from '../domain/part-status.js';
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
    return this.commits.run((trx) => this.applyReports(trx, provider, reports, source, Date.now()));
  }

  /**
   * Reports that arrived before the send's answer (and so the provider's id) was stored, applied
   * in the transaction that stores those answers: a fast provider's report is never lost.
   */
  async applyEarlyReports(trx: Kysely<Database>, provider: string, providerMessageIds: string[]): Promise<void> {
    for (let i = 0; i < providerMessageIds.length; i += 500) {
      const early = await trx.selectFrom('early_reports').selectAll().where('provider', '=', provider)
        .where('provider_message_id', 'in', providerMessageIds.slice(i, i + 500)).orderBy('created_at').execute();
      if (early.length === 0) continue;
      await trx.deleteFrom('early_reports').where('id', 'in', early.map((e) => e.id)).execute();
      await this.applyReports(trx, provider, early.map((e) => JSON.parse(e.report) as StatusReport), `provider:${provider}`, Date.now());
    }
  }

  private async applyReports(trx: Kysely<Database>, provider: string, reports: StatusReport[], source: string, now: number): Promise<ReportOutcome[]> {
    const ourIds = reports.map((r) => r.messageId).filter((id): id is string => id !== undefined);
    const theirIds = reports.filter((r) => r.messageId === undefined).flatMap((r) => [r.providerMessageId, ...(r.part ? [r.part.id] : [])]);
    const byId = new Map<string, MessageRow>();
    const byProviderId = new Map<string, MessageRow>();
    // In slices: one statement may bind only so many parameters.
    for (let i = 0; i < ourIds.length; i += 500) {
      for (const m of await trx.selectFrom('messages').selectAll().where('id', 'in', ourIds.slice(i, i + 500)).where('provider', '=', provider).execute()) byId.set(m.id, m);
    }
    for (let i = 0; i < theirIds.length; i += 500) {
      const slice = theirIds.slice(i, i + 500);
      for (const m of await trx.selectFrom('messages').selectAll().where('provider', '=', provider).where('provider_message_id', 'in', slice).execute()) {
        byProviderId.set(m.provider_message_id!, m);
      }
      // A report about a later part of a long text names only that part's id.
      const parts = await trx.selectFrom('message_parts').innerJoin('messages', 'messages.id', 'message_parts.message_id').selectAll('messages')
        .select('message_parts.part_id').where('message_parts.provider', '=', provider).where('message_parts.part_id', 'in', slice).execute();
      for (const { part_id: partId, ...m } of parts) byProviderId.set(partId, m);
    }
    const outcomes: ReportOutcome[] = [];
    for (const report of reports) {
      const message = report.messageId !== undefined ? byId.get(report.messageId) : byProviderId.get(report.providerMessageId) ?? (report.part ? byProviderId.get(report.part.id) : undefined);
      const unknown = { message_id: report.messageId ?? null, provider_message_id: report.providerMessageId, status: null, previous_status: null, applied: false };
      if (!message && report.messageId === undefined) {
        await trx.insertInto('early_reports').values({
          id: newId('erp', now), provider, provider_message_id: report.providerMessageId, report: JSON.stringify(report), created_at: now,
        }).execute();
        outcomes.push({ ...unknown, reason: 'no message has this provider id yet: kept, and applied once the send is stored' });
        continue;
      }
      if (!message) {
        outcomes.push({ ...unknown, reason: 'unknown message' });
        continue;
      }
      if (report.part && message.status === 'sending' && message.provider_message_id === null) {
        // A part's report about a message whose send answer is not stored yet (it names our id, as
        // Vonage's client-ref does): how many parts there are is not known until that answer is, so the
        // message's status cannot be judged from this part alone. Kept, and applied with the answer.
        await trx.insertInto('early_reports').values({
          id: newId('erp', now), provider, provider_message_id: report.part.id, report: JSON.stringify(report), created_at: now,
        }).execute();
        outcomes.push({ ...unknown, message_id: message.id, reason: 'the send answer (and so the parts) is not stored yet: kept, and applied with it' });
        continue;
      }
      const effective = await this.throughParts(trx, provider, message, report, now);
      outcomes.push(await this.apply(trx, message, effective, source, now));
    }
    return outcomes;
  }

  /**
   * For a message sent as several parts, the report of one part updates that part, and the
   * message takes the status all its parts make together (delivered once every part is).
   */
  private async throughParts(trx: Kysely<Database>, provider: string, message: MessageRow, report: StatusReport, now: number): Promise<StatusReport> {
    const known = await trx.selectFrom('message_parts').select(['part_id', 'status']).where('message_id', '=', message.id).execute();
    if (!report.part && known.length === 0) return report;
    const partId = report.part?.id ?? report.providerMessageId;
    const existing = known.find((p) => p.part_id === partId);
    if (!existing) {
      await trx.insertInto('message_parts').values({ provider, part_id: partId, message_id: message.id, status: report.status, updated_at: now }).execute();
      known.push({ part_id: partId, status: report.status });
    } else if (canAdvance(existing.status as MessageStatus, report.status)) {
      await trx.updateTable('message_parts').set({ status: report.status, updated_at: now }).where('provider', '=', provider).where('part_id', '=', partId).execute();
      existing.status = report.status;
    }
    const expected = Math.max(known.length, report.part?.count ?? 0);
    const status = messageStatusFromParts(known.map((p) => p.status as PartStatus), expected);
    return { ...report, status };
  }

  private async apply(
    trx: Kysely<Database>,
    message: MessageRow,
    report: Omit<StatusReport, 'providerMessageId'> & { providerMessageId?: string },
    source: string,
    now: number,
    retries = 3,
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
    if (Number(updated.numUpdatedRows) === 0) {
      // Another transaction moved it since we read it: on PostgreSQL, typically the dispatcher storing
      // `sent` while this report of `delivered` waited for its row lock. Judged again on the row as it
      // is now, or a fast provider's report would be lost.
      const fresh = retries > 0 ? await trx.selectFrom('messages').selectAll().where('id', '=', message.id).executeTakeFirst() : undefined;
      if (fresh && fresh.status !== from) return this.apply(trx, fresh, report, source, now, retries - 1);
      return { ...base, status: from, applied: false, reason: 'changed concurrently' };
    }
    const transition: Transition = { message, from, to, source, errorCode: report.errorCode ?? null, detail: report.errorMessage ?? null, at: now };
    await recordTransitions(trx, [transition]);
    if (to === 'delivered') this.metrics.delivered.inc({ provider: message.provider });
    else if (isFinal(to)) this.metrics.failed.inc({ provider: message.provider, sms_type: message.sms_type, status: to });
    return { ...base, status: to, applied: true };
  }
}
