import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';
import { deliveryBucketSql } from '../domain/delivery-histogram.js';

/**
 * The summaries `GET /api/analytics/stats` reads instead of every message (docs/analytics.md).
 *
 * Database triggers on `messages` keep them, in the transaction that changes a message: no code
 * path (accept, dispatch, reports, cancel, expiry, recovery, failover, a hand-written UPDATE) can
 * forget to. There is deliberately no DELETE trigger: the retention purge deletes old messages, and
 * their statistics stay (analytics outlive retention).
 *
 * - message_stats: per hour of created_at and the figures the stats group or test by (provider,
 *   sms_type, country, status, "sent_at is set", "attempts > 0"): messages, segments and the sum of
 *   coalesce(cost, estimated_cost).
 * - message_series: per hour, provider and sms_type, the figures the time series shows (messages,
 *   accepted, delivered, errors, finished attempts, segments, cost): a few rows per hour, so a series
 *   over months is read without sorting every row of message_stats.
 * - message_delivery_times (per hour) and message_delivery_days (per UTC day): a histogram of
 *   final_at - sent_at over delivered messages per provider, sms_type and bucket
 *   (src/domain/delivery-histogram.ts), for the median. Whole days of a range are read from the days,
 *   the hours around them from the hours: an hour holds few deliveries per provider and type, so the
 *   hourly histogram has nearly a row per delivery, and reading all of it for a month was the slowest
 *   part of a request.
 *
 * Key order is read order on SQLite (WITHOUT ROWID: the key is the table): message_stats and
 * message_delivery_days begin with what the stats group by, so SQLite aggregates them in one pass
 * without sorting; message_series and message_delivery_times begin with the hour (read by hour range).
 *
 * `shard` exists for PostgreSQL, where every writer of the same hour, provider, type, country and
 * status would otherwise queue on one row until it commits: each transaction writes rows of a shard
 * no concurrent transaction holds (a transaction-scoped advisory lock), readers sum the shards.
 * SQLite has one writer at a time and always writes shard 0.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** First key of the advisory locks that hand out shards (the second is the shard); any constant not used elsewhere. */
const SHARD_LOCK_KEY = 710_334_511;
const SHARDS = 16;

const STATS_KEY = 'provider, sms_type, country, hour_start, status, sent, attempted, shard';
const SERIES_KEY = 'hour_start, provider, sms_type, shard';
/** The delivery-time histograms: the same rows at two granularities. */
const HISTOGRAMS = [
  { table: 'message_delivery_times', period: 'hour_start', size: HOUR_MS, key: ['hour_start', 'provider', 'sms_type', 'bucket', 'shard'] },
  { table: 'message_delivery_days', period: 'day_start', size: DAY_MS, key: ['provider', 'sms_type', 'bucket', 'day_start', 'shard'] },
] as const;
type Histogram = (typeof HISTOGRAMS)[number];
const SERIES_MEASURES = ['message_count', 'accepted', 'delivered', 'errors', 'finished', 'segment_count', 'cost_sum'] as const;

/** A message row (`m.` prefix, `new.`/`old.` in SQLite triggers) as the summary's key and measures. */
function statsColumns(m: string) {
  return {
    hour: `(${m}created_at / ${HOUR_MS}) * ${HOUR_MS}`,
    country: `coalesce(${m}country, '')`,
    sent: `(case when ${m}sent_at is not null then 1 else 0 end)`,
    attempted: `(case when ${m}attempts > 0 then 1 else 0 end)`,
    cost: `coalesce(${m}cost, ${m}estimated_cost)`,
    delivered: `${m}status = 'delivered' and ${m}sent_at is not null and ${m}final_at is not null`,
    // What the message adds to each message_series measure, in SERIES_MEASURES order.
    series: [
      '1',
      `(case when ${m}sent_at is not null then 1 else 0 end)`,
      `(case when ${m}status = 'delivered' then 1 else 0 end)`,
      `(case when ${m}status in ('failed', 'undelivered') then 1 else 0 end)`,
      `(case when ${m}sent_at is not null or (${m}status = 'failed' and ${m}attempts > 0) then 1 else 0 end)`,
      `${m}segments`,
      `(case when ${m}sent_at is not null then coalesce(${m}cost, ${m}estimated_cost) else 0 end)`,
    ],
    period: (h: Histogram) => `(${m}created_at / ${h.size}) * ${h.size}`,
    bucket: deliveryBucketSql(`(${m}final_at - ${m}sent_at)`),
    deliveryMs: `(${m}final_at - ${m}sent_at)`,
  };
}

