import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Makes one of rate-limiter-flexible's counters (a number per key that expires `durationSeconds`
 * after the key's first count). Memory by default; a `RateLimiterRedis` or `RateLimiterPostgres`
 * made the same way shares the counts between processes, and nothing else changes.
 */
export type CounterFactory = (options: { keyPrefix: string; points: number; durationSeconds: number }) => Counters;

/**
 * A library counter, and optionally a way to read many of its keys in one round trip (Redis's MGET):
 * a new key's window reads `slots` closed slots, which are otherwise `slots` separate requests.
 */
export type Counters = RateLimiterAbstract & { readMany?(keys: string[]): Promise<number[]> };

export const memoryCounters: CounterFactory = ({ keyPrefix, points, durationSeconds }) =>
  new RateLimiterMemory({ keyPrefix, points, duration: durationSeconds });

/** What a window holds for one key right after a count: for the verdict, and to take the count back. */
export interface WindowCount {
  key: string;
  slot: number;
  /** Counts per slot, oldest first; the last is the current slot and includes this count. */
  counts: number[];
  total: number;
  points: number;
  /** Whether the window holds at most `limit` with this count. */
  allowed: boolean;
  /** Once allowed: left in the window. */
  remaining: number;
  /** Milliseconds until the window admits one more (when refused), or until its oldest count leaves it. */
  resetMs: number;
}

/**
 * At most `limit` counts per key in any `periodMs`, without the 2× burst a fixed window lets
 * through at its edge. rate-limiter-flexible only has fixed windows (each key's starts at its first
 * count; BurstyRateLimiter and RateLimiterQueue are built on them, so they burst or wait rather than
 * refuse exactly). So the period is cut in `slots` slots, each a library counter of its own
 * (`key@slot`, kept one period and a slot), and a count is allowed while the slots that overlap the
 * last `periodMs` hold fewer than `limit`. That never lets more than `limit` into any period; what
 * it costs is that a count may wait up to one slot (a tenth of the period) longer than a log of
 * every timestamp would make it. (The usual two-counter estimate, which weighs the previous window
 * by how much of it is still in view, assumes its counts were spread evenly and lets up to 1.5×
 * through when they were not.) Counts go in first and are taken back when refused, so two racing
 * callers can both be refused at the edge but never both get the last place.
 */
export class SlidingWindow {
  private readonly slotMs: number;
  private readonly slotCounts: SlotCounts;

  constructor(name: string, readonly limit: number, readonly periodMs: number, counters: CounterFactory = memoryCounters, readonly slots = 10) {
    this.slotMs = periodMs / slots;
    this.slotCounts = counters === memoryCounters
      ? new InProcessSlots(slots)
      // A slot is read until one period after it ends; Redis takes whole seconds.
      : new SharedSlots(counters({ keyPrefix: name, points: limit, durationSeconds: Math.ceil((periodMs + this.slotMs) / 1000) }), slots);
  }

  /** Counts `points` for `key` at `now` (ms); when that makes more than `limit`, the caller should `takeBack`. */
  async count(key: string, now: number, points = 1): Promise<WindowCount> {
    const slot = Math.floor(now / this.slotMs);
    const counts = await this.slotCounts.add(key, slot, points);
    let total = 0;
    for (const c of counts) total += c;
    const allowed = total <= this.limit;
    return { key, slot, counts, total, points, allowed, remaining: allowed ? this.limit - total : 0, resetMs: this.resetMs(slot, counts, allowed, now, points) };
  }

  /** Undoes a `count` that was refused (by this window or another one checked with it). */
  async takeBack(c: WindowCount): Promise<void> {
    await this.slotCounts.remove(c.key, c.slot, c.points);
  }

  /** Slot `first + j` leaves the window at `(first + j + 1) * slotMs + periodMs`. */
  private resetMs(slot: number, counts: number[], allowed: boolean, now: number, points: number): number {
    const first = slot - this.slots;
    // Refused: the count is taken back, and enough older counts must leave for `points` more to fit.
    const mustLeave = allowed ? 1 : counts.reduce((a, b) => a + b, 0) - this.limit;
    let left = 0;
    for (let j = 0; j < counts.length; j++) {
      left += counts[j] - (!allowed && j === counts.length - 1 ? points : 0);
      if (left >= mustLeave) return (first + j + 1) * this.slotMs + this.periodMs - now;
    }
    return (slot + 1) * this.slotMs + this.periodMs - now;
  }
}

