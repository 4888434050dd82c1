/**
 * The read-thread dialect (src/store/read-thread/): Kysely queries compiled here, run on a worker
 * thread's read-only connection to the same SQLite file, rows sent back. Independent of
 * TEST_DATABASE: a read thread exists only for SQLite files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { openReadDb, readThreadDb, ReadThreadTransactionError } from '../../src/store/read-thread/dialect.js';
import { ReadThreadClosedError, ReadThreadExitedError, type ReadThreads } from '../../src/store/read-thread/host.js';

const dir = mkdtempSync(join(tmpdir(), 'smsgw-read-thread-'));
const path = join(dir, 'gateway.db');
let store: Store;
let reads: { db: Kysely<Database>; threads: ReadThreads };

/** A statement that keeps a thread busy about `ms` (a recursive count, calibrated below). */
let busyRows = 200_000;
const busyQuery = (db: Kysely<Database>, rows = busyRows) =>
  sql<{ n: number }>`with recursive c(x) as (select 1 union all select x + 1 from c where x < ${rows}) select count(*) as n from c`.execute(db);

beforeAll(async () => {
  store = createStore(`sqlite:${path}`, 'normal');
  await migrate(store.db, 'sqlite');
  await sql`create table samples (id integer primary key, label text, amount real, big integer, note text)`.execute(store.db);
  reads = readThreadDb(path);
  // About 300 ms of work on the thread, whatever this machine's speed (timed once the thread runs).
  // The fastest of 3 timings: a loaded machine only slows it, and a slow calibration would make short reads later.
  await sql`select 1`.execute(reads.db);
  let ms = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await busyQuery(reads.db, 200_000);
    ms = Math.min(ms, performance.now() - t);
  }
  busyRows = Math.max(200_000, Math.round(200_000 * (300 / Math.max(1, ms))));
}, 60_000);

afterAll(async () => {
  await reads?.db.destroy();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await sql`delete from samples`.execute(store.db);
});

