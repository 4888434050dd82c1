import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { ReadAnswer, ReadQuery, ReadThreadData, ThreadError } from './messages.js';

/**
 * A read thread (ReadThread starts it): one read-only better-sqlite3 connection to the gateway's
 * SQLite file, running the statements the main thread compiled with Kysely, one after another, and
 * posting their rows back. WAL lets it read while the main connection writes; each statement is its
 * own read transaction, so it sees everything committed before it started.
 */
const port = parentPort!;
const { path, busyTimeoutMs, cacheSize } = workerData as ReadThreadData;

const asThreadError = (err: unknown): ThreadError => {
  const e = err as { name?: unknown; message?: unknown; code?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  };
};

let db: BetterSqlite3.Database | undefined;
let openFailed: ThreadError | undefined;
try {
  db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  // The main connection's settings where they apply to a reader (journal mode and synchronous are the writer's).
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma(`cache_size = ${cacheSize}`);
  db.pragma('temp_store = memory');
} catch (err) {
  // Every query is answered with why; the host fails them and keeps the process up.
  openFailed = asThreadError(err);
}

// Each distinct query is compiled once per thread, as on the main connection.
const statements = new Map<string, BetterSqlite3.Statement>();
const MAX_STATEMENTS = 1000;

function run(query: ReadQuery): ReadAnswer {
  if (!db) return { id: query.id, error: openFailed! };
  try {
    let stmt = statements.get(query.sql);
    if (stmt === undefined) {
      stmt = db.prepare(query.sql);
      if (statements.size >= MAX_STATEMENTS) statements.clear();
      statements.set(query.sql, stmt);
    }
    // A statement that is not a reader can only fail here (SQLITE_READONLY); run it so it does.
    if (stmt.reader) return { id: query.id, rows: stmt.all(query.parameters as unknown[]) };
    return { id: query.id, changes: stmt.run(query.parameters as unknown[]).changes };
  } catch (err) {
    return { id: query.id, error: asThreadError(err) };
  }
}

port.on('message', (query: ReadQuery) => {
  const answer = run(query);
  try {
    port.postMessage(answer);
  } catch (err) {
    // A value structured cloning cannot carry (none come from SQLite, but never leave a query unanswered).
    port.postMessage({ id: query.id, error: asThreadError(err) } satisfies ReadAnswer);
  }
});
