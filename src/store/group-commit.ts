import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { whenWriteLockFree, type DialectName } from './database.js';
import type { WalSync } from './wal-sync.js';
import type { WriteTurn } from './write-turn.js';
import { processLog } from '../logging.js';
import { sqliteConnection, withOpenTransaction, type SqliteStatements } from './sqlite-transactions.js';

type Job<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  job: Job<unknown>;
  /** Wrapped in a savepoint, so its failure stays its own (see `mayFail`). */
  contained: boolean;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Runs concurrent write jobs in one transaction, so one commit (and one fsync) covers every
 * request that arrived while the previous commit was in flight. Should a job fail, the whole
 * group rolls back and each job runs again alone, so only the failing one sees its error;
 * jobs that fail as a matter of course (`mayFail`: not found, conflict, rate limit) run in a
 * savepoint instead, so a flood of them does not turn every group into single transactions.
 * On PostgreSQL, where connections are pooled, every job simply gets its own transaction.
 *
 * On SQLite, statements written out once (`insertRows`, `PreparedStatement`) run straight on the
 * connection inside a job (sqlite-transactions.ts; only for a Kysely made by createStore), while
 * Kysely's own queries run a few microtasks after they are called: a job awaits each query before
 * its next statement, never leaving one running beside another.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing = false;
  /**
   * What the job running in a transaction asked to do once its writes are committed (see `afterCommit`).
   * Jobs sharing a group's transaction run one after another, so the transaction names the job.
   * (Not AsyncLocalStorage: on Node 20 it puts a hook on every promise of the process.)
   */
  private readonly effectsOf = new WeakMap<Kysely<Database>, Array<() => void>>();
  /** SQLite's connection: statements written out run on it directly inside the group's transaction (sqlite-transactions.ts). */
  private readonly statements: SqliteStatements | undefined;

  constructor(private readonly db: Kysely<Database>, private readonly dialect: DialectName, private readonly walSync?: WalSync, private readonly turn?: WriteTurn) {
    this.statements = dialect === 'sqlite' ? sqliteConnection(db) : undefined;
  }

  run<T>(job: Job<T>): Promise<T> {
    return this.enqueue(job, false);
  }

  /** For jobs whose errors are answers (404, 409, 429) rather than accidents. */
  mayFail<T>(job: Job<T>): Promise<T> {
    return this.enqueue(job, true);
  }

  /**
   * Runs `effect` once the job writing in `trx` is committed (and, on SQLite, on disk), and never if its
   * writes are rolled back. For counters of what was written: a group that fails runs its jobs again,
   * each alone, and a count made inside the first attempt would be made twice. Given a transaction
   * that is not one of this GroupCommit's jobs, it runs at once.
   */
  afterCommit(trx: Kysely<Database>, effect: () => void): void {
    const effects = this.effectsOf.get(trx);
    if (effects) effects.push(effect);
    else effect();
  }

  /** Runs one attempt of `job`, collecting its effects into `effects` (emptied first: a new attempt). */
  private async attempt<T>(job: Job<T>, trx: Transaction<Database>, effects: Array<() => void>): Promise<T> {
    effects.length = 0;
    this.effectsOf.set(trx, effects);
    try {
      return await job(trx);
    } finally {
      this.effectsOf.delete(trx);
    }
  }

  private enqueue<T>(job: Job<T>, contained: boolean): Promise<T> {
    if (this.dialect !== 'sqlite') {
      const effects: Array<() => void> = [];
      return this.db.transaction().execute((trx) => this.attempt(job, trx, effects)).then((value) => {
        runEffects(effects);
        return value;
      });
    }
    // A job comes with each request: the moment to see whether the other thread handed over the write turn.
    this.turn?.pickUp();
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ job, contained, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.flushing = true;
    const jobs = this.pending;
    this.pending = [];
    const settled: Settled[] = [];
    try {
      const values: unknown[] = [];
      const effects = jobs.map((): Array<() => void> => []);
      try {
        const failures = new Map<number, unknown>();
        await whenWriteLockFree(() => this.db.transaction().execute((trx) => withOpenTransaction(trx, this.statements, async () => {
          for (const [i, { job, contained }] of jobs.entries()) {
            if (!contained) {
              values.push(await this.attempt(job, trx, effects[i]));
              continue;
            }
            await sql`savepoint job`.execute(trx);
            try {
              values.push(await this.attempt(job, trx, effects[i]));
              await sql`release savepoint job`.execute(trx);
            } catch (err) {
              await sql`rollback to savepoint job`.execute(trx);
              await sql`release savepoint job`.execute(trx);
              values.push(undefined);
              failures.set(i, err);
            }
          }
        })), this.turn);
        jobs.forEach((p, i) => settled.push(failures.has(i) ? { job: p, error: failures.get(i) } : { job: p, effects: effects[i], value: values[i] }));
      } catch (err) {
        if (jobs.length === 1) settled.push({ job: jobs[0], error: err });
        else await this.runAlone(jobs, settled);
      }
    } finally {
      // The next group may commit while this one's WAL is being synced.
      this.flushing = false;
      if (this.pending.length > 0) this.schedule();
    }
    await this.durable(settled);
  }

  /**
   * Answers only once the group's commit is on disk; a failed sync fails every job of it. The
   * committed jobs' effects still run: their rows are in the database, and the counters follow the rows.
   */
  private async durable(settled: Settled[]): Promise<void> {
    let syncError: { error: unknown } | undefined;
    try {
      await this.walSync?.sync();
    } catch (error) {
      syncError = { error };
    }
    for (const s of settled) {
      if (!s.effects) s.job.reject(s.error);
      else {
        runEffects(s.effects);
        if (syncError) s.job.reject(syncError.error);
        else s.job.resolve(s.value);
      }
    }
  }

  private async runAlone(jobs: Pending[], settled: Settled[]): Promise<void> {
    for (const p of jobs) {
      // A fresh attempt: what the failed group's attempt collected is dropped with its writes.
      const effects: Array<() => void> = [];
      try {
        const value = await whenWriteLockFree(() => this.db.transaction().execute((trx) => withOpenTransaction(trx, this.statements, () => this.attempt(p.job, trx, effects))), this.turn);
        settled.push({ job: p, effects, value });
      } catch (error) {
        settled.push({ job: p, error });
      }
    }
  }
}

/** How a job of a group ended: committed (its effects and value), or failed (its error). */
type Settled = { job: Pending; effects: Array<() => void>; value: unknown; error?: undefined } | { job: Pending; effects?: undefined; error: unknown };

/**
 * A committed attempt's effects (`GroupCommit.afterCommit`), in the order the job asked for them. One
 * that throws (a bug: they are counter increments) is logged and skipped: the writes are committed,
 * so the job and the rest of its group still get their answers.
 */
function runEffects(effects: Array<() => void>): void {
  for (const effect of effects) {
    try {
      effect();
    } catch (err) {
      processLog.error('an after-commit effect failed (its writes are committed)', err);
    }
  }
}
