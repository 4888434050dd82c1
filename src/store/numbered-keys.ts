import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';

/**
 * Migration 0017: the two tables that get a row for nearly every message, its status changes
 * (`message_events`) and the audited call that sent it (`audit_log`), keyed by a number the database
 * gives instead of a text id (prefix + time + random, 27 characters). The text id was stored in the
 * row and again in the key's own index: about 80 bytes a row. A number is the row's own key on SQLite
 * (the rowid: no index of its own) and 8 bytes on PostgreSQL.
 *
 * AUTOINCREMENT on SQLite: a committed number is never given again, even after its row is deleted,
 * so the live feed (services/event-feed.ts), which on SQLite reads past the last number it saw,
 * cannot take a new event for one it sent. (A rolled-back number is given again, but no reader saw it.)
 *
 * Each table is made anew and its rows copied in, numbered in the order of their old ids (their
 * time). Processes of an older version write text ids and fail until they are stopped
 * (docs/deployment.md).
 */
type Column = [name: string, type: 'text' | 'bigint' | 'integer', notNull?: 'not null'];

const EVENT_COLUMNS: Column[] = [
  ['message_id', 'text', 'not null'], ['status', 'text', 'not null'], ['previous_status', 'text'], ['source', 'text', 'not null'],
  ['detail', 'text'], ['created_at', 'bigint', 'not null'],
];
const AUDIT_COLUMNS: Column[] = [
  ['created_at', 'bigint', 'not null'], ['key_id', 'text'], ['action', 'text', 'not null'], ['resource', 'text', 'not null'],
  ['resource_id', 'text'], ['result', 'integer', 'not null'], ['ip', 'text'],
];

export const numberedKeysMigration: Migration = {
  async up(db: Kysely<any>) {
    const onPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
    if (onPostgres) {
      await sql`set local lock_timeout = '5s'`.execute(db);
      // The copy may take minutes on a large database; the pool's statement_timeout is for requests.
      await sql`set local statement_timeout = 0`.execute(db);
      // INSERT … SELECT alone locks out no writer: a row an older process committed after the copy began
      // would go with the old table. Locked, that process waits (and fails after its own timeout) instead.
      await sql`lock table message_events, audit_log in access exclusive mode`.execute(db);
    }

    await renumber(db, onPostgres, 'message_events', EVENT_COLUMNS);
    // Without created_at as before: a message has a handful of events, sorted when read.
    await db.schema.createIndex('message_events_message').on('message_events').columns(['message_id']).execute();
    // PostgreSQL numbers an insert before it commits, so numbers do not arrive in order there: the feed's
    // replay after a Last-Event-ID, and its start, look back by time.
    if (onPostgres) await db.schema.createIndex('message_events_time').on('message_events').columns(['created_at']).execute();

    await renumber(db, onPostgres, 'audit_log', AUDIT_COLUMNS);
    // Newest first and date ranges (audit-store.ts): SQLite keeps the rowid, the number, in every entry;
    // PostgreSQL gets it written in.
    await db.schema.createIndex('audit_log_time').on('audit_log').columns(onPostgres ? ['created_at', 'id'] : ['created_at']).execute();
    // Statistics for the new tables at once: without them PostgreSQL's planner read the feed's window
    // (created_at >= …) along the whole primary key until autoanalyze came round.
    if (onPostgres) await sql`analyze message_events, audit_log`.execute(db);
  },
};

/** Makes `table` anew with a numbered key and `columns`, and copies its rows in, in the order of their old ids. */
async function renumber(db: Kysely<any>, onPostgres: boolean, table: string, columns: Column[]) {
  const staging = `${table}__numbered`;
  let created = db.schema.createTable(staging)
    .addColumn('id', onPostgres ? 'bigint' : 'integer', (c) => (onPostgres ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()));
  for (const [name, type, notNull] of columns) created = created.addColumn(name, type, (c) => (notNull ? c.notNull() : c));
  await created.execute();
  const list = sql.join(columns.map(([name]) => sql.ref(name)));
  await sql`insert into ${sql.table(staging)} (${list}) select ${list} from ${sql.table(table)} order by id`.execute(db);
  await db.schema.dropTable(table).execute();
  await db.schema.alterTable(staging).renameTo(table).execute();
  if (onPostgres) {
    // The names the table would have had if made under its own name.
    await sql.raw(`alter table "${table}" rename constraint "${staging}_pkey" to "${table}_pkey"`).execute(db);
    await sql.raw(`alter sequence "${staging}_id_seq" rename to "${table}_id_seq"`).execute(db);
  }
}
