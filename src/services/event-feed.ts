import { processLog } from '../logging.js';
import type { Store } from '../store/database.js';

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
   * PostgreSQL only: how far back each read looks again. PostgreSQL numbers an event when it is
   * inserted, before its transaction commits, so a number lower than the last one read can still
   * appear; each read takes again every number given since this long ago, and skips what it sent.
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

type EventRow = Awaited<ReturnType<MessageEventFeed['query']>>[number];

const RESUME_LIMIT = 500;
/** PostgreSQL: at most this many events of the look-back window are marked as sent when listening starts. */
const START_LIMIT = 20_000;
const ID_PREFIX = 'evt_';

/** An event's id as the stream shows it. */
export function eventId(number: number): string {
  return `${ID_PREFIX}${number}`;
}

/** The number in an id `eventId` made; undefined for anything else. */
export function eventNumber(id: string): number | undefined {
  const match = /^evt_([1-9][0-9]{0,14})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

/**
 * Status changes as they happen, read from `message_events` (the table every status change is
 * written to, by the API, the dispatcher and the webhooks alike). Reading the database rather than
 * listening in process is what makes it work when the worker runs in another process, on SQLite or
 * PostgreSQL, with or without Redis. One read per interval serves every subscriber of this process,
 * and it runs only while someone listens.
 *
 * On SQLite each read takes the events numbered after the last one it saw: one writer at a time
 * numbers and commits, so no event can appear below a number already read. On PostgreSQL a read
 * takes every number given in the last `lookbackMs` (after the highest number a read saw that long
 * ago) and skips what it sent. By number, not by the events' times: a claim's `sending` is stamped with
 * the claim's time but written with the send's outcome, seconds later for a slow round, and a window by
 * time missed it. Either way the cost follows the rate of changes, not the size of the table.
 */
export class MessageEventFeed {
  private readonly intervalMs: number;
  private readonly lookbackMs: number;
  private readonly maxPerRead: number;
  private readonly numberedInCommitOrder: boolean;
  private readonly subscribers = new Set<Subscriber>();
  /** PostgreSQL: the numbers of the events already sent, so a second read of the window skips them. */
  private readonly sent = new Set<number>();
  /**
   * PostgreSQL: the highest number each read saw, with when its rows came in (performance.now()), oldest
   * first. Any number given after that is higher than every number it saw, so a read looks again at what
   * came after the highest number seen `lookbackMs` before it (`lookBackFrom`).
   */
  private horizons: Array<{ at: number; highest: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  /** The read (or the start) under way; the next one is chained after it, never run beside it. */
  private reading: Promise<void> | undefined;
  /** Raised whenever listening starts or stops: a read begun under an older value changes nothing. */
  private generation = 0;
  /** Whether this generation knows where "now" is (startAtNow succeeded). */
  private positioned = false;
  private started: Promise<void> = Promise.resolve();
  /** SQLite: the highest number read. */
  private readAfter = 0;
  private closed = false;

  constructor(private readonly store: Pick<Store, 'db' | 'dialect'>, options: FeedOptions = {}) {
    this.intervalMs = options.intervalMs ?? 500;
    this.lookbackMs = options.lookbackMs ?? 5_000;
    this.maxPerRead = options.maxPerRead ?? 2_000;
    this.numberedInCommitOrder = store.dialect === 'sqlite';
  }

  /**
   * Listens. `started` resolves once the feed knows where "now" is: every change stored after that is
   * heard. A reconnecting client reads what it missed (`since`) after `started`, so nothing falls
   * between the two; what both give is its to drop.
   */
  subscribe(keyId: string | null, listener: (notice: FeedNotice) => void): { unsubscribe: () => void; started: Promise<void> } {
    const subscriber: Subscriber = { keyId, listener };
    if (this.subscribers.size === 0 && !this.closed) {
      // Nothing before now is new to anyone who starts listening now.
      this.generation++;
      this.positioned = false;
      this.horizons = [];
      this.sent.clear();
      this.started = this.schedule();
      this.timer = setInterval(() => {
        if (!this.reading) void this.schedule();
      }, this.intervalMs);
      this.timer.unref();
    }
    this.subscribers.add(subscriber);
    return {
      unsubscribe: () => {
        this.subscribers.delete(subscriber);
        if (this.subscribers.size === 0) this.stop();
      },
      started: this.started,
    };
  }

  /**
   * Changes after the event numbered `afterNumber` (a reconnecting client's `Last-Event-ID`), at most
   * RESUME_LIMIT; `undefined` when there were more, so the client should reload instead.
   * On PostgreSQL a number below `afterNumber` can commit after the client heard `afterNumber` (see the
   * class comment), so the look-back window before that event is replayed as well. Changes the client may
   * have heard come again, in number order, so that none it missed is left out. A client that keeps the
   * number of each message's last applied change can drop them: a message's events are numbered in the
   * order its changes happened (docs/dashboard.md).
   */
  async since(afterNumber: number, keyId: string | null): Promise<StatusChange[] | undefined> {
    let below: EventRow[] = [];
    if (!this.numberedInCommitOrder) {
      const heard = await this.store.db.selectFrom('message_events').select('created_at').where('id', '=', afterNumber).executeTakeFirst();
      // Gone (retention purged it): the numbers after it are all that can be told. Two reads, not one with
      // an OR: each keeps to its own index range (the time index, the key). The window, mostly heard
      // already, does not count against what was missed; it has the bound of one read of the live feed.
      if (heard) below = await this.query(null, Number(heard.created_at) - this.lookbackMs, keyId, this.maxPerRead + 1, afterNumber);
      if (below.length > this.maxPerRead) return undefined;
    }
    const after = await this.query(afterNumber, null, keyId, RESUME_LIMIT + 1);
    return after.length > RESUME_LIMIT ? undefined : [...below, ...after].map(toChange);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    await this.reading;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.generation++;
  }

  /** Runs the next step after the one under way: finding "now" until that succeeds, then reading. */
  private schedule(): Promise<void> {
    const generation = this.generation;
    const step = async () => {
      if (generation !== this.generation) return;
      if (this.positioned) await this.read(generation);
      else await this.startAtNow(generation);
    };
    const next: Promise<void> = (this.reading ?? Promise.resolve()).then(step)
      .catch((err) => processLog.warn(`event feed read failed; retrying: ${(err as Error).message}`))
      .finally(() => {
        if (this.reading === next) this.reading = undefined;
      });
    this.reading = next;
    return next;
  }

  private async read(generation: number): Promise<void> {
    if (this.numberedInCommitOrder) {
      const rows = await this.query(this.readAfter, null, null, this.maxPerRead + 1);
      if (generation !== this.generation) return;
      if (rows.length > this.maxPerRead) {
        // Past everything there is now, before saying so: a client's reload then sees what the feed skips.
        const newest = await this.newest();
        if (generation !== this.generation) return;
        this.readAfter = newest;
        this.broadcast(() => ({ kind: 'resync' }));
        return;
      }
      if (rows.length > 0) this.readAfter = rows[rows.length - 1].id;
      this.send(rows);
      return;
    }
    const from = this.lookBackFrom(performance.now());
    for (const id of this.sent) if (id <= from) this.sent.delete(id);
    // The window holds what was sent already (at most all of `sent`) besides what is new: only the new count against maxPerRead.
    const limit = this.maxPerRead + this.sent.size + 1;
    const rows = await this.query(from, null, null, limit);
    if (generation !== this.generation) return;
    // Stamped once the rows are in: a number given before the read's snapshot but after `at` would break
    // the rule lookBackFrom relies on. A monotonic clock: a wall-clock step must not shorten the look-back.
    this.horizons.push({ at: performance.now(), highest: highestOf(rows, this.horizons.at(-1)!.highest) });
    const fresh = rows.filter((row) => !this.sent.has(Number(row.id)));
    for (const row of fresh) this.sent.add(Number(row.id));
    if (rows.length === limit) await this.restartAtNewest(generation);
    if (generation !== this.generation) return;
    if (fresh.length > this.maxPerRead || rows.length === limit) {
      this.broadcast(() => ({ kind: 'resync' }));
      return;
    }
    this.send(fresh);
  }

  private send(rows: EventRow[]): void {
    if (rows.length === 0) return;
    this.broadcast((subscriber) => {
      const visible = rows.filter((row) => subscriber.keyId === null || row.key_id === subscriber.keyId);
      return visible.length > 0 ? { kind: 'changes', changes: visible.map(toChange) } : undefined;
    });
  }

  private broadcast(noticeFor: (subscriber: Subscriber) => FeedNotice | undefined): void {
    for (const subscriber of this.subscribers) {
      const notice = noticeFor(subscriber);
      if (notice) subscriber.listener(notice);
    }
  }

  /** What is already stored is not news: SQLite starts after the newest number, PostgreSQL marks the look-back window as sent. */
  private async startAtNow(generation: number): Promise<void> {
    if (this.numberedInCommitOrder) {
      const newest = await this.newest();
      if (generation !== this.generation) return;
      this.readAfter = newest;
    } else {
      // Where the look-back starts: below the first event made in the last two look-backs, the best a start
      // can tell of the numbers given one look-back ago (times, unlike numbers, are each process's clock).
      // Read on the time index, as `query` does: asked for min(id), PostgreSQL walks the key from its start.
      const recent = await this.query(null, Date.now() - 2 * this.lookbackMs, null, START_LIMIT);
      // Too many to mark as sent: start from the newest number instead, as after a resync.
      const from = recent.length > 0 && recent.length < START_LIMIT ? Number(recent[0].id) - 1 : await this.newest();
      const window = await this.query(from, null, null, START_LIMIT);
      if (generation !== this.generation) return;
      if (window.length === START_LIMIT) {
        await this.restartAtNewest(generation);
      } else {
        for (const row of window) this.sent.add(Number(row.id));
        this.horizons = [{ at: performance.now() - this.lookbackMs, highest: from }, { at: performance.now(), highest: highestOf(window, from) }];
      }
      if (generation !== this.generation) return;
    }
    this.positioned = true;
  }

  /**
   * PostgreSQL: looks back from the newest number, forgetting what was sent (nothing below it is read
   * again). After a read that could not take all there was: the feed has said resync, and the next reads
   * must not find the same backlog again, as reads from the old horizon would for a whole look-back.
   */
  private async restartAtNewest(generation: number): Promise<void> {
    const newest = await this.newest();
    if (generation !== this.generation) return;
    this.sent.clear();
    this.horizons = [{ at: performance.now() - this.lookbackMs, highest: newest }];
  }

  /** PostgreSQL: the highest number seen `lookbackMs` before `now` (performance.now()); the horizons older than the one it uses go. */
  private lookBackFrom(now: number): number {
    let newest = 0;
    for (let i = 0; i < this.horizons.length; i++) if (this.horizons[i].at <= now - this.lookbackMs) newest = i;
    this.horizons.splice(0, newest);
    return this.horizons[0].highest;
  }

  private async newest(): Promise<number> {
    const row = await this.store.db.selectFrom('message_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    return Number(row?.id ?? 0);
  }

  /**
   * Events numbered after `afterNumber` (and below `beforeNumber`) or made since `fromTime`, in number order.
   * A read by time takes its `limit` in time order, and is put in number order here: asked for the time
   * range in number order, PostgreSQL can walk the primary key from its start (numbers and times rise
   * together, which its estimate does not know): 51–66 ms on a table of 600,000 events against 1.5 ms on
   * the time index (bench/RESULTS.md, fourteenth pass).
   */
  private async query(afterNumber: number | null, fromTime: number | null, keyId: string | null, limit: number, beforeNumber?: number) {
    const events = this.store.db.selectFrom('message_events as e');
    // PostgreSQL: each event's message looked up by its key. As a plain join, a read of a busy window (2,500
    // events) became a hash join over every message, 202 ms at 200,000 messages against 5.5 ms
    // (bench/RESULTS.md, fourteenth pass); the LIMIT keeps the subquery from being flattened into one.
    let q = (this.store.dialect === 'postgres'
      ? events.innerJoinLateral((eb) => eb.selectFrom('messages').select(['batch_id', 'key_id']).whereRef('messages.id', '=', 'e.message_id').limit(1).as('m'), (join) => join.onTrue())
      : events.innerJoin('messages as m', 'm.id', 'e.message_id'))
      .select(['e.id', 'e.message_id', 'e.status', 'e.previous_status', 'e.source', 'e.created_at', 'm.batch_id', 'm.key_id']);
    if (afterNumber !== null) q = q.where('e.id', '>', afterNumber);
    if (beforeNumber !== undefined) q = q.where('e.id', '<', beforeNumber);
    if (fromTime !== null) q = q.where('e.created_at', '>=', fromTime);
    if (keyId !== null) q = q.where('m.key_id', '=', keyId);
    if (fromTime === null) return q.orderBy('e.id').limit(limit).execute();
    const rows = await q.orderBy('e.created_at').orderBy('e.id').limit(limit).execute();
    return rows.sort((a, b) => Number(a.id) - Number(b.id));
  }
}

/** The highest number among these events, or `atLeast`. */
function highestOf(rows: Array<{ id: number }>, atLeast: number): number {
  let highest = atLeast;
  for (const row of rows) highest = Math.max(highest, Number(row.id));
  return highest;
}

function toChange(row: { id: number; message_id: string; batch_id: string; status: string; previous_status: string | null; source: string; created_at: number }): StatusChange {
  return {
    id: eventId(row.id), message_id: row.message_id, batch_id: row.batch_id, status: row.status, previous_status: row.previous_status, source: row.source,
    timestamp: new Date(Number(row.created_at)).toISOString(),
  };
}
