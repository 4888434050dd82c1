import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';
import { BILLED_STATUSES, MESSAGE_STATUSES } from '../domain/message-status.js';
import { addGrouped, addTo, createStatementTrigger, type CountingTable } from './counting-triggers.js';
import type { Database } from './schema.js';

/**
 * What `GET /api/sms/batches/{id}` and the campaign list show of a campaign's messages: how many are
 * in each status, their segments, and the cost of those handed over so far.
 *
 * Counting them from the messages read every message of the campaign: 17–28 ms for 10,000 recipients
 * at 1,000,000 stored, 39–73 ms for a page of 20 campaigns (bench/RESULTS.md), and ten times that for
 * a campaign ten times the size. Here it is one row per campaign (a few on PostgreSQL), kept by
 * triggers in the transaction that changes the message, like message_totals.ts and sharded the same way.
 *
 * Only campaigns (`send-batch`, batches.kind = 'batch'): a row here for every `send` would cost bytes and
 * a write per message to spare counting a message or a few. A `send`'s batch is still counted from its messages.
 */

const STATUSES = MESSAGE_STATUSES as readonly string[];
const COLUMNS = [...STATUSES, 'segments', 'billed_cost'];
const TOTALS: CountingTable = { table: 'batch_totals', keys: ['batch_id'], values: COLUMNS };
const KEY = [...TOTALS.keys, 'shard'].join(', ');

/** `m`'s contribution to each column, in COLUMNS order, with `sign` ('' or '-') before each. */
const contribution = (m: string, sign: string) => [
  ...STATUSES.map((s) => `${sign}(case when ${m}status = '${s}' then 1 else 0 end)`),
  `${sign}${m}segments`,
  `${sign}(case when ${m}status in (${BILLED_STATUSES.map((s) => `'${s}'`).join(', ')}) then coalesce(${m}cost, ${m}estimated_cost) else 0 end)`,
];

/** Whether `m`'s batch is a campaign. A probe of the batches primary key. */
const inCampaign = (m: string) => `exists (select 1 from batches where id = ${m}batch_id and kind = 'batch')`;

/** What the triggers follow: any of these changing moves a figure. */
const FOLLOWED = ['status', 'segments', 'cost', 'estimated_cost'];

async function createTable(db: Kysely<any>, onSqlite: boolean) {
  let table = db.schema.createTable('batch_totals')
    .addColumn('batch_id', 'text', (c) => c.notNull())
    .addColumn('shard', 'integer', (c) => c.notNull());
  for (const status of STATUSES) table = table.addColumn(status, 'bigint', (c) => c.notNull());
  table = table.addColumn('segments', 'bigint', (c) => c.notNull())
    .addColumn('billed_cost', sql`double precision`, (c) => c.notNull())
    .addPrimaryKeyConstraint('batch_totals_pk', ['batch_id', 'shard']);
  await (onSqlite ? table.modifyEnd(sql`without rowid`) : table).execute();
}

async function createSqliteTriggers(db: Kysely<any>) {
  const addRow = (m: string, values: string[]) =>
    `insert into batch_totals (${KEY}, ${COLUMNS.join(', ')})
     values (${m}batch_id, 0, ${values.join(', ')})
     ${addTo(TOTALS)};`;
  await sql.raw(`create trigger batch_totals_insert after insert on messages when ${inCampaign('new.')} begin
    ${addRow('new.', contribution('new.', ''))}
  end`).execute(db);
  // The common change, a status: one row, the old contribution out and the new one in.
  const leaving = contribution('old.', '');
  const changed = FOLLOWED.map((c) => `old.${c} is not new.${c}`).join(' or ');
  await sql.raw(`create trigger batch_totals_change after update of ${FOLLOWED.join(', ')} on messages
    when old.batch_id is new.batch_id and (${changed}) and ${inCampaign('new.')}
    begin
      ${addRow('new.', contribution('new.', '').map((plus, i) => `${plus} - ${leaving[i]}`))}
    end`).execute(db);
  // No path moves a message to another batch today; if one does, the figures move with it.
  await sql.raw(`create trigger batch_totals_move_out after update of batch_id on messages
    when old.batch_id is not new.batch_id and ${inCampaign('old.')}
    begin
      ${addRow('old.', contribution('old.', '-'))}
    end`).execute(db);
  await sql.raw(`create trigger batch_totals_move_in after update of batch_id on messages
    when old.batch_id is not new.batch_id and ${inCampaign('new.')}
    begin
      ${addRow('new.', contribution('new.', ''))}
    end`).execute(db);
  await sql.raw(`create trigger batch_totals_delete after delete on messages when ${inCampaign('old.')} begin
    ${addRow('old.', contribution('old.', '-'))}
  end`).execute(db);
  // The retention purge deletes a batch once its messages are gone: its (zero) figures go with it.
  await sql.raw(`create trigger batch_totals_batch_delete after delete on batches when old.kind = 'batch' begin
    delete from batch_totals where batch_id = old.id;
  end`).execute(db);
}

