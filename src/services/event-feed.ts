import type { Kysely } from 'kysely';
import { idBoundary } from '../domain/ids.js';
import { processLog } from '../logging.js';
import type { Database } from '../store/schema.js';

/** One status change of one message, as the events stream sends it. */
export interface StatusChange {
  id: string;
  message_id: string;
  batch_id: string;
  status: string;
  previous_status: string | null;
  source: string;
  timestamp: string;
}

/** What a subscriber hears: changes it may see, or "too many to follow: reload what you show". */
export type FeedNotice = { kind: 'changes'; changes: StatusChange[] } | { kind: 'resync' };

export interface FeedOptions {
  /** How often the feed reads new events while anyone listens. */
  intervalMs?: number;
  /**
   * How far back each read looks again. An event's id is made before its transaction commits (and
   * by whichever process made the change), so an id a little older than the last read can still
   * appear; ids already sent are remembered for this long and skipped.
   */
  lookbackMs?: number;
  /** More new events than this in one read and subscribers are told to resync instead. */
  maxPerRead?: number;
}

interface Subscriber {
  /** Only this key's messages; null sees every message (admin, operator). */
  keyId: string | null;
  listener: (notice: FeedNotice) => void;
}

const RESUME_LIMIT = 500;

/**
 * Status changes as they happen, read from `message_events` (the table every status change is
 * written to, by the API, the dispatcher and the webhooks alike). Reading the database rather than
 * listening in process is what makes it work when the worker runs in another process, on SQLite or
 * PostgreSQL, with or without Redis. One read per interval serves every subscriber of this process,
 * and it runs only while someone listens; the read is a primary-key range (event ids begin with
 * their time), so its cost follows the rate of changes, not the size of the table.
 */
export class MessageEventFeed {
  private readonly intervalMs: number;
  private readonly lookbackMs: number;
  private readonly maxPerRead: number;
  private readonly subscribers = new Set<Subscriber>();
  /** Event ids already sent, with the time they were made, so a second read of the window skips them. */
  private readonly sent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private readFrom = 0;
  private closed = false;

  constructor(private readonly db: Kysely<Database>, options: FeedOptions = {}) {
    this.intervalMs = options.intervalMs ?? 500;
    this.lookbackMs = options.lookbackMs ?? 5_000;
    this.maxPerRead = options.maxPerRead ?? 2_000;
  }

  subscribe(keyId: string | null, listener: (notice: FeedNotice) => void): () => void {
    const subscriber: Subscriber = { keyId, listener };
    if (this.subscribers.size === 0 && !this.closed) {
      // Nothing before now is new to anyone who starts listening now.
      this.readFrom = Date.now();
      this.sent.clear();
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
    this.subscribers.add(subscriber);
    return () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.stop();
    };
  }

  /**
   * Changes after `lastEventId` (a reconnecting client's `Last-Event-ID`), at most RESUME_LIMIT;
   * `undefined` when there were more, so the client should reload instead.
   */
  async since(lastEventId: string, keyId: string | null): Promise<StatusChange[] | undefined> {
    const rows = await this.query(lastEventId, keyId, RESUME_LIMIT + 1);
    return rows.length > RESUME_LIMIT ? undefined : rows.map(toChange);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    await this.reading;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    // A slow read is not stacked on by the next tick.
    if (this.reading) return;
    this.reading = this.read().catch((err) => processLog.warn(`event feed read failed; retrying: ${(err as Error).message}`)).finally(() => {
      this.reading = undefined;
    });
  }

  private async read(): Promise<void> {
    const startedAt = Date.now();
    const rows = await this.query(idBoundary('evt', this.readFrom - this.lookbackMs, 'first'), null, this.maxPerRead + 1);
    this.readFrom = startedAt;
    for (const [id, at] of this.sent) if (at < startedAt - 2 * this.lookbackMs) this.sent.delete(id);
    if (rows.length > this.maxPerRead) {
      for (const row of rows) this.sent.set(row.id, row.created_at);
      this.broadcast(() => ({ kind: 'resync' }));
      return;
    }
    const fresh = rows.filter((row) => !this.sent.has(row.id));
    if (fresh.length === 0) return;
    for (const row of fresh) this.sent.set(row.id, row.created_at);
    this.broadcast((subscriber) => {
      const visible = fresh.filter((row) => subscriber.keyId === null || row.key_id === subscriber.keyId);
      return visible.length > 0 ? { kind: 'changes', changes: visible.map(toChange) } : undefined;
    });
  }

  private broadcast(noticeFor: (subscriber: Subscriber) => FeedNotice | undefined): void {
    for (const subscriber of this.subscribers) {
      const notice = noticeFor(subscriber);
      if (notice) subscriber.listener(notice);
    }
  }

  private query(afterId: string, keyId: string | null, limit: number) {
    let q = this.db.selectFrom('message_events as e')
      .innerJoin('messages as m', 'm.id', 'e.message_id')
      .select(['e.id', 'e.message_id', 'e.status', 'e.previous_status', 'e.source', 'e.created_at', 'm.batch_id', 'm.key_id'])
      .where('e.id', '>', afterId);
    if (keyId !== null) q = q.where('m.key_id', '=', keyId);
    return q.orderBy('e.id').limit(limit).execute();
  }
}

function toChange(row: { id: string; message_id: string; batch_id: string; status: string; previous_status: string | null; source: string; created_at: number }): StatusChange {
  return {
    id: row.id, message_id: row.message_id, batch_id: row.batch_id, status: row.status, previous_status: row.previous_status, source: row.source,
    timestamp: new Date(Number(row.created_at)).toISOString(),
  };
}
