import type { Kysely } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import { canAdvance, HANDED_OVER_STATUSES, isFinal, REPORTABLE_STATUSES, type MessageStatus } from '../domain/message-status.js';
import type { GatewayMetrics } from '../metrics.js';
import { MAX_REPORTS_PER_REQUEST, type StatusReport } from '../providers/provider.js';
import { claimEvent, claimedAtOf, unrecordedClaims } from '../store/dispatch-store.js';
import type { GroupCommit } from '../store/group-commit.js';
import { moveEach, recordTransitions, type MessageRow, type Transition } from '../store/message-store.js';
import { newId } from '../domain/ids.js';
import { messageStatusFromParts, type PartStatus } from '../domain/part-status.js';
import type { Database, MessagesTable } from '../store/schema.js';
import { inList } from '../store/statement-shapes.js';

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
 * What judging a report and writing its change read of a message. Not the whole row: a 40-property object
 * per report (its texts, metadata and times) cost ~6.5 µs more a report, inside the write turn of the thread
 * that applies them (bench/RESULTS.md, fourteenth pass).
 */
const REPORTED_COLUMNS = ['id', 'status', 'provider', 'sms_type', 'provider_message_id', 'sent_at', 'updated_at', 'claims', 'batch_id', 'custom_id', 'callback_url'] as const;
type ReportedMessage = Pick<MessageRow, typeof REPORTED_COLUMNS[number]>;
const REPORTED_MESSAGE_COLUMNS = REPORTED_COLUMNS.map((c) => `messages.${c}` as const);

/**
 * The time of a report's change, read once the message's row is taken: on PostgreSQL the UPDATE may have
 * waited for the transaction that moved the message before (the round storing `sent`), and an event stamped
 * with the time the report began would sort before that change's.
 */