describe('queries on the read thread', () => {
  it('selects with parameters, and gives numbers, nulls and strings as the main connection does', async () => {
    await store.db.insertInto('samples' as never).values([
      { id: 1, label: 'plain', amount: 0.0079, big: 2 ** 53 - 1, note: null },
      { id: 2, label: 'ünïcödé ✓ 😀', amount: -12.5, big: 0, note: '' },
      { id: 3, label: "it's \"quoted\"", amount: 1e-9, big: -(2 ** 40), note: 'x'.repeat(100_000) },
    ] as never).execute();
    const q = (db: Kysely<Database>) => db.selectFrom('samples' as never).selectAll().where(sql.ref('id'), '>=', 1).orderBy(sql.ref('id')).execute();
    const [onThread, onMain] = await Promise.all([q(reads.db), q(store.db)]);
    expect(onThread).toEqual(onMain);
    expect(onThread).toHaveLength(3);
    expect(onThread[0]).toEqual({ id: 1, label: 'plain', amount: 0.0079, big: 2 ** 53 - 1, note: null });
    expect(typeof (onThread[0] as { big: unknown }).big).toBe('number');

    // Parameters of each kind, and a query that finds nothing.
    const byLabel = await reads.db.selectFrom('samples' as never).select(sql.ref('id').as('id')).where(sql.ref('label'), '=', 'ünïcödé ✓ 😀').execute();
    expect(byLabel).toEqual([{ id: 2 }]);
    const byNull = await sql<{ n: number }>`select count(*) as n from samples where note is ${null}`.execute(reads.db);
    expect(byNull.rows).toEqual([{ n: 1 }]);
    const byIn = await reads.db.selectFrom('samples' as never).select(sql.ref('id').as('id')).where(sql.ref('id'), 'in', [1, 3]).orderBy(sql.ref('id')).execute();
    expect(byIn).toEqual([{ id: 1 }, { id: 3 }]);
    expect(await reads.db.selectFrom('samples' as never).selectAll().where(sql.ref('id'), '=', 99).execute()).toEqual([]);
  });

  it('reads the gateway tables through the same Kysely code, and sees what the main connection committed at once', async () => {
    expect(await reads.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).toEqual({ n: 0 });
    for (let i = 1; i <= 20; i++) {
      await store.db.insertInto('samples' as never).values({ id: i, label: `row ${i}` } as never).execute();
      // Every write is visible to the very next read on the other connection.
      const seen = await sql<{ n: number }>`select count(*) as n from samples`.execute(reads.db);
      expect(seen.rows[0].n).toBe(i);
    }
    await store.db.transaction().execute(async (trx) => {
      await trx.insertInto('samples' as never).values({ id: 100, label: 'in a transaction' } as never).execute();
      // Not committed yet: the read thread does not see it (reads of a transaction's own writes belong on the transaction).
      const seen = await sql<{ n: number }>`select count(*) as n from samples where id = 100`.execute(reads.db);
      expect(seen.rows[0].n).toBe(0);
    });
    expect((await sql<{ n: number }>`select count(*) as n from samples where id = 100`.execute(reads.db)).rows[0].n).toBe(1);
  });

  it('answers concurrent queries each with its own rows', async () => {
    await store.db.insertInto('samples' as never).values(Array.from({ length: 200 }, (_, i) => ({ id: i + 1, label: `label ${i + 1}`, amount: i / 7 })) as never).execute();
    const ids = Array.from({ length: 200 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    const answers = await Promise.all(ids.map((id) => sql<{ id: number; label: string; amount: number }>`select id, label, amount from samples where id = ${id}`.execute(reads.db)));
    answers.forEach((a, k) => expect(a.rows).toEqual([{ id: ids[k], label: `label ${ids[k]}`, amount: (ids[k] - 1) / 7 }]));
  });
});

describe('errors', () => {
  it('a SQLite error comes back as the SqliteError the main connection would throw, with its code', async () => {
    const caught = async (db: Kysely<Database>, query: ReturnType<typeof sql>) => {
      try {
        await query.execute(db);
      } catch (err) {
        return err as Error & { code: string };
      }
      throw new Error('no error');
    };
    const onThread = await caught(reads.db, sql`select * from no_such_table`);
    const onMain = await caught(store.db, sql`select * from no_such_table`);
    expect(onThread).toBeInstanceOf(BetterSqlite3.SqliteError);
    expect(onThread.name).toBe('SqliteError');
    expect(onThread.code).toBe(onMain.code);
    expect(onThread.message).toBe(onMain.message);
    // The stack points at the caller, not at the thread.
    expect(onThread.stack).toContain('read-thread.test.ts');

    const syntax = await caught(reads.db, sql`selec 1`);
    expect(syntax).toBeInstanceOf(BetterSqlite3.SqliteError);
    expect(syntax.code).toBe('SQLITE_ERROR');
    // The connection is read-only: a write is refused, not made.
    const write = await caught(reads.db, sql`insert into samples (id, label) values (1, 'no')`);
    expect(write).toBeInstanceOf(BetterSqlite3.SqliteError);
    expect(write.code).toBe('SQLITE_READONLY');
    expect((await sql<{ n: number }>`select count(*) as n from samples`.execute(store.db)).rows[0].n).toBe(0);
    // And the thread goes on answering.
    expect((await sql<{ one: number }>`select 1 as one`.execute(reads.db)).rows).toEqual([{ one: 1 }]);
  });

  it('a transaction is refused: transactions stay on the main connection', async () => {
    await expect(reads.db.transaction().execute(async (trx) => sql`select 1`.execute(trx))).rejects.toBeInstanceOf(ReadThreadTransactionError);
  });

  it('a parameter that cannot cross threads fails that query alone', async () => {
    await expect(reads.db.executeQuery(CompiledQuery.raw('select ? as f', [() => 1]))).rejects.toThrow(/could not be cloned/);
    expect((await sql<{ one: number }>`select 1 as one`.execute(reads.db)).rows).toEqual([{ one: 1 }]);
  });

  it('a file that cannot be opened fails each query with the error opening it here would give, and does not stop the process', async () => {
    for (const missing of [join(dir, 'missing.db'), join(dir, 'no-such-dir', 'missing.db')]) {
      let here: Error | undefined;
      try {
        new BetterSqlite3(missing, { readonly: true, fileMustExist: true }).close();
      } catch (err) {
        here = err as Error;
      }
      expect(here).toBeDefined();
      const thread = readThreadDb(missing);
      try {
        for (let i = 0; i < 2; i++) {
          const err = await sql`select 1`.execute(thread.db).then(() => undefined, (e: Error) => e);
          expect(err?.constructor).toBe(here!.constructor);
          expect(err).toMatchObject({ name: here!.name, message: here!.message });
          expect((err as { code?: string }).code).toBe((here as { code?: string }).code);
        }
      } finally {
        await thread.db.destroy();
      }
    }
  });
});

describe('the thread dies, or is closed', () => {
  it('queries in flight when the thread dies fail with ReadThreadExitedError; the next query starts a new thread', async () => {
    await busyQuery(reads.db, 10);
    const [first] = reads.threads.workers;
    expect(first).toBeDefined();
    const inFlight = [busyQuery(reads.db), busyQuery(reads.db, 10), sql`select 1`.execute(reads.db)];
    const outcomes = Promise.allSettled(inFlight);
    await new Promise((r) => setTimeout(r, 50));
    await first.terminate();
    for (const outcome of await outcomes) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(ReadThreadExitedError);
    }
    const again = await sql<{ one: number }>`select 1 as one`.execute(reads.db);
    expect(again.rows).toEqual([{ one: 1 }]);
    expect(reads.threads.workers).toHaveLength(1);
    expect(reads.threads.workers[0]).not.toBe(first);
  }, 30_000);

  it('with two threads, a short query goes to the idle thread instead of waiting behind a long one', async () => {
    const two = readThreadDb(path, { threads: 2 });
    try {
      await Promise.all([sql`select 1`.execute(two.db), sql`select 1`.execute(two.db)]);
      expect(two.threads.workers).toHaveLength(2);
      const t = performance.now();
      const long = busyQuery(two.db).then(() => performance.now() - t);
      const short = await sql<{ one: number }>`select 1 as one`.execute(two.db).then(() => performance.now() - t);
      const longMs = await long;
      console.log(`[read-thread] two threads: the short query answered after ${short.toFixed(1)} ms, the long one after ${longMs.toFixed(0)} ms`);
      expect(short).toBeLessThan(longMs / 3);
    } finally {
      await two.db.destroy();
    }
  });

  it('closing fails the queries still waiting and every later one with ReadThreadClosedError', async () => {
    const mine = readThreadDb(path);
    await sql`select 1`.execute(mine.db);
    const waiting = busyQuery(mine.db).catch((err) => err);
    await new Promise((r) => setTimeout(r, 30));
    await mine.db.destroy();
    expect(await waiting).toBeInstanceOf(ReadThreadClosedError);
    expect(mine.threads.workers).toEqual([]);
    await expect(sql`select 1`.execute(mine.db)).rejects.toThrow();
  });

  it('openReadDb: an in-memory database reads on its own connection (no other connection can open it)', async () => {
    const memory = createStore('sqlite::memory:', 'normal');
    try {
      expect(openReadDb('sqlite::memory:', memory)).toBe(memory.db);
      const file = openReadDb(`sqlite:${path}`, store);
      expect(file).not.toBe(store.db);
      await file.destroy();
    } finally {
      await memory.close();
    }
  });
});

describe('the point of it', () => {
  it('a long read on the thread leaves the event loop free; the same read on the main connection holds it', async () => {
    const measure = async (db: Kysely<Database>) => {
      const histogram = monitorEventLoopDelay({ resolution: 10 });
      // A 5 ms timer stands for the requests the loop should go on serving.
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 5);
      histogram.enable();
      // Its first sample only starts the clock: a stall before the second would go unseen.
      await new Promise((r) => setTimeout(r, 50));
      ticks = 0;
      const t = performance.now();
      await Promise.all([busyQuery(db), busyQuery(db), busyQuery(db)]);
      const readsMs = performance.now() - t;
      const ticked = ticks;
      // A loop blocked until now records its delay when its timer next runs.
      await new Promise((r) => setTimeout(r, 20));
      histogram.disable();
      clearInterval(ticker);
      return { readsMs, loopMaxMs: histogram.max / 1e6, ticks: ticked };
    };
    await busyQuery(reads.db, 10);
    // Judged on the best of 3 tries: another process's load only ever adds delay.
    let best = await measure(reads.db);
    for (let i = 0; i < 2 && best.loopMaxMs >= best.readsMs / 4; i++) {
      const again = await measure(reads.db);
      if (again.loopMaxMs < best.loopMaxMs) best = again;
    }
    const onMain = await measure(store.db);
    console.log(`[read-thread] 3 reads on the thread: ${best.readsMs.toFixed(0)} ms, loop max ${best.loopMaxMs.toFixed(1)} ms, ${best.ticks} ticks; on the main connection: ${onMain.readsMs.toFixed(0)} ms, loop max ${onMain.loopMaxMs.toFixed(1)} ms, ${onMain.ticks} ticks`);
    expect(best.readsMs).toBeGreaterThan(300);
    expect(best.loopMaxMs).toBeLessThan(best.readsMs / 4);
    expect(best.ticks).toBeGreaterThan(best.readsMs / 5 / 4);
    // The harness sees a blocked loop when there is one.
    expect(onMain.loopMaxMs).toBeGreaterThan(onMain.readsMs / 3 - 20);
  }, 60_000);
});
