import { CompiledQuery } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStore, type Store } from '../../src/store/database.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { migrate } from '../../src/store/migrations.js';
import { executeCompiled } from '../../src/store/sqlite-transactions.js';
import { dropDatabase, freshDatabaseUrl } from '../helpers/database.js';

let url: string;
let store: Store;
let commits: GroupCommit;

beforeEach(async () => {
  url = await freshDatabaseUrl();
  store = createStore(url);
  await migrate(store.db, store.dialect);
  commits = new GroupCommit(store.db, store.dialect, store.walSync);
});
afterEach(async () => {
  await store.close();
  await dropDatabase(url);
});

describe('executeCompiled', () => {
  it('runs on the connection inside a group commit on SQLite, and through Kysely anywhere else', async () => {
    const insert = store.dialect === 'sqlite' ? 'insert into secrets (name, value, created_at) values (?, ?, ?)' : 'insert into secrets (name, value, created_at) values ($1, $2, $3)';
    let viaKysely = 0;
    await commits.run(async (trx) => {
      const spy = vi.spyOn(trx, 'executeQuery');
      await executeCompiled(trx, insert, ['in-group', 'v', 1]);
      viaKysely = spy.mock.calls.length;
    });
    expect(viaKysely).toBe(store.dialect === 'sqlite' ? 0 : 1);

    const outside = vi.spyOn(store.db, 'executeQuery');
    await executeCompiled(store.db, insert, ['outside', 'v', 2]);
    expect(outside).toHaveBeenCalledTimes(1);
    outside.mockRestore();

    // The transaction is over: the statement goes through Kysely again, which refuses it.
    let ended: Parameters<Parameters<GroupCommit['run']>[0]>[0] | undefined;
    await commits.run(async (trx) => {
      ended = trx;
    });
    await expect(executeCompiled(ended!, insert, ['late', 'v', 3])).rejects.toThrow();
    expect((await store.db.selectFrom('secrets').select('name').orderBy('name').execute()).map((r) => r.name)).toEqual(['in-group', 'outside']);
  });

  it('answers as Kysely\'s driver does, for writes and for reads', async () => {
    const p = (n: number) => (store.dialect === 'sqlite' ? '?' : `$${n}`);
    const statements: Array<[string, unknown[]]> = [
      [`insert into secrets (name, value, created_at) values (${p(1)}, ${p(2)}, ${p(3)}), (${p(4)}, ${p(5)}, ${p(6)})`, ['a', 'x', 1, 'b', 'y', 2]],
      [`update secrets set value = ${p(1)} where created_at < ${p(2)}`, ['z', 10]],
      [`select name, value from secrets order by name`, []],
      [`delete from secrets where name = ${p(1)}`, ['nobody']],
    ];
    const direct = await commits.run(async (trx) => {
      const answers = [];
      for (const [sql, parameters] of statements) answers.push(await executeCompiled(trx, sql, parameters));
      await trx.deleteFrom('secrets').execute();
      return answers;
    });
    const kysely = await commits.run(async (trx) => {
      const answers = [];
      for (const [sql, parameters] of statements) answers.push(await trx.executeQuery(CompiledQuery.raw(sql, parameters)));
      return answers;
    });
    expect(direct).toEqual(kysely);
    expect(direct[1].numAffectedRows).toBe(2n);
    expect(direct[2].rows).toEqual([{ name: 'a', value: 'z' }, { name: 'b', value: 'z' }]);
  });

  it('fails as a rejected promise, which fails only its own job', async () => {
    const results = await Promise.allSettled([
      commits.run((trx) => executeCompiled(trx, store.dialect === 'sqlite' ? 'insert into secrets (name, value, created_at) values (?, ?, ?)' : 'insert into secrets (name, value, created_at) values ($1, $2, $3)', ['kept', 'v', 1])),
      commits.run(async (trx) => {
        const answer = executeCompiled(trx, 'insert into no_such_table values (1)', []);
        expect(answer).toBeInstanceOf(Promise);
        await answer;
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((await store.db.selectFrom('secrets').select('name').execute()).map((r) => r.name)).toEqual(['kept']);
  });
});
