import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { DialectName } from './database.js';

type Job<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  job: Job<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Runs concurrent write jobs in one transaction, so one fsync covers every request that
 * arrived while the previous commit was in flight. Each job runs in its own savepoint:
 * one failing job rolls back only itself. On PostgreSQL, where connections are pooled,
 * every job simply gets its own transaction.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing = false;

  constructor(private readonly db: Kysely<Database>, private readonly dialect: DialectName) {}

  run<T>(job: Job<T>): Promise<T> {
    if (this.dialect !== 'sqlite') return this.db.transaction().execute(job);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ job, resolve: resolve as (v: unknown) => void, reject });
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
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        if (jobs.length === 1) {
          outcomes.push({ ok: true, value: await jobs[0].job(trx) });
          return;
        }
        for (const { job } of jobs) {
          await sql`savepoint job`.execute(trx);
          try {
            const value = await job(trx);
            await sql`release savepoint job`.execute(trx);
            outcomes.push({ ok: true, value });
          } catch (err) {
            await sql`rollback to savepoint job`.execute(trx);
            await sql`release savepoint job`.execute(trx);
            outcomes.push({ ok: false, value: err });
          }
        }
      });
      jobs.forEach((p, i) => (outcomes[i].ok ? p.resolve(outcomes[i].value) : p.reject(outcomes[i].value)));
    } catch (err) {
      // A single-job group, or the commit itself, failed: nothing of it is stored.
      for (const p of jobs) p.reject(err);
    } finally {
      this.flushing = false;
      if (this.pending.length > 0) this.schedule();
    }
  }
}
