import { statSync } from 'node:fs';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/store/database.js';
import { dropDatabase, freshDatabaseUrl, onPostgres } from '../helpers/database.js';

let url: string | undefined;
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  if (url) await dropDatabase(url);
  store = undefined;
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
