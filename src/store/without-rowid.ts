import { sql, type Kysely } from 'kysely';

/**
 * Rebuilds a SQLite table keyed by a text id as a WITHOUT ROWID table, rows and indexes kept.
 *
 * A rowid table with a text primary key stores every row twice over: the row under its rowid, and
 * (id, rowid) in the primary key's own index. Without rowid the row is stored under its id, so an
 * insert writes one b-tree fewer and the id's index (about 44 bytes a row for our ids) is gone. Worth
 * it only for a table without full secondary indexes: those then hold the id instead of the rowid,
 * which costs the gain back.
 *
 * SQLite cannot change this in place: the table is made anew from its own CREATE statement (so
 * columns added by later migrations come along), filled, and swapped in. Runs inside the
 * migration's transaction.
 */
export async function rebuildWithoutRowid(db: Kysely<any>, table: string): Promise<void> {
  const created = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = ${table}`.execute(db);
  const definition = created.rows[0]?.sql;
  if (!definition) throw new Error(`no table ${table} to rebuild`);
  if (/\bwithout\s+rowid\s*$/i.test(definition)) return;
  const indexes = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = ${table} and sql is not null`.execute(db);
  const staging = `${table}__without_rowid`;
  const head = /^CREATE TABLE\s+("[^"]+"|\S+)/i;
  if (!head.test(definition)) throw new Error(`unexpected definition of ${table}: ${definition.slice(0, 80)}`);
  await sql.raw(`${definition.replace(head, `CREATE TABLE "${staging}"`)} WITHOUT ROWID`).execute(db);
  await sql.raw(`insert into "${staging}" select * from "${table}"`).execute(db);
  await sql.raw(`drop table "${table}"`).execute(db);
  await sql.raw(`alter table "${staging}" rename to "${table}"`).execute(db);
  for (const index of indexes.rows) await sql.raw(index.sql).execute(db);
}
