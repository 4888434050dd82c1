import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { DialectName } from './database.js';

type Job<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  job: Job<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/**
 * Runs concurrent write jobs in one transaction, so one commit (and one fsync) covers every
 * request that arrived while the previous commit was in flight. Should any job fail, the whole
 * group rolls back and each job runs again alone, so only the failing one sees its error.
 * On PostgreSQL, where connections are pooled, every job simply gets its own transaction.
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
    try {
      const values: unknown[] = [];
      try {
        await this.db.transaction().execute(async (trx) => {
          for (const { job } of jobs) values.push(await job(trx));
        });
      } catch (err) {
        if (jobs.length === 1) {
          jobs[0].reject(err);
          return;
        }
        await this.runAlone(jobs);
        return;
      }
      jobs.forEach((p, i) => p.resolve(values[i]));
    } finally {
      this.flushing = false;
      if (this.pending.length > 0) this.schedule();
    }
  }

  private async runAlone(jobs: Pending[]): Promise<void> {
    for (const { job, resolve, reject } of jobs) {
      try {
        resolve(await this.db.transaction().execute(job));
      } catch (err) {
        reject(err);
      }
    }
  }
}
