import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';
import { MESSAGE_STATUSES } from '../domain/message-status.js';
import { addGrouped, addTo, createStatementTrigger, type CountingTable } from './counting-triggers.js';
import type { Database } from './schema.js';

/**
 * How many messages are stored now, per API key, provider, sms_type and status: what `total` of
 * `GET /api/sms` counts when the page is filtered by those alone (or not at all).
 *
 * Counting the matching rows was a pass over an index on every page: at 1,000,000 messages 31–60 ms
 * for a filter that matches most of them (`status=delivered`, no filter at all), 253 ms for a status
 * and a provider together (bench/RESULTS.md). Here it is a sum over a few rows. Unlike the analytics summaries (analytics-summary.ts), these follow the retention purge
 * down: they count what is stored, so a DELETE trigger takes messages out again.
 *
 * One row per key, provider and type, a column per status: a status change, most of a message's life,
 * writes one row. Kept by triggers in the transaction that changes the message, like the summaries,
 * and sharded on PostgreSQL the same way (message_stats_shard(): concurrent writers do not queue on one row).
 *
 * Filters by batch, number or date range are counted from the messages as before: those have their own
 * index, and a batch or a number matches few rows; a wide date range still costs a pass over its rows.
 */

const STATUSES = MESSAGE_STATUSES as readonly string[];
const TOTALS: CountingTable = { table: 'message_totals', keys: ['key_id', 'provider', 'sms_type'], values: [...STATUSES] };
const KEY = [...TOTALS.keys, 'shard'].join(', ');

/** A message as this table's key (the operator's messages, key_id null, under ''), `m` a row prefix. */
const keyOf = (m: string) => `coalesce(${m}key_id, ''), ${m}provider, ${m}sms_type`;

/** `sign` 1 for the status column of `m`'s status, 0 for the others. */
const statusColumns = (m: string, sign: string) => STATUSES.map((s) => `${sign}(case when ${m}status = '${s}' then 1 else 0 end)`);

async function createTable(db: Kysely<any>, onSqlite: boolean) {
  let table = db.schema.createTable('message_totals')
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('sms_type', 'text', (c) => c.notNull())
    .addColumn('shard', 'integer', (c) => c.notNull());
  for (const status of STATUSES) table = table.addColumn(status, 'bigint', (c) => c.notNull());
  table = table.addPrimaryKeyConstraint('message_totals_pk', ['key_id', 'provider', 'sms_type', 'shard']);
  await (onSqlite ? table.modifyEnd(sql`without rowid`) : table).execute();
}

async function createSqliteTriggers(db: Kysely<any>) {
  /** Adds `counts` (one per status) to the row of `m`'s key. */
  const addRow = (m: string, counts: string[]) =>
    `insert into message_totals (${KEY}, ${STATUSES.join(', ')})
     values (${keyOf(m)}, 0, ${counts.join(', ')})
     ${addTo(TOTALS)};`;
  const upsert = (m: string, sign: string) => addRow(m, statusColumns(m, sign));
  const sameKey = 'old.key_id is new.key_id and old.provider is new.provider and old.sms_type is new.sms_type';
  await sql.raw(`create trigger message_totals_insert after insert on messages begin
    ${upsert('new.', '')}
  end`).execute(db);
  // The common change: one row, the old status's column down by one and the new one's up.
  const leaving = statusColumns('old.', '');
  await sql.raw(`create trigger message_totals_status after update of status on messages
    when old.status is not new.status and ${sameKey}
    begin
      ${addRow('new.', statusColumns('new.', '').map((plus, i) => `${plus} - ${leaving[i]}`))}
    end`).execute(db);
  // Failover moves a message to another provider: out of one row, into another.
  await sql.raw(`create trigger message_totals_move after update of key_id, provider, sms_type on messages
    when not (${sameKey})
    begin
      ${upsert('old.', '-')}
      ${upsert('new.', '')}
    end`).execute(db);
  await sql.raw(`create trigger message_totals_delete after delete on messages begin
    ${upsert('old.', '-')}
  end`).execute(db);
}

async function createPostgresTriggers(db: Kysely<any>) {
  const signed = (table: string, sign: string) =>
    `select ${keyOf('')}, ${statusColumns('', sign).map((c, i) => `${c} as ${STATUSES[i]}`).join(', ')} from ${table}`;
  await createStatementTrigger(db, 'message_totals', 'insert', 'select 1 from new_rows', addGrouped(TOTALS, signed('new_rows', '')));
  // Leases, provider ids, sent times: most updates move no count, and leave without taking a shard.
  await createStatementTrigger(db, 'message_totals', 'update',
    `select 1 from old_rows o join new_rows n on n.id = o.id
     where o.status is distinct from n.status or o.key_id is distinct from n.key_id
       or o.provider is distinct from n.provider or o.sms_type is distinct from n.sms_type`,
    addGrouped(TOTALS, `${signed('new_rows', '')} union all ${signed('old_rows', '-')}`));
  await createStatementTrigger(db, 'message_totals', 'delete', 'select 1 from old_rows', addGrouped(TOTALS, signed('old_rows', '-')));
}

/** Migration 0013: the table, its triggers, and every message already stored counted into shard 0. */
export const messageTotalsMigration: Migration = {
  async up(db: Kysely<any>) {
    const onPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
    await createTable(db, !onPostgres);
    // Triggers before the backfill: on PostgreSQL creating them locks out writers until this commits.
    if (onPostgres) await createPostgresTriggers(db);
    else await createSqliteTriggers(db);
    await sql.raw(`insert into message_totals (${KEY}, ${STATUSES.join(', ')})
      select ${keyOf('')}, 0, ${statusColumns('', '').map((c) => `sum${c}`).join(', ')}
      from messages group by 1, 2, 3`).execute(db);
  },
};

/** What `total` may be read from here for: no batch, number or date range in the filter. */
export interface TotalsFilter {
  status?: string;
  sms_type?: string;
  provider?: string;
  key_id?: string;
}

/** The number of stored messages matching `filter`, summed over the few rows it selects. */
export async function storedTotal(db: Kysely<Database>, filter: TotalsFilter): Promise<number> {
  // A status no message can have (the list's query schema allows only known ones) matches nothing.
  // Empty filters are no filters, as in listMessages.
  if (filter.status && !STATUSES.includes(filter.status)) return 0;
  const counted = filter.status ? sql.ref(filter.status) : sql.raw(STATUSES.join(' + '));
  let q = db.selectFrom('message_totals').select(sql<number | string | null>`sum(${counted})`.as('n'));
  if (filter.key_id !== undefined) q = q.where('key_id', '=', filter.key_id);
  if (filter.provider) q = q.where('provider', '=', filter.provider);
  if (filter.sms_type) q = q.where('sms_type', '=', filter.sms_type);
  return Number((await q.executeTakeFirstOrThrow()).n ?? 0);
}

/**
 * Messages stored now in each of these statuses, over every key, provider and type: the
 * `sms_queue_depth` gauge. Counting the messages at every scrape was a pass over the backlog, on the
 * API's event loop (100,000 queued: tens of ms).
 */
export async function storedByStatus<S extends string>(db: Kysely<Database>, statuses: readonly S[]): Promise<Record<S, number>> {
  const row = await db.selectFrom('message_totals').select(statuses.map((s) => sql<number | string | null>`sum(${sql.ref(s)})`.as(s))).executeTakeFirstOrThrow();
  return Object.fromEntries(statuses.map((s) => [s, Number((row as Record<string, number | string | null>)[s] ?? 0)])) as Record<S, number>;
}
