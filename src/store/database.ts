import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { GatewaySqliteDialect } from './sqlite-dialect.js';
import { registerSqliteConnection } from './sqlite-transactions.js';
import { WalCheckpoints } from './wal-checkpoints.js';
import { WalSync } from './wal-sync.js';
import { WriteTurn } from './write-turn.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: DialectName;
  /** SQLite with durable commits: what the group commit awaits before it answers. */
  walSync?: WalSync;
  /** SQLite on disk: the turn this thread takes before it writes, shared with a dispatch thread (see WriteTurn). */
  writeTurn?: WriteTurn;
  close(): Promise<void>;
}

/**
 * `full`: a reply means the rows survive power loss (WAL fdatasync'd, off the event loop).
 * `normal`: they survive a crash of the process, not of the machine.
 */
export type SqliteDurability = 'full' | 'normal';

/**
 * Another connection (the dispatch thread, another process) holds SQLite's write lock. Thrown by
 * a transaction's BEGIN instead of waiting for it: SQLite's own wait (busy_timeout) sleeps the
 * thread, and with it every request on its event loop. The group commit waits instead.
 */
export class WriteLockBusyError extends Error {
  override readonly name = 'WriteLockBusyError';
}

const BUSY_TIMEOUT_MS = 5000;

/**
 * better-sqlite3 compiles a statement on every `prepare`; Kysely prepares per query.
 * Caching by SQL text means each distinct query is compiled once per process.
 */
function cachingDatabase(raw: BetterSqlite3.Database) {
  const statements = new Map<string, BetterSqlite3.Statement>();
  // Every transaction here writes (they all come from the group commit). BEGIN IMMEDIATE takes the
  // write lock up front, so a busy writer is found at BEGIN, before any work, rather than failing a
  // deferred transaction halfway when its reads try to upgrade. It is tried without SQLite's wait:
  // see WriteLockBusyError. Everything else keeps busy_timeout's wait.
  // Prepared once: this runs for every transaction (raw.pragma() would compile each time).
  const begin = raw.prepare('begin immediate');
  const noWait = raw.prepare('pragma busy_timeout = 0');
  const wait = raw.prepare(`pragma busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const beginWithoutWaiting = {
    reader: false as const,
    run() {
      noWait.get();
      try {
        return begin.run();
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new WriteLockBusyError('the database is being written by another connection');
        throw err;
      } finally {
        wait.get();
      }
    },
  };
  return {
    prepare(sql: string) {
      // Kysely only calls `run` on a statement that is not a reader.
      if (sql === 'begin') return beginWithoutWaiting as unknown as BetterSqlite3.Statement;
      let stmt = statements.get(sql);
      if (stmt === undefined) {
        stmt = raw.prepare(sql);
        // Multi-row inserts vary in width; keep the cache from growing without bound.
        if (statements.size > 2000) statements.clear();
        statements.set(sql, stmt);
      }
      return stmt;
    },
    close() {
      raw.close();
    },
  };
}

export function openSqlite(path: string): BetterSqlite3.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new BetterSqlite3(path);
  raw.pragma('journal_mode = WAL');
  // Commits never fsync on the event loop; durability is WalSync's job (see createStore).
  raw.pragma('synchronous = NORMAL');
  raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Index pages stay in memory: inserts touch several indexes, and a miss is a read syscall.
  raw.pragma('cache_size = -65536');
  raw.pragma('temp_store = memory');
  raw.pragma('foreign_keys = OFF');
  return raw;
}

/** PostgreSQL connections per process, and how long one statement may run before the server stops it. */
export interface PoolSettings {
  size: number;
  statementTimeoutMs: number;
}

/** The dispatch thread's side of the main thread's write turn (see WriteTurn). */
export interface SharedWriteTurn {
  buffer: SharedArrayBuffer;
  party: 2;
}

export function createStore(databaseUrl: string, durability: SqliteDurability = 'full', pool: PoolSettings = { size: 10, statementTimeoutMs: 30_000 }, sharedTurn?: SharedWriteTurn): Store {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    const raw = openSqlite(path);
    const onDisk = path !== ':memory:';
    // Checkpoints run on their own thread (see WalCheckpoints), not inside this connection's commits.
    if (onDisk) raw.pragma('wal_autocheckpoint = 0');
    // A dispatch thread's connection leaves them to the main thread's store.
    const checkpoints = onDisk && !sharedTurn ? new WalCheckpoints(path) : undefined;
    const statements = cachingDatabase(raw);
    const db = new Kysely<Database>({ dialect: new GatewaySqliteDialect({ database: statements }) });
    registerSqliteConnection(db, statements);
    const walSync = durability === 'full' && onDisk ? new WalSync(`${path}-wal`) : undefined;
    const writeTurn = !onDisk ? undefined : sharedTurn ? new WriteTurn(sharedTurn.buffer, sharedTurn.party) : WriteTurn.create();
    return {
      db, dialect: 'sqlite', walSync, writeTurn,
      async close() {
        await checkpoints?.close();
        await db.destroy();
        await walSync?.close();
      },
    };
  }
  // BIGINT (our epoch-millisecond times) would otherwise arrive as strings.
  pg.types.setTypeParser(20, (v) => Number(v));
  pg.types.setTypeParser(1700, (v) => Number(v));
  // A statement stuck behind a lock or a bad plan must not hold a connection (and a claim) forever.
  const connections = new pg.Pool({ connectionString: databaseUrl, max: pool.size, statement_timeout: pool.statementTimeoutMs });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: connections }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/**
 * Runs `transaction` until it gets SQLite's write lock: first, with a dispatch thread beside this one,
 * this thread's turn (see WriteTurn: the two threads hand the lock over instead of polling for it);
 * then, while another process holds the lock, waits on timers (1 ms, doubling to 16 ms) so this
 * thread's event loop goes on serving; gives up after busy_timeout's 5 s, as SQLite would have.
 */
export async function whenWriteLockFree<T>(transaction: () => Promise<T>, turn?: WriteTurn): Promise<T> {
  if (turn === undefined) return retryWhileLocked(transaction);
  await turn.acquire();
  try {
    return await retryWhileLocked(transaction);
  } finally {
    turn.release();
  }
}

async function retryWhileLocked<T>(transaction: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + BUSY_TIMEOUT_MS;
  for (let waitMs = 1; ; waitMs = Math.min(16, waitMs * 2)) {
    try {
      return await transaction();
    } catch (err) {
      if (!(err instanceof WriteLockBusyError) || Date.now() >= giveUpAt) throw err;
    }
    await new Promise((r) => setTimeout(r, waitMs));
  }
}
