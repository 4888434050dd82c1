import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { WalSync } from './wal-sync.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: DialectName;
  /** SQLite with durable commits: what the group commit awaits before it answers. */
  walSync?: WalSync;
  close(): Promise<void>;
}

/**
 * `full`: a reply means the rows survive power loss (WAL fdatasync'd, off the event loop).
 * `normal`: they survive a crash of the process, not of the machine.
 */
export type SqliteDurability = 'full' | 'normal';

/**
 * better-sqlite3 compiles a statement on every `prepare`; Kysely prepares per query.
 * Caching by SQL text means each distinct query is compiled once per process.
 */
function cachingDatabase(raw: BetterSqlite3.Database) {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare(text: string) {
      // Every transaction here writes. BEGIN IMMEDIATE takes the write lock up front, so with several
      // processes on one file a busy writer is waited for (busy_timeout) instead of failing the
      // transaction with SQLITE_BUSY when a deferred reader tries to upgrade.
      const sql = text === 'begin' ? 'begin immediate' : text;
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
  raw.pragma('busy_timeout = 5000');
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

export function createStore(databaseUrl: string, durability: SqliteDurability = 'full', pool: PoolSettings = { size: 10, statementTimeoutMs: 30_000 }): Store {
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    const raw = openSqlite(path);
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingDatabase(raw) }) });
    const walSync = durability === 'full' && path !== ':memory:' ? new WalSync(`${path}-wal`) : undefined;
    return {
      db, dialect: 'sqlite', walSync,
      async close() {
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
