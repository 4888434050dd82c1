import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrations.js';
import { readThreadDb } from '../../src/store/read-thread/dialect.js';

let store: Store;

beforeEach(async () => {
  store = createStore('sqlite::memory:');
  await migrate(store.db, store.dialect);
  await store.db.insertInto('secrets').values(['a', 'b', 'c', 'd', 'e'].map((name, i) => ({ name, value: 'v', created_at: i }))).execute();
});
afterEach(() => store.close());

describe('the SQLite dialect', () => {
  it('binds a LIMIT behind a unary plus, so SQLite does not compile the statement again at each run', async () => {
    // The store's connection, and the read threads' (the message log and analytics read there).
    const reads = readThreadDb(join(tmpdir(), 'never-opened.db')).db;
    for (const db of [store.db, reads]) {
      const query = db.selectFrom('secrets').select('name').orderBy('name').limit(2).offset(1).compile();
      expect(query.sql).toBe('select "name" from "secrets" order by "name" limit +? offset ?');
      expect(query.parameters).toEqual([2, 1]);
    }
    await reads.destroy();
  });

  it('still limits: in a page, as 0, and in an UPDATE of the rows a limited subquery picks', async () => {
    const names = async (limit: number, offset = 0) => (await store.db.selectFrom('secrets').select('name').orderBy('name').limit(limit).offset(offset).execute()).map((r) => r.name);
    expect(await names(2)).toEqual(['a', 'b']);
    expect(await names(2, 3)).toEqual(['d', 'e']);
    expect(await names(0)).toEqual([]);
    // The dispatcher's claim has this shape: one statement, cached, run with a new limit each round.
    const claim = (limit: number) => store.db.updateTable('secrets').set({ value: 'taken' })
      .where('name', 'in', store.db.selectFrom('secrets').select('name').where('value', '=', 'v').orderBy('name').limit(limit))
      .returning('name').execute();
    expect((await claim(2)).map((r) => r.name).sort()).toEqual(['a', 'b']);
    expect((await claim(1)).map((r) => r.name)).toEqual(['c']);
    expect((await claim(5)).map((r) => r.name).sort()).toEqual(['d', 'e']);
  });
});