/** Where a window's per-slot counts live. */
interface SlotCounts {
  /** Adds `points` to `key`'s slot `slot`; the counts of slots `slot - slots` to `slot`, oldest first, this one included. */
  add(key: string, slot: number, points: number): Promise<number[]> | number[];
  remove(key: string, slot: number, points: number): Promise<void> | void;
}

/**
 * Counts kept by rate-limiter-flexible (`key@slot`, kept one period and a slot): in Redis or
 * PostgreSQL they are shared by every process.
 */
class SharedSlots implements SlotCounts {
  /**
   * The counts of the slots before the current one, per key, read once per slot: they are closed, so
   * only the current slot's counter is asked on every call (one store call, not `slots + 1`). Kept for
   * the newest slot only, and dropped whole when a newer one begins: a sweep key by key held the event
   * loop for as long as there were keys (one per number sent to in a slot, for the per-number cap).
   */
  private closed = new Map<string, number[]>();
  private closedSlot = -Infinity;

  constructor(private readonly counter: Counters, private readonly slots: number) {}

  async add(key: string, slot: number, points: number): Promise<number[]> {
    const current = this.counter.penalty(`${key}@${slot}`, points);
    let closed = slot === this.closedSlot ? this.closed.get(key) : undefined;
    if (closed === undefined) {
      // Should the read below fail, this count must not become an unhandled rejection.
      current.catch(() => undefined);
      closed = await this.readClosed(key, slot);
    }
    return [...closed, (await current).consumedPoints];
  }

  async remove(key: string, slot: number, points: number): Promise<void> {
    await this.counter.reward(`${key}@${slot}`, points);
  }

  private async readClosed(key: string, slot: number): Promise<number[]> {
    // Slots `slot - slots` to `slot` cover (now - period, now]; older ones have left the window.
    const keys = Array.from({ length: this.slots }, (_, i) => `${key}@${slot - this.slots + i}`);
    const counts = this.counter.readMany
      ? await this.counter.readMany(keys)
      : (await Promise.all(keys.map((k) => this.counter.get(k)))).map((r) => Math.max(0, r?.consumedPoints ?? 0));
    if (slot > this.closedSlot) {
      this.closedSlot = slot;
      this.closed = new Map();
    }
    // A caller whose clock is behind the newest slot gets its answer but leaves nothing in the cache.
    if (slot === this.closedSlot) this.closed.set(key, counts);
    return counts;
  }
}

/**
 * Counts of one process (no shared store configured): per slot, a plain number per key counted in it.
 * The library's memory store would cost a promise and a map lookup per slot read (ten per new key:
 * 4–9 % of the API's CPU in a 1,000-recipient batch, in a profile), for the same answer.
 *
 * Kept by slot, not by key: the slots that leave the window go as whole maps, whatever the number of
 * keys. Kept by key, a sweep visited every key once a slot (1,000,000 numbers in the per-number cap's
 * hour: 48–60 ms each slot, 365–373 ms when they left, all on the event loop), and a key held its
 * `slots + 1` counts (~240 bytes) where most numbers are counted once (bench/per-number-window.ts).
 */
class InProcessSlots implements SlotCounts {
  private readonly bySlot = new Map<number, Map<string, number>>();
  /** The newest slot counted: slots before `newest - slots` have left every window that can still count. */
  private newest = -Infinity;

  constructor(private readonly slots: number) {}

  add(key: string, slot: number, points: number): number[] {
    if (slot > this.newest) this.moveOn(slot);
    const view = new Array<number>(this.slots + 1).fill(0);
    // A caller whose clock is more than a window behind the newest count: too old to matter, not counted.
    if (slot < this.newest - this.slots) return view;
    let counts = this.bySlot.get(slot);
    if (counts === undefined) {
      counts = new Map();
      this.bySlot.set(slot, counts);
    }
    counts.set(key, (counts.get(key) ?? 0) + points);
    // A caller a little behind sees its own slot's window; slots already dropped count as empty.
    for (let i = 0; i <= this.slots; i++) view[i] = this.bySlot.get(slot - this.slots + i)?.get(key) ?? 0;
    return view;
  }

  remove(key: string, slot: number, points: number): void {
    const counts = this.bySlot.get(slot);
    const count = counts?.get(key);
    if (counts === undefined || count === undefined) return;
    if (count > points) counts.set(key, count - points);
    else counts.delete(key);
  }

  /** At most `slots + 2` maps to look at, whatever the number of keys. */
  private moveOn(slot: number): void {
    this.newest = slot;
    for (const kept of this.bySlot.keys()) if (kept < slot - this.slots) this.bySlot.delete(kept);
  }
}
