import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: DialectName;
  close(): Promise<void>;
}

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
  // FULL: a commit is on disk before the reply, even across power loss; group commit pays for it.
  raw.pragma(`synchronous = ${process.env.SQLITE_SYNCHRONOUS ?? 'FULL'}`);
  raw.pragma('busy_timeout = 5000');
  // Index pages stay in memory: inserts touch several indexes, and a miss is a read syscall.
  raw.pragma('cache_size = -65536');
  raw.pragma('temp_store = memory');
  raw.pragma('foreign_keys = OFF');
  return raw;
}

export function createStore(databaseUrl: string): Store {
  if (databaseUrl.startsWith('sqlite:')) {
    const raw = openSqlite(databaseUrl.slice('sqlite:'.length));
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingDatabase(raw) }) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  // BIGINT (our epoch-millisecond times) would otherwise arrive as strings.
  pg.types.setTypeParser(20, (v) => Number(v));
  pg.types.setTypeParser(1700, (v) => Number(v));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}
