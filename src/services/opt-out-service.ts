import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Config } from '../config.js';
import { NotFoundError, ValidationError } from '../domain/errors.js';
import { normalisePhone } from '../domain/phone.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Database, OptOutsTable } from '../store/schema.js';

export interface OptOutQuery {
  limit?: number;
  offset?: number;
}

export interface OptOutRecord {
  number: string;
  reason: string | null;
  source: string;
  created_at: string;
}

function view(row: Selectable<OptOutsTable>): OptOutRecord {
  return { number: row.number, reason: row.reason, source: row.source, created_at: new Date(Number(row.created_at)).toISOString() };
}

/**
 * Records an opt-out unless the number already has one: the first opt-out (its time, reason and
 * source) is the one kept, so a repeated STOP or POST changes nothing. True when it was new.
 */
export async function insertOptOut(trx: Kysely<Database>, row: OptOutsTable): Promise<boolean> {
  const result = await trx.insertInto('opt_outs').values(row).onConflict((oc) => oc.column('number').doNothing()).executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Removes a number's opt-out whatever made it (the API or a STOP); true when there was one. */
export async function deleteOptOut(trx: Kysely<Database>, number: string): Promise<boolean> {
  const result = await trx.deleteFrom('opt_outs').where('number', '=', number).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Numbers that asked not to get promotional or marketing messages (see OptOutPolicy). */
export class OptOutService {
  constructor(
    private readonly config: Pick<Config, 'phoneValidation' | 'defaultCountry'>,
    /** Where the list is read (on SQLite, a read thread: counting every opt-out stays off the event loop). */
    private readonly reads: Kysely<Database>,
    private readonly commits: GroupCommit,
  ) {}

  /** E.164, as the send path stores recipients, so an opt-out matches however the number was written. */
  normalise(number: string, field = 'number'): string {
    const result = normalisePhone(number, this.config.defaultCountry, this.config.phoneValidation);
    if (!result.ok) throw new ValidationError(`${field} is not a usable phone number: ${result.reason}`, [{ field, message: result.reason }]);
    return result.phone.e164;
  }

  async list(q: OptOutQuery) {
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    const [items, total] = await Promise.all([
      // Newest first along opt_outs_time (migration 0021), read backwards.
      this.reads.selectFrom('opt_outs').selectAll().orderBy('created_at', 'desc').orderBy('number', 'desc').limit(limit).offset(offset).execute(),
      this.reads.selectFrom('opt_outs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: items.map(view), total: Number(total.n), limit, offset };
  }

  /** `created` false: the number was already opted out, and its record is returned unchanged. */
  async add(number: string, reason: string | undefined): Promise<{ created: boolean; optOut: OptOutRecord }> {
    const e164 = this.normalise(number);
    const now = Date.now();
    return this.commits.run(async (trx: Transaction<Database>) => {
      const created = await insertOptOut(trx, { number: e164, reason: reason ?? null, source: 'api', created_at: now });
      const row = await trx.selectFrom('opt_outs').selectAll().where('number', '=', e164).executeTakeFirstOrThrow();
      return { created, optOut: view(row) };
    });
  }

  async remove(number: string): Promise<void> {
    const e164 = this.normalise(number);
    await this.commits.mayFail(async (trx) => {
      if (!(await deleteOptOut(trx, e164))) throw new NotFoundError('opt-out for', e164);
    });
  }
}
