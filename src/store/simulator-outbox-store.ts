import type { ExpressionBuilder, Kysely } from 'kysely';
import type { FieldCipher } from '../domain/field-cipher.js';
import { FINAL_STATUSES } from '../domain/message-status.js';
import type { SimulatorOutbox, SimulatorOutboxEntry } from '../providers/simulator.js';
import type { GroupCommit } from './group-commit.js';
import { insertRows } from './message-store.js';
import { inList } from './statement-shapes.js';
import type { Database, SimulatorOutboxTable } from './schema.js';

/** The simulator's handset network, kept in the gateway's database so it outlives a crash. */
export class SimulatorOutboxStore implements SimulatorOutbox {
  /** Entries recorded since the write that will take them was queued; that write inserts them all. */
  private gathering: SimulatorOutboxTable[] | undefined;
  private gathered: Promise<void> | undefined;

  constructor(private readonly db: Kysely<Database>, private readonly commits: GroupCommit, private readonly cipher: FieldCipher) {}

  /**
   * Durable when it resolves. A round sends its messages at once, so their entries are written by
   * one multi-row insert rather than one statement each (a statement per message was about a tenth
   * of the dispatch thread's time under load). The text is sealed like the message's own: the
   * outbox holds OTP codes in clear otherwise.
   */
  record(entry: SimulatorOutboxEntry): Promise<void> {
    const row = { ...entry, body: this.cipher.seal(entry.body), reported_at: null };
    if (this.gathering) {
      this.gathering.push(row);
      return this.gathered!;
    }
    const rows = [row];
    this.gathering = rows;
    this.gathered = this.commits.run(async (trx) => {
      // Entries recorded from here on go to the next write.
      if (this.gathering === rows) this.gathering = undefined;
      await insertRows(trx, 'simulator_outbox', rows);
    });
    // A write refused before its job ran (no write lock, no connection) must not keep taking entries.
    this.gathered.catch(() => {
      if (this.gathering === rows) this.gathering = undefined;
    });
    return this.gathered;
  }

  async findByMessageId(messageId: string): Promise<{ id: string } | null> {
    return (await this.db.selectFrom('simulator_outbox').select('id').where('message_id', '=', messageId).executeTakeFirst()) ?? null;
  }

  async list(to: string | undefined, limit: number, offset: number) {
    let q = this.db.selectFrom('simulator_outbox');
    if (to) q = q.where('to_number', '=', to);
    const [items, total] = await Promise.all([
      // Newest first. Unfiltered, by id, which begins with the time it was accepted (newId): the primary
      // key's order (by accepted_at, SQLite sorted the whole table, 0.7 s at 1,000,000 entries). For one
      // number, the same order by time: its index finds the few rows, and a sort of those is cheap.
      (to ? q.selectAll().orderBy('accepted_at', 'desc').orderBy('id', 'desc') : q.selectAll().orderBy('id', 'desc')).limit(limit).offset(offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: items.map((i) => ({ ...i, body: this.cipher.open(i.body) })), total: Number(total.n) };
  }

  async dueReports(now: number, limit: number) {
    return this.db.selectFrom('simulator_outbox').select(['id', 'message_id', 'report_status'])
      .where('reported_at', 'is', null).where('report_due_at', '<=', now).orderBy('report_due_at').limit(limit).execute();
  }
}

/**
 * Deletes up to `batch` of the oldest entries beyond the newest `keep`. An entry stays while its
 * report is due, and while its message is not final: recovery asks the simulator whether it took a
 * message whose send was interrupted (`lookup`), and an entry gone would read as "never received" and
 * send it again. The entries are chosen by a read, outside the write lock (it steps over every entry
 * it must keep), and deleted by id in a short transaction that checks the same conditions again.
 * Returns how many went.
 */
export async function trimOutbox(db: Kysely<Database>, commits: GroupCommit, keep: number, batch: number): Promise<number> {
  const newestBeyondKept = await db.selectFrom('simulator_outbox').select('id').orderBy('id', 'desc').limit(1).offset(keep).executeTakeFirst();
  if (!newestBeyondKept) return 0;
  const chosen = (await db.selectFrom('simulator_outbox as o').select('o.id')
    .where('o.id', '<=', newestBeyondKept.id).where(trimmable).orderBy('o.id').limit(batch).execute()).map((e) => e.id);
  if (chosen.length === 0) return 0;
  return commits.run(async (trx) => {
    const deleted = await trx.deleteFrom('simulator_outbox as o').where('o.id', 'in', inList(chosen)).where(trimmable).executeTakeFirst();
    return Number(deleted.numDeletedRows);
  });
}

/** An entry the trim may delete: its report is out, and its message final or gone. */
function trimmable(eb: ExpressionBuilder<Database & { o: SimulatorOutboxTable }, 'o'>) {
  return eb.and([
    eb('o.reported_at', 'is not', null),
    eb.not(eb.exists(eb.selectFrom('messages as m').select('m.id').whereRef('m.id', '=', 'o.message_id').where('m.status', 'not in', FINAL_STATUSES))),
  ]);
}

/** The entries' reports went out: written in the transaction that applied them (SimulatorReports). */
export async function markReported(trx: Kysely<Database>, ids: string[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await trx.updateTable('simulator_outbox').set({ reported_at: now }).where('id', 'in', inList(ids)).execute();
}