const addToStats = `on conflict (${STATS_KEY}) do update set
    message_count = message_stats.message_count + excluded.message_count,
    segment_count = message_stats.segment_count + excluded.segment_count,
    cost_sum = message_stats.cost_sum + excluded.cost_sum`;
const addToSeries = `on conflict (${SERIES_KEY}) do update set
    ${SERIES_MEASURES.map((c) => `${c} = message_series.${c} + excluded.${c}`).join(',\n    ')}`;
const addToHistogram = (h: Histogram) => `on conflict (${h.key.join(', ')}) do update set
    deliveries = ${h.table}.deliveries + excluded.deliveries,
    total_ms = ${h.table}.total_ms + excluded.total_ms`;

async function createTables(db: Kysely<any>, onSqlite: boolean) {
  // SQLite: without rowid, the primary key is the table, so an upsert touches one b-tree instead of two.
  const clustered = (t: any) => (onSqlite ? t.modifyEnd(sql`without rowid`) : t);
  await clustered(db.schema
    .createTable('message_stats')
    .addColumn('hour_start', 'bigint', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('sms_type', 'text', (c) => c.notNull())
    // '' for messages without a country: NULL would make every such row distinct to the primary key.
    .addColumn('country', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('sent', 'integer', (c) => c.notNull())
    .addColumn('attempted', 'integer', (c) => c.notNull())
    .addColumn('shard', 'integer', (c) => c.notNull())
    .addColumn('message_count', 'bigint', (c) => c.notNull())
    .addColumn('segment_count', 'bigint', (c) => c.notNull())
    .addColumn('cost_sum', sql`double precision`, (c) => c.notNull())
    .addPrimaryKeyConstraint('message_stats_pk', ['provider', 'sms_type', 'country', 'hour_start', 'status', 'sent', 'attempted', 'shard']))
    .execute();
  await clustered(db.schema
    .createTable('message_series')
    .addColumn('hour_start', 'bigint', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('sms_type', 'text', (c) => c.notNull())
    .addColumn('shard', 'integer', (c) => c.notNull())
    .addColumn('message_count', 'bigint', (c) => c.notNull())
    .addColumn('accepted', 'bigint', (c) => c.notNull())
    .addColumn('delivered', 'bigint', (c) => c.notNull())
    .addColumn('errors', 'bigint', (c) => c.notNull())
    .addColumn('finished', 'bigint', (c) => c.notNull())
    .addColumn('segment_count', 'bigint', (c) => c.notNull())
    .addColumn('cost_sum', sql`double precision`, (c) => c.notNull())
    .addPrimaryKeyConstraint('message_series_pk', ['hour_start', 'provider', 'sms_type', 'shard']))
    .execute();
  for (const h of HISTOGRAMS) {
    await clustered(db.schema
      .createTable(h.table)
      .addColumn(h.period, 'bigint', (c) => c.notNull())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('sms_type', 'text', (c) => c.notNull())
      .addColumn('bucket', 'integer', (c) => c.notNull())
      .addColumn('shard', 'integer', (c) => c.notNull())
      .addColumn('deliveries', 'bigint', (c) => c.notNull())
      .addColumn('total_ms', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${h.table}_pk`, [...h.key]))
      .execute();
  }
}

/** Row triggers: SQLite has no statement triggers with transition tables, and its writes are in-process and cheap. */
async function createSqliteTriggers(db: Kysely<any>) {
  const n = statsColumns('new.');
  const o = statsColumns('old.');
  const statsRow = (c: typeof n, m: string, sign: string) =>
    `insert into message_stats (${STATS_KEY}, message_count, segment_count, cost_sum)
     values (${m}provider, ${m}sms_type, ${c.country}, ${c.hour}, ${m}status, ${c.sent}, ${c.attempted}, 0, ${sign}1, ${sign}${m}segments, ${sign}${c.cost})
     ${addToStats};`;
  const seriesRow = (c: typeof n, m: string, sign: string) =>
    `insert into message_series (${SERIES_KEY}, ${SERIES_MEASURES.join(', ')})
     values (${c.hour}, ${m}provider, ${m}sms_type, 0, ${c.series.map((v) => `${sign}${v}`).join(', ')})
     ${addToSeries};`;
  // The WHERE is also what lets SQLite parse an upsert after INSERT … SELECT.
  const timesRow = (c: typeof n, m: string, sign: string) => HISTOGRAMS.map((h) =>
    `insert into ${h.table} (${h.period}, provider, sms_type, bucket, shard, deliveries, total_ms)
     select ${c.period(h)}, ${m}provider, ${m}sms_type, ${c.bucket}, 0, ${sign}1, ${sign}${c.deliveryMs} where ${c.delivered}
     ${addToHistogram(h)};`).join('\n');
  await sql.raw(`create trigger message_stats_insert after insert on messages begin
    ${statsRow(n, 'new.', '')}
    ${seriesRow(n, 'new.', '')}
  end`).execute(db);
  // Messages are rarely stored already delivered (imports): a trigger of its own, skipped by its WHEN.
  await sql.raw(`create trigger message_delivery_times_insert after insert on messages when ${n.delivered} begin
    ${timesRow(n, 'new.', '')}
  end`).execute(db);
  // Leases, provider ids and the like change often and matter to no figure: skip those updates.
  await sql.raw(`create trigger message_stats_update
    after update of status, sent_at, attempts, cost, estimated_cost, segments, provider, sms_type, country, created_at on messages
    when old.status is not new.status or (old.sent_at is null) <> (new.sent_at is null) or (old.attempts > 0) <> (new.attempts > 0)
      or old.cost is not new.cost or old.estimated_cost is not new.estimated_cost or old.segments is not new.segments
      or old.provider is not new.provider or old.sms_type is not new.sms_type or old.country is not new.country
      or ${o.hour} is not ${n.hour}
    begin
      ${statsRow(o, 'old.', '-')}
      ${statsRow(n, 'new.', '')}
    end`).execute(db);
  // Most status changes move no series figure (queued → sending, sent → sent): only those that do write.
  // The series' key (hour, provider, type) rarely changes with them: then one upsert adds the difference.
  const seriesChanged = `${n.series.map((v, i) => `${o.series[i]} is not ${v}`).join(' or ')}`;
  const sameSeriesKey = `old.provider is new.provider and old.sms_type is new.sms_type and ${o.hour} is ${n.hour}`;
  await sql.raw(`create trigger message_series_update
    after update of status, sent_at, attempts, cost, estimated_cost, segments, provider, sms_type, created_at on messages
    when (${seriesChanged}) and ${sameSeriesKey}
    begin
      insert into message_series (${SERIES_KEY}, ${SERIES_MEASURES.join(', ')})
      values (${n.hour}, new.provider, new.sms_type, 0, ${n.series.map((v, i) => `(${v}) - (${o.series[i]})`).join(', ')})
      ${addToSeries};
    end`).execute(db);
  await sql.raw(`create trigger message_series_move
    after update of provider, sms_type, created_at on messages
    when not (${sameSeriesKey})
    begin
      ${seriesRow(o, 'old.', '-')}
      ${seriesRow(n, 'new.', '')}
    end`).execute(db);
  // A delivery arrives once: then there is nothing to take out of the histograms.
  await sql.raw(`create trigger message_delivery_times_arrive
    after update of status, sent_at, final_at on messages
    when not (${o.delivered}) and (${n.delivered})
    begin
      ${timesRow(n, 'new.', '')}
    end`).execute(db);
  await sql.raw(`create trigger message_delivery_times_update
    after update of status, sent_at, final_at, provider, sms_type, created_at on messages
    when (${o.delivered})
      and (old.status is not new.status or old.sent_at is not new.sent_at or old.final_at is not new.final_at
        or old.provider is not new.provider or old.sms_type is not new.sms_type or ${o.hour} is not ${n.hour})
    begin
      ${timesRow(o, 'old.', '-')}
      ${timesRow(n, 'new.', '')}
    end`).execute(db);
}

/**
 * Migration 0012: the SQLite triggers as createSqliteTriggers now makes them. A message's sent and
 * delivered updates each wrote the series row twice (out under the old figures, in under the new) and
 * ran the histograms' take-out for a delivery that had none; those were about half of what the
 * triggers added to a message's life (bench/stats-trigger-cost.ts). PostgreSQL's statement triggers
 * are unchanged.
 */
export const summaryTriggersRevision: Migration = {
  async up(db: Kysely<any>) {
    if (db.getExecutor().adapter instanceof PostgresAdapter) return;
    for (const name of ['message_stats_insert', 'message_delivery_times_insert', 'message_stats_update', 'message_series_update', 'message_series_move',
      'message_delivery_times_arrive', 'message_delivery_times_update']) {
      await sql.raw(`drop trigger if exists ${name}`).execute(db);
    }
    await createSqliteTriggers(db);
  },
};

/**
 * Statement triggers with transition tables: a 10,000-recipient insert or a 500-message claim is one
 * grouped upsert, not one per row, and rows are upserted in key order.
 */
async function createPostgresTriggers(db: Kysely<any>) {
  const m = statsColumns('');
  // The shard this transaction writes: kept in a transaction-local setting once taken. Try-locks never
  // wait; only when every shard is held by a running transaction does it wait for one.
  await sql.raw(`create function message_stats_shard() returns integer language plpgsql as $$
    declare
      slot integer := nullif(current_setting('sms_gateway.stats_shard', true), '')::integer;
    begin
      if slot is null then
        for s in 0..${SHARDS - 1} loop
          if pg_try_advisory_xact_lock(${SHARD_LOCK_KEY}, s) then
            slot := s;
            exit;
          end if;
        end loop;
        if slot is null then
          slot := floor(random() * ${SHARDS})::integer;
          perform pg_advisory_xact_lock(${SHARD_LOCK_KEY}, slot);
        end if;
        perform set_config('sms_gateway.stats_shard', slot::text, true);
      end if;
      return slot;
    end $$`).execute(db);
  // One signed row per message: +1 for each new row, -1 for each old one; what nets to nothing is not written.
  const signed = (table: string, sign: string) =>
    `select ${m.hour} as hour_start, provider, sms_type, ${m.country} as country, status, ${m.sent} as sent, ${m.attempted} as attempted,
       ${sign}1 as n, ${sign}segments as segments, ${sign}${m.cost} as cost from ${table}`;
  const signedSeries = (table: string, sign: string) =>
    `select ${m.hour} as hour_start, provider, sms_type, ${m.series.map((v, i) => `${sign}${v} as ${SERIES_MEASURES[i]}`).join(', ')} from ${table}`;
  const signedTimes = (table: string, sign: string) =>
    `select provider, sms_type, ${m.bucket} as bucket, ${m.period(HISTOGRAMS[0])} as hour_start, ${m.period(HISTOGRAMS[1])} as day_start,
       ${sign}1 as n, ${sign}${m.deliveryMs} as ms
     from ${table} where ${m.delivered}`;
  const upsertStats = (rows: string) =>
    `insert into message_stats (${STATS_KEY}, message_count, segment_count, cost_sum)
     select provider, sms_type, country, hour_start, status, sent, attempted, slot, sum(n), sum(segments), sum(cost)
     from (${rows}) d
     group by provider, sms_type, country, hour_start, status, sent, attempted
     having sum(n) <> 0 or sum(segments) <> 0 or sum(cost) <> 0
     order by provider, sms_type, country, hour_start, status, sent, attempted
     ${addToStats};`;
  const upsertSeries = (rows: string) =>
    `insert into message_series (${SERIES_KEY}, ${SERIES_MEASURES.join(', ')})
     select hour_start, provider, sms_type, slot, ${SERIES_MEASURES.map((c) => `sum(${c})`).join(', ')}
     from (${rows}) d
     group by hour_start, provider, sms_type
     having ${SERIES_MEASURES.map((c) => `sum(${c}) <> 0`).join(' or ')}
     order by hour_start, provider, sms_type
     ${addToSeries};`;
  const upsertTimes = (rows: string) => HISTOGRAMS.map((h) => {
    const key = h.key.filter((k) => k !== 'shard').join(', ');
    return `insert into ${h.table} (${key}, shard, deliveries, total_ms)
     select ${key}, slot, sum(n), sum(ms)
     from (${rows}) d
     group by ${key}
     having sum(n) <> 0 or sum(ms) <> 0
     order by ${key}
     ${addToHistogram(h)};`;
  }).join('\n');
  await sql.raw(`create function message_stats_after_insert() returns trigger language plpgsql as $$
    declare
      slot integer;
    begin
      -- INSERT … SELECT that found nothing: no shard to take.
      if not exists (select 1 from new_rows) then
        return null;
      end if;
      slot := message_stats_shard();
      ${upsertStats(signed('new_rows', ''))}
      ${upsertSeries(signedSeries('new_rows', ''))}
      ${upsertTimes(signedTimes('new_rows', ''))}
      return null;
    end $$`).execute(db);
  await sql.raw(`create function message_stats_after_update() returns trigger language plpgsql as $$
    declare
      slot integer;
    begin
      -- Most updates (leases, provider ids, callbacks' bookkeeping) change no figure: leave without a shard.
      if not exists (
        select 1 from old_rows o join new_rows n on n.id = o.id
        where o.status is distinct from n.status or o.sent_at is distinct from n.sent_at or o.final_at is distinct from n.final_at
          or o.attempts is distinct from n.attempts or o.cost is distinct from n.cost or o.estimated_cost is distinct from n.estimated_cost
          or o.segments is distinct from n.segments or o.provider is distinct from n.provider or o.sms_type is distinct from n.sms_type
          or o.country is distinct from n.country or o.created_at is distinct from n.created_at
      ) then
        return null;
      end if;
      slot := message_stats_shard();
      ${upsertStats(`${signed('new_rows', '')} union all ${signed('old_rows', '-')}`)}
      ${upsertSeries(`${signedSeries('new_rows', '')} union all ${signedSeries('old_rows', '-')}`)}
      ${upsertTimes(`${signedTimes('new_rows', '')} union all ${signedTimes('old_rows', '-')}`)}
      return null;
    end $$`).execute(db);
  await sql.raw(`create trigger message_stats_insert after insert on messages
    referencing new table as new_rows for each statement execute function message_stats_after_insert()`).execute(db);
  await sql.raw(`create trigger message_stats_update after update on messages
    referencing old table as old_rows new table as new_rows for each statement execute function message_stats_after_update()`).execute(db);
}

/** Every message already stored, counted once into shard 0. */
async function backfill(db: Kysely<any>) {
  const m = statsColumns('');
  await sql.raw(`insert into message_stats (${STATS_KEY}, message_count, segment_count, cost_sum)
    select provider, sms_type, ${m.country}, ${m.hour}, status, ${m.sent}, ${m.attempted}, 0, count(*), sum(segments), sum(${m.cost})
    from messages group by 1, 2, 3, 4, 5, 6, 7`).execute(db);
  await sql.raw(`insert into message_series (${SERIES_KEY}, ${SERIES_MEASURES.join(', ')})
    select ${m.hour}, provider, sms_type, 0, ${m.series.map((v) => `sum(${v})`).join(', ')}
    from messages group by 1, 2, 3`).execute(db);
  for (const h of HISTOGRAMS) {
    await sql.raw(`insert into ${h.table} (${h.period}, provider, sms_type, bucket, shard, deliveries, total_ms)
      select ${m.period(h)}, provider, sms_type, ${m.bucket}, 0, count(*), sum(${m.deliveryMs})
      from messages where ${m.delivered} group by 1, 2, 3, 4`).execute(db);
  }
}

export const messageStatsMigration: Migration = {
  async up(db: Kysely<any>) {
    const onPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
    await createTables(db, !onPostgres);
    // Triggers first: on PostgreSQL creating them locks out writers until this commits, so no change
    // can fall between the backfill's snapshot and the triggers.
    if (onPostgres) await createPostgresTriggers(db);
    else await createSqliteTriggers(db);
    await backfill(db);
  },
};
