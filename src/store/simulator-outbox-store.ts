import type { Kysely } from 'kysely';
import type { FieldCipher } from '../domain/field-cipher.js';
import type { SimulatorOutbox, SimulatorOutboxEntry } from '../providers/simulator.js';
import type { GroupCommit } from './group-commit.js';
import type { Database } from './schema.js';

/** The simulator's handset network, kept in the gateway's database so it outlives a crash. */
export class SimulatorOutboxStore implements SimulatorOutbox {
  constructor(private readonly db: Kysely<Database>, private readonly commits: GroupCommit, private readonly cipher: FieldCipher) {}

  /** The text is sealed like the message's own: the outbox holds OTP codes in clear otherwise. */
  async record(entry: SimulatorOutboxEntry): Promise<void> {
    await this.commits.run((trx) => trx.insertInto('simulator_outbox').values({ ...entry, body: this.cipher.seal(entry.body), reported_at: null }).execute());
  }

  async findByMessageId(messageId: string): Promise<{ id: string } | null> {
    return (await this.db.selectFrom('simulator_outbox').select('id').where('message_id', '=', messageId).executeTakeFirst()) ?? null;
  }

  async list(to: string | undefined, limit: number, offset: number) {
    let q = this.db.selectFrom('simulator_outbox');
    if (to) q = q.where('to_number', '=', to);
    const [items, total] = await Promise.all([
      q.selectAll().orderBy('accepted_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: items.map((i) => ({ ...i, body: this.cipher.open(i.body) })), total: Number(total.n) };
  }

  async dueReports(now: number, limit: number) {
    return this.db.selectFrom('simulator_outbox').select(['id', 'message_id', 'report_status'])
      .where('reported_at', 'is', null).where('report_due_at', '<=', now).orderBy('report_due_at').limit(limit).execute();
  }

  async markReported(ids: string[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.commits.run((trx) => trx.updateTable('simulator_outbox').set({ reported_at: now }).where('id', 'in', ids).execute());
  }
}
