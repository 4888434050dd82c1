import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * Makes one of rate-limiter-flexible's counters (a number per key that expires `durationSeconds`
 * after the key's first count). Memory by default; a `RateLimiterRedis` or `RateLimiterPostgres`
 * made the same way shares the counts between processes, and nothing else changes.
 */
export type CounterFactory = (options: { keyPrefix: string; points: number; durationSeconds: number }) => RateLimiterAbstract;

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
  private readonly counter: RateLimiterAbstract;
  /**
   * Per key, the counts of the slots before the current one, read once per slot: they are closed,
   * so only the current slot's counter is asked on every call (one store call, not `slots + 1`).
   */
  private readonly closed = new Map<string, { slot: number; counts: number[] }>();
  private lastSweep = 0;

  constructor(name: string, readonly limit: number, readonly periodMs: number, counters: CounterFactory = memoryCounters, readonly slots = 10) {
    this.slotMs = periodMs / slots;
    // A slot is read until one period after it ends; Redis takes whole seconds.
    this.counter = counters({ keyPrefix: name, points: limit, durationSeconds: Math.ceil((periodMs + this.slotMs) / 1000) });
  }

  /** Counts `points` for `key` at `now` (ms); when that makes more than `limit`, the caller should `takeBack`. */
  async count(key: string, now: number, points = 1): Promise<WindowCount> {
    const slot = Math.floor(now / this.slotMs);
    const current = this.counter.penalty(`${key}@${slot}`, points);
    const cached = this.closed.get(key);
    let closed = cached?.slot === slot ? cached.counts : undefined;
    if (closed === undefined) {
      // Should the read below fail, this count must not become an unhandled rejection.
      current.catch(() => undefined);
      closed = await this.readClosed(key, slot, now);
    }
    const counts = [...closed, (await current).consumedPoints];
    const total = counts.reduce((a, b) => a + b, 0);
    const allowed = total <= this.limit;
    return { key, slot, counts, total, points, allowed, remaining: allowed ? this.limit - total : 0, resetMs: this.resetMs(slot, counts, allowed, now, points) };
  }

  private async readClosed(key: string, slot: number, now: number): Promise<number[]> {
    // Slots `slot - slots` to `slot` cover (now - period, now]; older ones have left the window.
    const older = await Promise.all(Array.from({ length: this.slots }, (_, i) => this.counter.get(`${key}@${slot - this.slots + i}`)));
    const counts = older.map((r) => Math.max(0, r?.consumedPoints ?? 0));
    this.closed.set(key, { slot, counts });
    this.sweep(slot, now);
    return counts;
  }

  /** Undoes a `count` that was refused (by this window or another one checked with it). */
  async takeBack(c: WindowCount): Promise<void> {
    await this.counter.reward(`${c.key}@${c.slot}`, c.points);
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

  /** Drops what was read for slots now past (at most once a slot), so idle keys do not stay. */
  private sweep(slot: number, now: number): void {
    if (now - this.lastSweep < Math.max(1000, this.slotMs)) return;
    this.lastSweep = now;
    for (const [key, entry] of this.closed) if (entry.slot < slot) this.closed.delete(key);
  }
}
