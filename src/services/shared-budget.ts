import { LocalBudget, pacedBudget, type ProviderBudget } from '../domain/rate-limit.js';
import type { SharedCounters } from './shared-counters.js';
import { SlidingWindow } from './sliding-window.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(1, ms)));

/** How long a send waits for Redis before this process's own budget decides. */
const REDIS_WAIT_MS = 1000;

/** `promise`'s value, or `fallback` once `ms` have passed (its later failure is ignored). */
async function withTimeout<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((r) => { timer = setTimeout(() => r(fallback), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A provider's segments-per-second budget shared by every worker process through Redis (with
 * REDIS_URL): five workers together hand the provider its rate, not five times it. Segments are
 * counted in an exact sliding second (`SlidingWindow`, key = the provider's name), and a 429's
 * pause is a Redis key with an expiry that every process's `acquire` waits out.
 *
 * When Redis cannot be reached, the window's counts fall back to each process's memory
 * (SharedCounters' insurance limiter) and the pause to this process's own; should the window
 * itself fail, the process's own paced budget decides. Each process then enforces the whole
 * budget alone, as without Redis.
 */
export class SharedBudget implements ProviderBudget {
  private readonly window: SlidingWindow;
  private readonly local: LocalBudget;
  /** Until when nothing goes, as far as this process knows: a pause seen, or a refused count. */
  private blockedUntil = 0;

  constructor(private readonly provider: string, private readonly perSecond: number, private readonly counters: SharedCounters, now = Date.now()) {
    this.window = new SlidingWindow('budget', perSecond, 1000, counters.factory);
    this.local = new LocalBudget(pacedBudget(perSecond, now));
  }

  /** Up to a second's budget while nothing blocks: `acquire` paces the sends against the shared window. */
  available(now: number): number {
    return now < this.blockedUntil ? 0 : Math.max(1, Math.floor(this.perSecond));
  }

  waitMs(_segments: number, now: number): number {
    return Math.max(0, this.blockedUntil - now);
  }

  async acquire(segments: number, notAfter: number): Promise<boolean> {
    // A message larger than the whole budget goes once the window is empty, or it could never go.
    const points = Math.max(1, Math.min(segments, Math.floor(this.perSecond)));
    for (;;) {
      // Redis away: this process's own budget, as without Redis (also for what a command left hanging).
      if (this.counters.status() !== 'ok') return this.local.acquire(segments, notAfter);
      let now = Date.now();
      const pause = await withTimeout(this.counters.pauseLeft(this.provider), REDIS_WAIT_MS, undefined);
      if (pause !== undefined && pause > 0) this.blockedUntil = Math.max(this.blockedUntil, now + pause);
      if (this.blockedUntil > now) {
        if (this.blockedUntil >= notAfter) return false;
        await sleep(this.blockedUntil - now);
        continue;
      }
      now = Date.now();
      let count: Awaited<ReturnType<SlidingWindow['count']>> | undefined;
      try {
        count = await withTimeout(this.window.count(this.provider, now, points), REDIS_WAIT_MS, undefined);
      } catch {
        count = undefined;
      }
      if (count === undefined) return this.local.acquire(segments, notAfter);
      if (count.allowed) return true;
      await this.window.takeBack(count).catch(() => undefined);
      this.blockedUntil = Math.max(this.blockedUntil, now + Math.max(1, count.resetMs));
    }
  }

  throttled(pauseMs: number, now: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, now + pauseMs);
    this.local.throttled(pauseMs, now);
    void this.counters.pause(this.provider, pauseMs);
  }
}
