import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrations.js';
import { PreparedStatement } from '../../src/store/prepared-statement.js';
import { dropDatabase, freshDatabaseUrl } from '../helpers/database.js';

let url: string;
let store: Store;

beforeEach(async () => {
  url = await freshDatabaseUrl();
  store = createStore(url);
  await migrate(store.db, store.dialect);
});
afterEach(async () => {
  await store.close();
  await dropDatabase(url);
});

describe('PreparedStatement', () => {
  it('compiles once and binds fresh arguments by position, keeping the values the query holds', async () => {
    const insert = new PreparedStatement((db, name: string, createdAt: number) => db.insertInto('secrets').values({ name, value: 'fixed', created_at: createdAt }));
    const byName = new PreparedStatement((db, name: string, after: number) =>
      db.selectFrom('secrets').selectAll().where('value', '=', 'fixed').where('created_at', '>', after).where('name', '=', name));
    for (let i = 0; i < 3; i++) expect(Number((await insert.execute(store.db, `k${i}`, 10 + i)).numAffectedRows)).toBe(1);
    expect(insert.sql(store.db, 2)).toMatch(/^insert into "secrets"/);
    expect((await byName.execute(store.db, 'k1', 0)).rows).toEqual([{ name: 'k1', value: 'fixed', created_at: 11 }]);
    expect((await byName.execute(store.db, 'k1', 11)).rows).toEqual([]);
    expect((await byName.execute(store.db, 'k2', 11)).rows).toEqual([{ name: 'k2', value: 'fixed', created_at: 12 }]);
  });

  it('runs in a transaction, reports changed rows, and takes raw SQL with an argument used more than once', async () => {
    const touch = new PreparedStatement((db, at: number, prefix: string) => db.updateTable('secrets').set({ created_at: at }).where('name', '>=', prefix));
    const twice = new PreparedStatement((_db, n: number) => sql<{ a: number; b: number }>`select ${n} + 0 as a, ${n} + 1 as b`);
    await store.db.insertInto('secrets').values([{ name: 'a', value: 'v', created_at: 1 }, { name: 'b', value: 'v', created_at: 1 }]).execute();
    const changed = await store.db.transaction().execute((trx) => touch.execute(trx, 5, 'b'));
    expect(Number(changed.numAffectedRows)).toBe(1);
    expect((await store.db.selectFrom('secrets').select(['name', 'created_at']).orderBy('name').execute())).toEqual([{ name: 'a', created_at: 1 }, { name: 'b', created_at: 5 }]);
    const [row] = (await twice.execute(store.db, 41)).rows;
    expect([Number(row.a), Number(row.b)]).toEqual([41, 42]);
  });

  it('refuses a query that does not bind an argument as it was given', async () => {
    // The argument is made part of another value: what runs later could not carry a fresh one.
    const prefixed = new PreparedStatement((db, prefix: string) => db.selectFrom('secrets').selectAll().where('name', 'like', `${prefix}%`));
    await expect(prefixed.execute(store.db, 'k')).rejects.toThrow(/binds 0 of its 1 arguments/);
  });
});
