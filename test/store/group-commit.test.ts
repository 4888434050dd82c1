import { CompiledQuery } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createStore, openSqlite, type Store } from '../../src/store/database.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import type { WalSync } from '../../src/store/wal-sync.js';
import { WriteTurn } from '../../src/store/write-turn.js';
import { migrate } from '../../src/store/migrations.js';
import { insertRows } from '../../src/store/message-store.js';
import { executeCompiled } from '../../src/store/sqlite-transactions.js';
import { dropDatabase, freshDatabaseUrl, onPostgres } from '../helpers/database.js';

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

const secret = (name: string) => ({ name, value: 'v', created_at: 1 });

describe('GroupCommit', () => {
  it('commits concurrent jobs together and isolates a failing one', async () => {
    await insertRows(store.db, 'secrets', [secret('taken')]);
    const results = await Promise.allSettled([
      commits.run((trx) => insertRows(trx, 'secrets', [secret('a')])),
      commits.run((trx) => insertRows(trx, 'secrets', [secret('taken')])),
      commits.run((trx) => insertRows(trx, 'secrets', [secret('b'), secret('c')])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const names = (await store.db.selectFrom('secrets').select('name').orderBy('name').execute()).map((r) => r.name);
    expect(names).toEqual(['a', 'b', 'c', 'taken']);
  });

  it('a job that may fail fails alone, within the group, after writing', async () => {
    const results = await Promise.allSettled([
      commits.run((trx) => insertRows(trx, 'secrets', [secret('a')])),
      commits.mayFail(async (trx) => {
        await insertRows(trx, 'secrets', [secret('half')]);
        throw new Error('not found');
      }),
      commits.run((trx) => insertRows(trx, 'secrets', [secret('b')])),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const names = (await store.db.selectFrom('secrets').select('name').orderBy('name').execute()).map((r) => r.name);
    expect(names).toEqual(['a', 'b']);
  });

  it('a job that throws leaves nothing of itself behind', async () => {
    await expect(commits.run(async (trx) => {
      await insertRows(trx, 'secrets', [secret('half')]);
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    expect(await store.db.selectFrom('secrets').selectAll().execute()).toEqual([]);
  });

  it('runs a job\'s after-commit effects once its writes are committed, once, and never a rolled-back job\'s', async () => {
    await insertRows(store.db, 'secrets', [secret('taken')]);
    const counted: string[] = [];
    const results = await Promise.allSettled([
      // Written, then run again alone when the group fails on the next job: counted once.
      commits.run(async (trx) => {
        await insertRows(trx, 'secrets', [secret('a')]);
        commits.afterCommit(trx, () => counted.push('a'));
      }),
      commits.run(async (trx) => {
        commits.afterCommit(trx, () => counted.push('taken'));
        await insertRows(trx, 'secrets', [secret('taken')]);
      }),
      commits.run(async (trx) => {
        await insertRows(trx, 'secrets', [secret('b')]);
        commits.afterCommit(trx, () => counted.push('b'));
        return counted.length;
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(counted.sort()).toEqual(['a', 'b']);
    // Not before the commit: the job's own value was taken while the effects were still waiting
    // (on PostgreSQL, where each job commits on its own, the first job's may have run).
    expect((results[2] as PromiseFulfilledResult<number>).value).toBeLessThan(store.dialect === 'sqlite' ? 1 : 2);
  });

  it('drops the effects of a job that may fail and fails, keeping its group\'s', async () => {
    const counted: string[] = [];
    const results = await Promise.allSettled([
      commits.run(async (trx) => {
        await insertRows(trx, 'secrets', [secret('a')]);
        commits.afterCommit(trx, () => counted.push('a'));
      }),
      commits.mayFail(async (trx) => {
        await insertRows(trx, 'secrets', [secret('half')]);
        commits.afterCommit(trx, () => counted.push('half'));
        throw new Error('not found');
      }),
      commits.run(async (trx) => {
        commits.afterCommit(trx, () => counted.push('b'));
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(counted.sort()).toEqual(['a', 'b']);
    // Given a transaction that is not one of its jobs', it runs the effect at once.
    await store.db.transaction().execute(async (trx) => commits.afterCommit(trx, () => counted.push('elsewhere')));
    expect(counted).toContain('elsewhere');
  });

  it.skipIf(onPostgres)('on SQLite, a failed WAL sync fails the group\'s jobs, yet counts what they committed and keeps a failed job\'s own error', async () => {
    const failingSync = { sync: () => Promise.reject(new Error('EIO: fdatasync')) } as unknown as WalSync;
    const unsynced = new GroupCommit(store.db, store.dialect, failingSync);
    const counted: string[] = [];
    const results = await Promise.allSettled([
      unsynced.run(async (trx) => {
        await insertRows(trx, 'secrets', [secret('a')]);
        unsynced.afterCommit(trx, () => counted.push('a'));
      }),
      unsynced.mayFail(async (trx) => {
        unsynced.afterCommit(trx, () => counted.push('refused'));
        throw new Error('not found');
      }),
    ]);
    expect(results.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual(['EIO: fdatasync', 'not found']);
    // The row is in the database, and the counters follow the rows.
    expect((await store.db.selectFrom('secrets').select('name').execute()).map((r) => r.name)).toEqual(['a']);
    expect(counted).toEqual(['a']);
  });

  it('answers every job of a group whose effect throws, runs the others\' effects, and logs the throw', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const counted: string[] = [];
      const results = await Promise.allSettled([
        commits.run(async (trx) => {
          await insertRows(trx, 'secrets', [secret('a')]);
          commits.afterCommit(trx, () => { throw new Error('counter bug'); });
          commits.afterCommit(trx, () => counted.push('a'));
        }),
        commits.run(async (trx) => {
          await insertRows(trx, 'secrets', [secret('b')]);
          commits.afterCommit(trx, () => counted.push('b'));
        }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(counted.sort()).toEqual(['a', 'b']);
      expect(logged.mock.calls.map((c) => c.join(' ')).some((line) => line.includes('after-commit effect failed') && line.includes('counter bug'))).toBe(true);
    } finally {
      logged.mockRestore();
    }
  });

  it('returns each job\'s own value', async () => {
    const values = await Promise.all([1, 2, 3].map((n) => commits.run(async () => n * 10)));
    expect(values).toEqual([10, 20, 30]);
  });
});

describe('insertRows', () => {
  it('inserts more rows than one statement can bind, with every column in place', async () => {
    const rows = Array.from({ length: 12_000 }, (_, i) => ({ name: `k${i}`, value: `v${i}`, created_at: i }));
    await insertRows(store.db, 'secrets', rows);
    const count = await store.db.selectFrom('secrets').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(12_000);
    expect(await store.db.selectFrom('secrets').selectAll().where('name', '=', 'k11999').executeTakeFirst()).toEqual({ name: 'k11999', value: 'v11999', created_at: 11999 });
  });

  it('on SQLite, waits for another connection\'s write lock on timers: the event loop goes on meanwhile', async () => {
    if (!url.startsWith('sqlite:')) return;
    // Another connection (the dispatch thread, another process) holds the write lock for a while.
    const other = openSqlite(url.slice('sqlite:'.length));
    other.prepare('begin immediate').run();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const started = Date.now();
    const job = commits.run((trx) => insertRows(trx, 'secrets', [secret('after-the-lock')]));
    await new Promise((r) => setTimeout(r, 300));
    // SQLite's own wait (busy_timeout) would have slept this thread: no tick, no timer, until the lock was free.
    expect(ticks).toBeGreaterThan(10);
    other.prepare('commit').run();
    await job;
    clearInterval(ticker);
    other.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await store.db.selectFrom('secrets').select('name').where('name', '=', 'after-the-lock').execute()).toHaveLength(1);
  });

  it.skipIf(onPostgres)('on SQLite, a group waiting for the write turn starts as soon as a new job arrives after the other thread handed it over', async () => {
    const turn = WriteTurn.create();
    const dispatchThread = new WriteTurn(turn.buffer, 2);
    const withTurn = new GroupCommit(store.db, store.dialect, undefined, turn);
    await dispatchThread.acquire();
    let ran = false;
    const first = withTurn.run(async (trx) => {
      ran = true;
      await insertRows(trx, 'secrets', [secret('first')]);
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(ran).toBe(false);
    dispatchThread.release();
    // A request's job, in the same task as the handover: the waiting group goes on in microtasks, before any task runs.
    const second = withTurn.run((trx) => insertRows(trx, 'secrets', [secret('second')]));
    for (let i = 0; i < 50 && !ran; i++) await Promise.resolve();
    expect(ran).toBe(true);
    await Promise.all([first, second]);
  });

  it('on SQLite, gives up after busy_timeout\'s five seconds like SQLite would', async () => {
    if (!url.startsWith('sqlite:')) return;
    const other = openSqlite(url.slice('sqlite:'.length));
    other.prepare('begin immediate').run();
    try {
      await expect(commits.run((trx) => insertRows(trx, 'secrets', [secret('never')]))).rejects.toThrow(/being written by another connection/);
    } finally {
      other.prepare('rollback').run();
      other.close();
    }
  }, 15_000);
});

describe('executeCompiled (statements written out, in a group: sqlite-transactions.ts)', () => {
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
