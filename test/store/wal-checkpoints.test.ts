import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore, openSqlite, type Store } from '../../src/store/database.js';
import { WalCheckpoints } from '../../src/store/wal-checkpoints.js';
import { dropDatabase, freshDatabaseUrl, onPostgres } from '../helpers/database.js';

let url: string | undefined;
let store: Store | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await store?.close();
  if (url) await dropDatabase(url);
  store = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const until = async (check: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (check()) return true;
  return check();
};

describe.skipIf(onPostgres)('WAL checkpoints on their own thread', () => {
  it('commits never checkpoint, and the thread moves what they wrote into the database file', async () => {
    url = await freshDatabaseUrl();
    store = createStore(url);
    const path = url.slice('sqlite:'.length);
    const autocheckpoint = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db);
    expect(autocheckpoint.rows[0].wal_autocheckpoint).toBe(0);

    await sql`create table filler (id integer primary key, text text not null)`.execute(store.db);
    const before = statSync(path).size;
    // About 8 MB in small transactions: 2,000 WAL pages, twice what SQLite would checkpoint at on its own.
    const text = 'x'.repeat(4000);
    for (let i = 0; i < 2000; i++) await sql`insert into filler (text) values (${text})`.execute(store.db);

    // Only a checkpoint writes table pages into the database file itself.
    expect(await until(() => statSync(path).size > before + 7_000_000)).toBe(true);
  });
  // That closing the store ends the thread, and lets its process exit, is what test/store/migrations.test.ts's
  // processes show: each closes its store and must exit 0 (an unsettled wait on the thread exited 13).
});

/** A writer as the gateway opens one: WAL, no checkpoints of its own. */
function writer(path: string): BetterSqlite3.Database {
  const db = openSqlite(path);
  db.pragma('wal_autocheckpoint = 0');
  return db;
}

function freshDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wal-checkpoints-'));
  dirs.push(dir);
  const path = join(dir, 'gateway.db');
  const db = writer(path);
  db.exec('create table t (id integer primary key, v blob)');
  db.close();
  return path;
}

describe.skipIf(onPostgres)('WAL started over by the checkpoint thread', () => {
  it('starts a WAL over once it holds more than its limit, all copied: the next commit is written at its start', async () => {
    const path = freshDatabase();
    const a = writer(path);
    const insert = a.prepare('insert into t (v) values (randomblob(3000))');
    for (let i = 0; i < 50; i++) a.transaction(() => { for (let j = 0; j < 10; j++) insert.run(); })();
    const frames = (db: BetterSqlite3.Database) => (db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>)[0].log;
    const observer = writer(path);
    expect(frames(observer)).toBeGreaterThan(400);

    const checkpoints = new WalCheckpoints(path, { intervalMs: 5, restartAfterFrames: 100 });
    try {
      expect(await until(() => checkpoints.restarts > 0)).toBe(true);
      insert.run();
      expect(frames(observer)).toBeLessThan(20);
      expect((a.prepare('select count(*) n from t').get() as { n: number }).n).toBe(501);
    } finally {
      await checkpoints.close();
      observer.close();
      a.close();
    }
  });

  it('loses no commit while it starts the WAL over under two busy writers', async () => {
    const path = freshDatabase();
    const a = writer(path);
    const b = writer(path);
    const checkpoints = new WalCheckpoints(path, { intervalMs: 5, restartAfterFrames: 64 });
    let committed = 0;
    try {
      // The gateway's two writing threads, taking turns: one connection each, never both at once.
      const inserts = [a, b].map((db) => db.transaction(() => { for (let j = 0; j < 10; j++) db.prepare('insert into t (v) values (randomblob(3000))').run(); }));
      for (let i = 0; i < 4000 && (checkpoints.restarts < 3 || i < 1000); i++) {
        for (const insert of inserts) {
          for (;;) {
            try {
              insert();
              break;
            } catch (err) {
              // The checkpoint thread holds the write lock for a moment while it starts the WAL over.
              if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
              await new Promise((r) => setTimeout(r, 1));
            }
          }
          committed += 10;
          await new Promise((r) => setImmediate(r));
        }
      }
      expect(checkpoints.restarts).toBeGreaterThan(0);
    } finally {
      await checkpoints.close();
      b.close();
      a.close();
    }
    const reopened = writer(path);
    expect((reopened.prepare('select count(*) n from t').get() as { n: number }).n).toBe(committed);
    expect(reopened.pragma('integrity_check', { simple: true })).toBe('ok');
    reopened.close();
  });
});