async function createPostgresTriggers(db: Kysely<any>) {
  const signed = (table: string, sign: string) =>
    `select m.batch_id, ${contribution('m.', sign).map((c, i) => `${c} as ${COLUMNS[i]}`).join(', ')}
     from ${table} m join batches b on b.id = m.batch_id and b.kind = 'batch'`;
  const campaign = (table: string) => `select 1 from ${table} m join batches b on b.id = m.batch_id and b.kind = 'batch'`;
  await createStatementTrigger(db, 'batch_totals', 'insert', campaign('new_rows'), addGrouped(TOTALS, signed('new_rows', '')));
  // Leases, provider ids, sent times, and every change to a single send's message: leave without a shard.
  await createStatementTrigger(db, 'batch_totals', 'update',
    `select 1 from old_rows o join new_rows n on n.id = o.id
     where (${[...FOLLOWED, 'batch_id'].map((c) => `o.${c} is distinct from n.${c}`).join(' or ')})
       and exists (select 1 from batches b where b.kind = 'batch' and b.id in (o.batch_id, n.batch_id))`,
    addGrouped(TOTALS, `${signed('new_rows', '')} union all ${signed('old_rows', '-')}`));
  await createStatementTrigger(db, 'batch_totals', 'delete', campaign('old_rows'), addGrouped(TOTALS, signed('old_rows', '-')));
  await sql.raw(`create function batch_totals_after_batch_delete() returns trigger language plpgsql as $$
    begin
      delete from batch_totals t using old_batches b where t.batch_id = b.id and b.kind = 'batch';
      return null;
    end $$`).execute(db);
  await sql.raw(`create trigger batch_totals_batch_delete after delete on batches
    referencing old table as old_batches for each statement execute function batch_totals_after_batch_delete()`).execute(db);
}

/** Migration 0014: the table, its triggers, and every campaign's stored messages counted into shard 0. */
export const batchTotalsMigration: Migration = {
  async up(db: Kysely<any>) {
    const onPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
    await createTable(db, !onPostgres);
    // Triggers before the backfill: on PostgreSQL creating them locks out writers until this commits.
    if (onPostgres) await createPostgresTriggers(db);
    else await createSqliteTriggers(db);
    await sql.raw(`insert into batch_totals (${KEY}, ${COLUMNS.join(', ')})
      select m.batch_id, 0, ${contribution('m.', '').map((c) => `sum(${c})`).join(', ')}
      from messages m join batches b on b.id = m.batch_id and b.kind = 'batch'
      group by m.batch_id`).execute(db);
  },
};

/** A batch's messages: how many in each status (only statuses some message has), segments, billed cost. */
export interface BatchFigures {
  counts: Record<string, number>;
  segments: number;
  billedCost: number;
}

/** A campaign's figures from its few rows here. */
export async function campaignFigures(db: Kysely<Database>, batchId: string): Promise<BatchFigures> {
  const row = await db.selectFrom('batch_totals')
    .select(COLUMNS.map((c) => sql<number | string | null>`sum(${sql.ref(c)})`.as(c)))
    .where('batch_id', '=', batchId)
    .executeTakeFirst() as Record<string, number | string | null> | undefined;
  const counts: Record<string, number> = {};
  for (const status of STATUSES) {
    const n = Number(row?.[status] ?? 0);
    if (n !== 0) counts[status] = n;
  }
  return { counts, segments: Number(row?.segments ?? 0), billedCost: Number(row?.billed_cost ?? 0) };
}

/** A single send's batch, counted from its message (one row; no totals are kept for it). */
export async function countedFigures(db: Kysely<Database>, batchId: string): Promise<BatchFigures> {
  const rows = await db
    .selectFrom('messages')
    .select((eb) => [
      'status',
      eb.fn.countAll<number>().as('count'),
      eb.fn.sum<number>('segments').as('segments'),
      eb.fn.sum<number>(eb.fn.coalesce('cost', 'estimated_cost')).as('cost'),
    ])
    .where('batch_id', '=', batchId)
    .groupBy('status')
    .execute();
  const figures: BatchFigures = { counts: {}, segments: 0, billedCost: 0 };
  for (const r of rows) {
    figures.counts[r.status] = Number(r.count);
    figures.segments += Number(r.segments ?? 0);
    if ((BILLED_STATUSES as readonly string[]).includes(r.status)) figures.billedCost += Number(r.cost ?? 0);
  }
  return figures;
}
