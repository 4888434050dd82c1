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
    // Watched from outside the job: a failed expect inside it would only reject the job, as expected anyway.
    let thrown: unknown;
    let answer: Promise<unknown> | undefined;
    const results = await Promise.allSettled([
      commits.run((trx) => executeCompiled(trx, store.dialect === 'sqlite' ? 'insert into secrets (name, value, created_at) values (?, ?, ?)' : 'insert into secrets (name, value, created_at) values ($1, $2, $3)', ['kept', 'v', 1])),
      commits.run(async (trx) => {
        try {
          answer = executeCompiled(trx, 'insert into no_such_table values (1)', []);
        } catch (err) {
          thrown = err;
        }
        await answer;
      }),
    ]);
    expect(thrown).toBeUndefined();
    expect(answer).toBeInstanceOf(Promise);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/no_such_table/);
    expect((await store.db.selectFrom('secrets').select('name').execute()).map((r) => r.name)).toEqual(['kept']);
  });

  it('reads its own writes either way within a job, and a job that fails in its savepoint leaves none of them', async () => {
    const p = (n: number) => (store.dialect === 'sqlite' ? '?' : `$${n}`);
    const insert = `insert into secrets (name, value, created_at) values (${p(1)}, ${p(2)}, ${p(3)})`;
    const seen = await commits.run(async (trx) => {
      await executeCompiled(trx, insert, ['first', 'direct', 1]);
      const afterDirect = (await trx.selectFrom('secrets').select('name').execute()).map((r) => r.name);
      await trx.insertInto('secrets').values({ name: 'second', value: 'kysely', created_at: 2 }).execute();
      const { rows } = await executeCompiled<{ name: string }>(trx, 'select name from secrets order by name', []);
      await trx.updateTable('secrets').set({ value: 'changed' }).where('name', '=', 'first').execute();
      const { rows: changed } = await executeCompiled<{ value: string }>(trx, `select value from secrets where name = ${p(1)}`, ['first']);
      return { afterDirect, both: rows.map((r) => r.name), changed: changed[0].value };
    });
    expect(seen).toEqual({ afterDirect: ['first'], both: ['first', 'second'], changed: 'changed' });

    const results = await Promise.allSettled([
      commits.mayFail(async (trx) => {
        await executeCompiled(trx, insert, ['undone', 'v', 3]);
        await trx.insertInto('secrets').values({ name: 'undone too', value: 'v', created_at: 4 }).execute();
        throw new Error('not found');
      }),
      commits.run((trx) => executeCompiled(trx, insert, ['beside', 'v', 5])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect((await store.db.selectFrom('secrets').select('name').orderBy('name').execute()).map((r) => r.name)).toEqual(['beside', 'first', 'second']);
  });
});
