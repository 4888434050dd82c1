import { sql, type Kysely } from 'kysely';
import { isAdmin, OPERATOR, owns, type Caller } from '../domain/api-keys.js';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import { FINAL_STATUSES, PENDING_STATUSES, type MessageStatus } from '../domain/message-status.js';
import { roundCost } from '../domain/pricing.js';
import type { GroupCommit } from '../store/group-commit.js';
import { campaignFigures, countedFigures } from '../store/batch-totals.js';
import { findBatch, moveStatus } from '../store/message-store.js';
import type { Database } from '../store/schema.js';

export class BatchService {
  /**
   * `reads`: where a batch and its counts per status are read (on SQLite, a read thread: src/store/read-thread/;
   * elsewhere the store's db). Releasing and canceling read and write in their own transaction.
   */
  constructor(private readonly reads: Kysely<Database>, private readonly commits: GroupCommit) {}

  async get(id: string, caller: Caller = OPERATOR) {
    const batch = await findBatch(this.reads, id);
    if (!batch || !owns(caller, batch.key_id)) throw new NotFoundError('batch', id);
    const { counts, segments, billedCost } = batch.kind === 'batch'
      ? await campaignFigures(this.reads, id)
      : await countedFigures(this.reads, id);
    let messages = 0;
    let final = 0;
    for (const [status, n] of Object.entries(counts)) {
      messages += n;
      if (FINAL_STATUSES.includes(status as MessageStatus)) final += n;
    }
    // Stored status says what was asked (draft, scheduled, queued, canceled); progress comes from the messages.
    let status: string = batch.status;
    if (batch.status !== 'draft' && messages > 0 && final === messages) status = batch.status === 'canceled' ? 'canceled' : 'completed';
    else if (batch.status !== 'draft' && batch.status !== 'canceled' && final + (counts.sending ?? 0) + (counts.sent ?? 0) > 0) status = 'processing';
    return {
      batch_id: batch.id,
      name: batch.name,
      status,
      sms_type: batch.sms_type,
      provider: batch.provider,
      template_id: batch.template_id,
      total_recipients: batch.total_recipients,
      accepted: batch.accepted,
      rejected: batch.rejected,
      duplicates: batch.duplicates,
      total_segments: segments,
      estimated_cost: batch.estimated_cost,
      cost_so_far: roundCost(billedCost),
      currency: batch.currency,
      counts,
      scheduled_at: batch.schedule_at === null ? null : new Date(batch.schedule_at).toISOString(),
      created_at: new Date(batch.created_at).toISOString(),
    };
  }

  /**
   * `GET /api/sms/batches`: campaigns (`send-batch`), newest first, each as `get` shows it; a key sees
   * its own, admin every one. The count of campaigns reads every batch row, so it runs on `reads` too.
   */
  async list(limit: number, offset: number, caller: Caller = OPERATOR) {
    const keyId = isAdmin(caller) ? undefined : caller.keyId;
    // A literal: bound, SQLite would check it against the partial indexes' `kind = 'batch'` while
    // compiling and compile the statements again at every run (see statusLiteral in message-store.ts).
    let filtered = this.reads.selectFrom('batches').where('kind', '=', sql.lit('batch'));
    if (keyId !== undefined) filtered = filtered.where('key_id', keyId === null ? 'is' : '=', keyId);
    const [rows, counted] = await Promise.all([
      filtered.select('id').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
      filtered.select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow(),
    ]);
    const items = await Promise.all(rows.map((row) => this.get(row.id, caller)));
    return { items, total: Number(counted.n), limit, offset };
  }

  /** Releases a draft batch: now, or at its schedule_at if that is still ahead. */
  async send(id: string, caller: Caller = OPERATOR) {
    await this.get(id, caller);
    const now = Date.now();
    await this.commits.mayFail(async (trx) => {
      const batch = await findBatch(trx, id);
      if (!batch) throw new NotFoundError('batch', id);
      if (batch.status !== 'draft') throw new ConflictError(`batch ${id} is ${batch.status}, not draft`);
      const scheduled = batch.schedule_at !== null && batch.schedule_at > now;
      const to = scheduled ? 'scheduled' : 'queued';
      await trx.updateTable('batches').set({ status: to, updated_at: now }).where('id', '=', id).execute();
      await moveStatus(trx, { batchId: id, from: ['draft'] }, to, 'api', now, { due_at: scheduled ? batch.schedule_at! : now });
    });
    return this.get(id, caller);
  }

  /** Cancels every message of the batch that no provider has seen yet. */
  async cancel(id: string, caller: Caller = OPERATOR) {
    await this.get(id, caller);
    const now = Date.now();
    const canceled = await this.commits.mayFail(async (trx) => {
      const batch = await findBatch(trx, id);
      if (!batch) throw new NotFoundError('batch', id);
      const moved = await moveStatus(trx, { batchId: id, from: [...PENDING_STATUSES] }, 'canceled', 'api', now, { final_at: now, sealed_body: null });
      // A batch whose every message was already handed over or final stays as it is: nothing was canceled.
      if (moved.length === 0 && batch.status !== 'canceled') {
        throw new ConflictError(`batch ${id} has no message left to cancel: every one has been handed to a provider or is final`);
      }
      await trx.updateTable('batches').set({ status: 'canceled', updated_at: now }).where('id', '=', id).execute();
      return moved.length;
    });
    return { ...(await this.get(id, caller)), canceled };
  }
}
