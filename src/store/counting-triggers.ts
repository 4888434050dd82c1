import { sql, type Kysely } from 'kysely';

/**
 * The shape the running totals on `messages` share (message-totals.ts, batch-totals.ts): a table keyed
 * by some columns of the message plus a shard, whose value columns only ever have a difference added.
 */
export interface CountingTable {
  table: string;
  /** The message's columns (or expressions, named so) the totals are kept by; the shard follows them. */
  keys: string[];
  values: string[];
}

/** Adds a row's values to the row already there (both databases' upsert). */
export const addTo = ({ table, keys, values }: CountingTable) => `on conflict (${[...keys, 'shard'].join(', ')}) do update set
    ${values.map((v) => `${v} = ${table}.${v} + excluded.${v}`).join(',\n    ')}`;

/**
 * PostgreSQL: the signed rows of one statement (`rows`: keys then values, in order), summed per key into
 * the shard `slot`. Rows whose sums are all zero (a change no total follows) write nothing; keys are
 * upserted in order, so two statements never take the same rows in opposite orders.
 */
export const addGrouped = (t: CountingTable, rows: string) => {
  const keys = t.keys.join(', ');
  return `insert into ${t.table} (${keys}, shard, ${t.values.join(', ')})
     select ${keys}, slot, ${t.values.map((v) => `sum(${v})`).join(', ')}
     from (${rows}) d (${keys}, ${t.values.join(', ')})
     group by ${keys}
     having ${t.values.map((v) => `sum(${v}) <> 0`).join(' or ')}
     order by ${keys}
     ${addTo(t)};`;
};

const TRANSITION_TABLES = {
  insert: 'referencing new table as new_rows',
  update: 'referencing old table as old_rows new table as new_rows',
  delete: 'referencing old table as old_rows',
} as const;

/**
 * PostgreSQL: a statement trigger `<prefix>_<event>` on `messages` and its function. It leaves at once
 * unless `guard` finds a row (most updates move no total, and then take no shard); otherwise it takes
 * the transaction's shard (message_stats_shard(), analytics-summary.ts) and runs `body`, which sees it as `slot`.
 */
export async function createStatementTrigger(db: Kysely<any>, prefix: string, event: keyof typeof TRANSITION_TABLES, guard: string, body: string) {
  await sql.raw(`create function ${prefix}_after_${event}() returns trigger language plpgsql as $$
    declare
      slot integer;
    begin
      if not exists (${guard}) then
        return null;
      end if;
      slot := message_stats_shard();
      ${body}
      return null;
    end $$`).execute(db);
  await sql.raw(`create trigger ${prefix}_${event} after ${event} on messages
    ${TRANSITION_TABLES[event]} for each statement execute function ${prefix}_after_${event}()`).execute(db);
}
