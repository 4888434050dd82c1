import type { Insertable, Kysely } from 'kysely';
import type { GroupCommit } from './group-commit.js';
import type { AuditLogTable, Database } from './schema.js';

/** One audited call, as the HTTP layer knows it. */
export interface AuditEntry {
  keyId: string | null;
  action: string;
  resource: string;
  resourceId: string | null;
  /** The HTTP status of the reply. */
  result: number;
  ip: string | null;
}

/** A row as the API shows it: the time as ISO 8601. */
export type AuditRecord = Omit<AuditLogTable, 'id' | 'created_at'> & { id: string; time: string };

export interface AuditFilter {
  action?: string;
  key_id?: string;
  /** Epoch milliseconds, inclusive. */
  date_from?: number;
  date_to?: number;
}

export interface AuditBuffering {
  /** Longest a row waits in memory before its insert starts. */
  flushIntervalMs: number;
  /** A buffer this full is written at once, in one multi-row insert; and the most rows one transaction writes. */
  maxBatch: number;
  /** Rows kept while the database refuses them; beyond this the oldest are dropped (and reported). */
  maxPending: number;
}

const DEFAULT_BUFFERING: AuditBuffering = { flushIntervalMs: 100, maxBatch: 500, maxPending: 100_000 };
/** Longest wait between retries while the database refuses the rows. */
const MAX_RETRY_MS = 30_000;
/**
 * Inserts use only these row counts, so a handful of statement shapes cover every flush (the
 * SQLite statement cache holds one per shape) and 500 rows stay far below any bind-parameter limit.
 */
const CHUNK_SIZES = [500, 100, 20, 5, 1];
const MAX_TEXT = 200;

/** Text as it may be stored anywhere: valid Unicode, no control characters (PostgreSQL refuses NUL), bounded. */
function clean(text: string | null): string | null {
  if (text === null) return null;
  // eslint-disable-next-line no-control-regex
  const safe = text.toWellFormed().replace(/[\u0000-\u001f\u007f]/g, '\ufffd');
  return safe.length > MAX_TEXT ? `${safe.slice(0, MAX_TEXT - 1)}…` : safe;
}

/**
 * The audit log: who did what to which resource, when, from where, with what result. Append
 * only: this class has no way to change or remove a row; only AUDIT_RETENTION_DAYS's purge
 * (retention-store.ts) deletes rows, and nothing changes one.
 *
 * Rows are buffered and written together, one multi-row insert every `flushIntervalMs` or every
 * `maxBatch` rows, inside the group commit other writes use (on SQLite, no fsync of its own).
 * So a call is answered before its audit row is on disk: a crash within that window (about
 * 100 ms, longer while the database is failing) loses the rows of calls answered in it.
 * `close()` writes everything still buffered.
 */
export class AuditStore {
  private pending: Array<Insertable<AuditLogTable>> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    /** Where `list` reads (the API passes its read threads: counting the log stays off the event loop). */
    private readonly reads: Kysely<Database>,
    private readonly commits: GroupCommit,
    private readonly onError: (err: unknown, context: { pending: number; dropped: number }) => void = () => undefined,
    private readonly buffering: AuditBuffering = DEFAULT_BUFFERING,
  ) {}

  append(entry: AuditEntry, now = Date.now()): void {
    this.pending.push({
      created_at: now,
      key_id: clean(entry.keyId),
      action: clean(entry.action) ?? '',
      resource: clean(entry.resource) ?? '',
      resource_id: clean(entry.resourceId),
      result: Math.trunc(entry.result),
      ip: clean(entry.ip),
    });
    if (this.pending.length > this.buffering.maxPending) {
      const dropped = this.pending.length - this.buffering.maxPending;
      this.pending.splice(0, dropped);
      this.onError(new Error('audit buffer full while the database refuses writes'), { pending: this.pending.length, dropped });
    }
    if (this.closed) {
      this.flush().catch(() => undefined);
      return;
    }
    if (this.pending.length >= this.buffering.maxBatch && this.failures === 0) this.flushSoon(0);
    else this.flushSoon(this.buffering.flushIntervalMs);
  }

  /** Writes every buffered row; resolves once they are committed (rejects if the database refuses them). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // One flush at a time keeps rows in their order and never inserts a row twice.
    while (this.running) await this.running.catch(() => undefined);
    if (this.pending.length === 0) return;
    const run = this.writeOldest(this.pending.length);
    this.running = run;
    try {
      await run;
    } finally {
      this.running = undefined;
    }
  }

  /** Writes what is buffered; rows appended afterwards are written at once, one by one as they come. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private flushSoon(delayMs: number): void {
    if (this.timer !== undefined && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(() => undefined);
    }, delayMs);
    // A process that is otherwise done is not kept alive for its audit rows: close() writes them.
    this.timer.unref();
  }

  /**
   * Writes the oldest `count` rows, at most `maxBatch` to a transaction, yielding between them: after an
   * outage the backlog (up to `maxPending`) goes as many short transactions, sends taking the write lock in
   * between, not as one that holds it for seconds. Rows appended meanwhile wait for their own flush.
   */
  private async writeOldest(count: number): Promise<void> {
    for (let left = count; left > 0;) {
      const rows = this.pending.splice(0, Math.min(left, this.buffering.maxBatch));
      // A full buffer dropped its oldest rows while this one yielded.
      if (rows.length === 0) return;
      await this.write(rows);
      left -= rows.length;
      if (left > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async write(rows: Array<Insertable<AuditLogTable>>): Promise<void> {
    try {
      await this.commits.run(async (trx) => {
        for (let at = 0; at < rows.length;) {
          const size = CHUNK_SIZES.find((s) => s <= rows.length - at)!;
          await trx.insertInto('audit_log').values(rows.slice(at, at + size)).execute();
          at += size;
        }
      });
      this.failures = 0;
    } catch (err) {
      // Kept, ahead of anything newer, and tried again with backoff: a row is lost only to a crash or a full buffer.
      this.pending = rows.concat(this.pending);
      this.failures++;
      this.onError(err, { pending: this.pending.length, dropped: 0 });
      if (!this.closed) this.flushSoon(Math.min(MAX_RETRY_MS, this.buffering.flushIntervalMs * 2 ** this.failures));
      throw err;
    }
  }

  async list(filter: AuditFilter, limit: number, offset: number): Promise<{ items: AuditRecord[]; total: number }> {
    let q = this.reads.selectFrom('audit_log');
    if (filter.action !== undefined) q = q.where('action', '=', filter.action);
    if (filter.key_id !== undefined) q = q.where('key_id', '=', filter.key_id);
    if (filter.date_from !== undefined) q = q.where('created_at', '>=', filter.date_from);
    if (filter.date_to !== undefined) q = q.where('created_at', '<=', filter.date_to);
    const [rows, total] = await Promise.all([
      // Newest first, in the order of audit_log_time (which holds the number on both databases).
      q.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
      q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return {
      items: rows.map((r) => ({
        id: `aud_${r.id}`,
        time: new Date(Number(r.created_at)).toISOString(),
        key_id: r.key_id,
        action: r.action,
        resource: r.resource,
        resource_id: r.resource_id,
        result: Number(r.result),
        ip: r.ip,
      })),
      total: Number(total.n),
    };
  }
}
