import { CompiledQuery, type Kysely, type QueryResult } from 'kysely';
import type BetterSqlite3 from 'better-sqlite3';
import type { Database } from './schema.js';

/** The statements of one SQLite connection, prepared once per SQL text (database.ts, `cachingDatabase`). */
export interface SqliteStatements {
  prepare(sql: string): BetterSqlite3.Statement;
}

const connectionOf = new WeakMap<Kysely<Database>, SqliteStatements>();
const openOn = new WeakMap<Kysely<Database>, SqliteStatements>();

/** Called by createStore: `db` runs on this one connection. */
export function registerSqliteConnection(db: Kysely<Database>, statements: SqliteStatements): void {
  connectionOf.set(db, statements);
}

/** The connection under a SQLite store's `db`; undefined on PostgreSQL. */
export function sqliteConnection(db: Kysely<Database>): SqliteStatements | undefined {
  return connectionOf.get(db);
}

/**
 * Runs `work` with `trx` marked as a transaction open on `statements`' connection, so that
 * `executeCompiled` in it may skip Kysely's executor. Only for the transaction's own callback:
 * while it runs, the transaction holds SQLite's single connection, and nothing else runs on it.
 */
export async function withOpenTransaction<T>(trx: Kysely<Database>, statements: SqliteStatements | undefined, work: () => Promise<T>): Promise<T> {
  if (!statements) return work();
  openOn.set(trx, statements);
  try {
    return await work();
  } finally {
    openOn.delete(trx);
  }
}

/**
 * Runs SQL that is already written out (`insertRows`, `PreparedStatement`). In a transaction the
 * group commit holds on SQLite it runs the statement at once, as Kysely's SQLite driver would at
 * the end of its executor: that executor costs ~3 µs and a few KB of promises and closures per
 * statement (bench/RESULTS.md, thirteenth pass). The answer has the driver's shape. Elsewhere
 * (PostgreSQL, no transaction, a Kysely not made by createStore) it goes through Kysely. Statements
 * run in the order they are called: a job must await a Kysely query before it calls this (GroupCommit).
 */
export function executeCompiled<R>(db: Kysely<Database>, sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
  const statements = openOn.get(db);
  try {
    if (!statements) return db.executeQuery<R>(CompiledQuery.raw(sql, parameters as unknown[]));
    const statement = statements.prepare(sql);
    if (statement.reader) return Promise.resolve({ rows: statement.all(parameters) as R[] });
    const { changes, lastInsertRowid } = statement.run(parameters);
    return Promise.resolve({ numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] });
  } catch (err) {
    return Promise.reject(err);
  }
}