const changedAt = (began: number) => Math.max(began, Date.now());

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
      const message = await trx.selectFrom('messages').select(REPORTED_COLUMNS).where('id', '=', messageId).executeTakeFirst();
      if (!message) throw new NotFoundError('message', messageId);
      const outcome = await this.apply(trx, message, report, source, Date.now());
      // As judged: on the row read again if another transaction moved it meanwhile.
      if (outcome.refused) throw new ConflictError(`message ${messageId} is ${outcome.previous_status ?? message.status}: ${outcome.reason}`);
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

  /** The same, in the caller's transaction (the simulator marks its reports sent in it). */
  applyProviderReportsIn(trx: Kysely<Database>, provider: string, reports: StatusReport[]): Promise<ReportOutcome[]> {
    return this.applyReports(trx, provider, reports, `provider:${provider}`, Date.now());
  }

  /**
   * Reports that arrived before the send's answer (and so the provider's id) was stored, applied
   * in the transaction that stores those answers: a fast provider's report is never lost.
   */
  async applyEarlyReports(trx: Kysely<Database>, provider: string, providerMessageIds: string[]): Promise<void> {
    for (let i = 0; i < providerMessageIds.length; i += 500) {
      const early = await trx.selectFrom('early_reports').selectAll().where('provider', '=', provider)
        .where('provider_message_id', 'in', inList(providerMessageIds.slice(i, i + 500))).orderBy('created_at').execute();
      if (early.length === 0) continue;
      await trx.deleteFrom('early_reports').where('id', 'in', early.map((e) => e.id)).execute();
      await this.applyReports(trx, provider, early.map((e) => JSON.parse(e.report) as StatusReport), `provider:${provider}`, Date.now());
    }
  }

  private async applyReports(trx: Kysely<Database>, provider: string, reports: StatusReport[], source: string, now: number): Promise<ReportOutcome[]> {
    const ourIds = reports.map((r) => r.messageId).filter((id): id is string => id !== undefined);
    const theirIds = reports.filter((r) => r.messageId === undefined).flatMap((r) => [r.providerMessageId, ...(r.part ? [r.part.id] : [])]);
    const byId = new Map<string, ReportedMessage>();
    const byProviderId = new Map<string, ReportedMessage>();
    // In slices: one statement may bind only so many parameters.
    for (let i = 0; i < ourIds.length; i += 500) {
      for (const m of await trx.selectFrom('messages').select(REPORTED_COLUMNS).where('id', 'in', inList(ourIds.slice(i, i + 500))).where('provider', '=', provider).execute()) byId.set(m.id, m);
    }
    for (let i = 0; i < theirIds.length; i += 500) {
      const slice = theirIds.slice(i, i + 500);
      for (const m of await trx.selectFrom('messages').select(REPORTED_COLUMNS).where('provider', '=', provider).where('provider_message_id', 'in', inList(slice)).execute()) {
        byProviderId.set(m.provider_message_id!, m);
      }
      // A report about a later part of a long text names only that part's id.
      const parts = await trx.selectFrom('message_parts').innerJoin('messages', 'messages.id', 'message_parts.message_id').select(REPORTED_MESSAGE_COLUMNS)
        .select('message_parts.part_id').where('message_parts.provider', '=', provider).where('message_parts.part_id', 'in', inList(slice)).execute();
      for (const { part_id: partId, ...m } of parts) byProviderId.set(partId, m);
    }
    const partsOf = await this.storedParts(trx, [...byId.values(), ...byProviderId.values()].map((m) => m.id));
    const messageOf = reports.map((report) => (report.messageId !== undefined
      ? byId.get(report.messageId)
      : byProviderId.get(report.providerMessageId) ?? (report.part ? byProviderId.get(report.part.id) : undefined)));
    const outcomes: ReportOutcome[] = new Array(reports.length);
    // A report about a message of one part, the first about it here, is judged on the message as read and
    // written with the others like it in one statement; the rest go one by one after them, in order.
    const together: Array<{ index: number; message: ReportedMessage; report: StatusReport }> = [];
    const alone: number[] = [];
    const seen = new Set<string>();
    reports.forEach((report, index) => {
      const message = messageOf[index];
      if (message && !report.part && !partsOf.has(message.id) && !seen.has(message.id)) together.push({ index, message, report });
      else alone.push(index);
      if (message) seen.add(message.id);
    });
    const applied = await this.applyTogether(trx, together, source, now);
    together.forEach(({ index }, i) => { outcomes[index] = applied[i]; });
    for (const index of alone) {
      const report = reports[index];
      const message = messageOf[index];
      const unknown = { message_id: report.messageId ?? null, provider_message_id: report.providerMessageId, status: null, previous_status: null, applied: false };
      if (!message && report.messageId === undefined) {
        await trx.insertInto('early_reports').values({
          id: newId('erp', now), provider, provider_message_id: report.providerMessageId, report: JSON.stringify(report), created_at: now,
        }).execute();
        outcomes[index] = { ...unknown, reason: 'no message has this provider id yet: kept, and applied once the send is stored' };
        continue;
      }
      if (!message) {
        outcomes[index] = { ...unknown, reason: 'unknown message' };
        continue;
      }
      if (report.part && message.status === 'sending' && message.provider_message_id === null) {
        // A part's report about a message whose send answer is not stored yet (it names our id, as
        // Vonage's client-ref does): how many parts there are is not known until that answer is, so the
        // message's status cannot be judged from this part alone. Kept, and applied with the answer.
        await trx.insertInto('early_reports').values({
          id: newId('erp', now), provider, provider_message_id: report.part.id, report: JSON.stringify(report), created_at: now,
        }).execute();
        outcomes[index] = { ...unknown, message_id: message.id, reason: 'the send answer (and so the parts) is not stored yet: kept, and applied with it' };
        continue;
      }
      const effective = await this.throughParts(trx, provider, message, report, now, partsOf);
      outcomes[index] = await this.apply(trx, message, effective, source, now);
    }
    return outcomes;
  }

  /** The parts stored so far of each of these messages (only messages sent as parts have any). */
  private async storedParts(trx: Kysely<Database>, messageIds: string[]): Promise<Map<string, Array<{ part_id: string; status: string }>>> {
    const parts = new Map<string, Array<{ part_id: string; status: string }>>();
    const ids = [...new Set(messageIds)];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await trx.selectFrom('message_parts').select(['message_id', 'part_id', 'status']).where('message_id', 'in', inList(ids.slice(i, i + 500))).execute();
      for (const { message_id: id, ...part } of rows) parts.set(id, [...parts.get(id) ?? [], part]);
    }
    return parts;
  }

  /**
   * Reports about different messages, each judged on its message as read, written together: one
   * UPDATE for all (each row only if still in the status it was judged in) and one insert of their
   * events. A message another transaction moved meanwhile is judged again alone, as `apply` does.
   */
  private async applyTogether(trx: Kysely<Database>, items: Array<{ message: ReportedMessage; report: StatusReport }>, source: string, now: number): Promise<ReportOutcome[]> {
    const judged = items.map(({ message, report }) => this.judge(message, report, now));
    // From `sending`, only while it is still the claim read: a message claimed again since is judged again
    // (`apply`), on the claim as it is now, so that the claim event it may write carries that claim's time.
    const writes = judged.flatMap((j) => ('changes' in j ? [{ id: j.message.id, from: j.from, claims: j.from === 'sending' ? j.message.claims : undefined, set: j.changes }] : []));
    const moved = await moveEach(trx, writes);
    const at = changedAt(now);
    const outcomes: ReportOutcome[] = [];
    const transitions: Transition[] = [];
    const claimEventOf = await this.claimEvents(trx, judged.filter((j) => 'changes' in j && j.from === 'sending' && moved.has(j.message.id)).map((j) => j.message), at);
    for (const [i, j] of judged.entries()) {
      if (!('changes' in j)) outcomes.push(j.outcome);
      else if (!moved.has(j.message.id)) outcomes.push(await this.apply(trx, j.message, items[i].report, source, now));
      else {
        const claim = claimEventOf.get(j.message.id);
        if (claim) transitions.push(claim);
        transitions.push(this.transition(trx, j.message, j.from, j.to, items[i].report, source, at));
        outcomes.push(j.applied);
      }
    }
    await recordTransitions(trx, transitions);
    return outcomes;
  }

  /**
   * For a message sent as several parts, the report of one part updates that part, and the
   * message takes the status all its parts make together (delivered once every part is).
   */
  private async throughParts(
    trx: Kysely<Database>, provider: string, message: ReportedMessage, report: StatusReport, now: number, partsOf: Map<string, Array<{ part_id: string; status: string }>>,
  ): Promise<StatusReport> {
    const known = partsOf.get(message.id) ?? [];
    if (!report.part && known.length === 0) return report;
    partsOf.set(message.id, known);
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

  /** What a report does to a message as read: nothing (with why), or these changes. */
  private judge(message: ReportedMessage, report: Omit<StatusReport, 'providerMessageId'> & { providerMessageId?: string }, now: number):
    { message: ReportedMessage; outcome: ReportOutcome } | { message: ReportedMessage; from: MessageStatus; to: MessageStatus; changes: Partial<MessagesTable>; applied: ReportOutcome } {
    const from = message.status as MessageStatus;
    const to = report.status;
    const base = { message_id: message.id, provider_message_id: message.provider_message_id ?? report.providerMessageId ?? null, previous_status: from };
    if (!HANDED_OVER_STATUSES.includes(from)) {
      return { message, outcome: { ...base, status: from, applied: false, refused: true, reason: 'no provider has been handed this message, so no report can be about it' } };
    }
    if (!(REPORTABLE_STATUSES as readonly string[]).includes(to)) {
      return { message, outcome: { ...base, status: from, applied: false, refused: true, reason: `a report cannot set ${to}` } };
    }
    if (!canAdvance(from, to)) {
      return { message, outcome: { ...base, status: from, applied: false, reason: isFinal(from) ? `already final (${from})` : `would move back from ${from} to ${to}` } };
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
    return { message, from, to, changes, applied: { ...base, status: to, applied: true } };
  }

  private transition(trx: Kysely<Database>, message: ReportedMessage, from: MessageStatus, to: MessageStatus, report: { errorCode?: string; errorMessage?: string }, source: string, at: number): Transition {
    // Counted once committed: a rolled-back attempt that runs again would otherwise count twice.
    if (to === 'delivered') this.commits.afterCommit(trx, () => this.metrics.delivered.inc({ provider: message.provider }));
    else if (isFinal(to)) this.commits.afterCommit(trx, () => this.metrics.failed.inc({ provider: message.provider, sms_type: message.sms_type, status: to }));
    return { message, from, to, source, errorCode: report.errorCode ?? null, detail: report.errorMessage ?? null, at };
  }

  private async apply(
    trx: Kysely<Database>,
    message: ReportedMessage,
    report: Omit<StatusReport, 'providerMessageId'> & { providerMessageId?: string },
    source: string,
    now: number,
    retries = 3,
  ): Promise<ReportOutcome> {
    const judged = this.judge(message, report, now);
    if (!('changes' in judged)) return judged.outcome;
    const { from, to, changes } = judged;
    let update = trx.updateTable('messages').set(changes).where('id', '=', message.id).where('status', '=', from);
    if (from === 'sending') update = update.where('claims', '=', message.claims);
    const updated = await update.executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) {
      // Another transaction moved it since we read it: on PostgreSQL, typically the dispatcher storing
      // `sent` while this report of `delivered` waited for its row lock. Judged again on the row as it
      // is now, or a fast provider's report would be lost.
      const fresh = retries > 0 ? await trx.selectFrom('messages').select(REPORTED_COLUMNS).where('id', '=', message.id).executeTakeFirst() : undefined;
      if (fresh && (fresh.status !== from || fresh.claims !== message.claims)) return this.apply(trx, fresh, report, source, now, retries - 1);
      return { ...judged.applied, status: from, applied: false, reason: 'changed concurrently' };
    }
    const at = changedAt(now);
    const claim = from === 'sending' ? (await this.claimEvents(trx, [message], at)).get(message.id) : undefined;
    await recordTransitions(trx, [...(claim ? [claim] : []), this.transition(trx, message, from, to, report, source, at)]);
    return judged.applied;
  }

  /**
   * The claim's `sending` event of each message these reports moved on from `sending` before its round stored
   * the send's outcome (a fast provider, or a round that then crashed): the round writes that event with the
   * outcome, so until then it is missing. Written just ahead of the report's change (at `changeAt`), so the
   * events' numbers follow the message's history.
   */
  private async claimEvents(trx: Kysely<Database>, moved: ReportedMessage[], changeAt: number): Promise<Map<string, Transition>> {
    if (moved.length === 0) return new Map();
    const missing = await unrecordedClaims(trx, moved.map((m) => m.id));
    return new Map(moved.filter((m) => missing.has(m.id)).map((m) => [m.id, claimEvent(m, claimedAtOf(m, changeAt))]));
  }
}
