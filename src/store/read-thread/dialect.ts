import {
  Kysely, SqliteAdapter, SqliteIntrospector,
  type CompiledQuery, type DatabaseConnection, type Dialect, type Driver, type QueryResult,
} from 'kysely';
import type { Store } from '../database.js';
import type { Database } from '../schema.js';
import { BoundLimitCompiler } from '../sqlite-dialect.js';
import { ReadThreads, type ReadThreadOptions } from './host.js';

/** Transactions stay on the main connection: a read thread runs single statements. */
export class ReadThreadTransactionError extends Error {
  override readonly name = 'ReadThreadTransactionError';
}

class ReadThreadConnection implements DatabaseConnection {
  constructor(private readonly threads: ReadThreads) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.threads.query(compiled.sql, compiled.parameters);
    return 'rows' in result ? { rows: result.rows as R[] } : { rows: [], numAffectedRows: BigInt(result.changes) };
  }

  /** The whole result comes over at once, then is handed out in chunks. */
  async *streamQuery<R>(compiled: CompiledQuery, chunkSize = 100): AsyncIterableIterator<QueryResult<R>> {
    const { rows } = await this.executeQuery<R>(compiled);
    for (let i = 0; i < rows.length; i += chunkSize) yield { rows: rows.slice(i, i + chunkSize) };
  }
}

class ReadThreadDriver implements Driver {
  private readonly connection: ReadThreadConnection;

  constructor(private readonly threads: ReadThreads) {
    this.connection = new ReadThreadConnection(threads);
  }

  async init(): Promise<void> {}

  // No mutex as on the main connection: there are no transactions to keep apart, and the thread runs what it is sent in order.
  async acquireConnection(): Promise<DatabaseConnection> {
    return this.connection;
  }

  async beginTransaction(): Promise<void> {
    throw new ReadThreadTransactionError('a read thread runs single statements: run transactions on the main connection');
  }

  async commitTransaction(): Promise<void> {
    throw new ReadThreadTransactionError('a read thread has no transaction to commit');
  }

  async rollbackTransaction(): Promise<void> {
    throw new ReadThreadTransactionError('a read thread has no transaction to roll back');
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    await this.threads.close();
  }
}

/**
 * Kysely over read threads: queries are built and compiled on the calling thread as usual (SQLite's
 * compiler), and `{sql, parameters}` go to a thread with its own read-only connection, which sends
 * the rows back. `Kysely.destroy()` terminates the threads.
 */
export class ReadThreadDialect implements Dialect {
  constructor(readonly threads: ReadThreads) {}

  createDriver(): Driver {
    return new ReadThreadDriver(this.threads);
  }

  createQueryCompiler() {
    return new BoundLimitCompiler();
  }

  createAdapter() {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>) {
    return new SqliteIntrospector(db);
  }
}

const threadsOf = new WeakMap<Kysely<Database>, ReadThreads>();

/** Kysely over read threads on the SQLite file `path`. */
export function readThreadDb(path: string, options?: ReadThreadOptions): { db: Kysely<Database>; threads: ReadThreads } {
  const threads = new ReadThreads(path, options);
  const db = new Kysely<Database>({ dialect: new ReadThreadDialect(threads) });
  threadsOf.set(db, threads);
  return { db, threads };
}

/** The read threads behind a Kysely made by readThreadDb (or openReadDb); undefined for any other. */
export function readThreadsOf(db: Kysely<Database>): ReadThreads | undefined {
  return threadsOf.get(db);
}

/**
 * Two threads: measured at 1,000,000 messages (bench/RESULTS.md), a light read asked while 5 analytics
 * calls ran waited 6-14 ms for the idle thread instead of 190-330 ms behind them on one; the 5 calls took
 * as long either way (2 cores), and the second connection's page cache costs up to 64 MB more.
 */
const READ_THREADS = 2;

/**
 * Where heavy reads (listings, analytics) go: on a SQLite file, a read thread, so they do not hold
 * the event loop (better-sqlite3 is synchronous); on PostgreSQL (already asynchronous) and on an
 * in-memory SQLite database (which no other connection can open), the store's own `db`.
 * Reads that must see a transaction's own uncommitted writes stay on that transaction.
 */
export function openReadDb(databaseUrl: string, store: Store): Kysely<Database> {
  const path = store.dialect === 'sqlite' ? databaseUrl.slice('sqlite:'.length) : undefined;
  if (path === undefined || path === ':memory:' || path === '') return store.db;
  return readThreadDb(path, { threads: READ_THREADS }).db;
}
