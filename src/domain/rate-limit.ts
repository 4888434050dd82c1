import type { RateLimits } from '../config.js';

const PERIODS_MS = { perSecond: 1000, perMinute: 60_000, perHour: 3_600_000 } as const;
type Period = keyof typeof PERIODS_MS;

/**
 * Token buckets per second, minute and hour for sending, counted in segments as providers
 * count them. Taking may overdraw; the caller then waits `waitMs` — sending is delayed, never dropped.
 */
export class SegmentBudget {
  private readonly tokens: number[];
  private readonly rates: number[];
  private readonly capacities: number[];
  private last: number;

  /**
   * `burstSeconds`: how much of a second's budget may go at once. A full second's worth lets a
   * provider that counts over a rolling second see twice its rate at the start; a tenth keeps
   * sends paced.
   */
  constructor(limits: RateLimits, now: number, burstSeconds = 1) {
    const periods = Object.keys(PERIODS_MS) as Period[];
    this.capacities = periods.map((p, i) => (i === 0 ? Math.max(1, limits[p] * burstSeconds) : limits[p]));
    this.rates = periods.map((p) => limits[p] / PERIODS_MS[p]);
    this.tokens = [...this.capacities];
    this.last = now;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    for (let i = 0; i < this.tokens.length; i++) this.tokens[i] = Math.min(this.capacities[i], this.tokens[i] + elapsed * this.rates[i]);
  }

  available(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(Math.min(...this.tokens)));
  }

  take(segments: number, now: number): void {
    this.refill(now);
    for (let i = 0; i < this.tokens.length; i++) this.tokens[i] -= segments;
  }

  /** How long until at least `segments` may go (0 when they may go now). */
  waitMs(segments: number, now: number): number {
    this.refill(now);
    let wait = 0;
    for (let i = 0; i < this.tokens.length; i++) {
      // A message larger than a whole bucket goes once the bucket is full, or it could never go.
      const missing = Math.min(segments, this.capacities[i]) - this.tokens[i];
      if (missing > 0) wait = Math.max(wait, Math.ceil(missing / this.rates[i]));
    }
    return wait;
  }

  /**
   * The provider answered that we are over its rate (429): nothing more goes until `pauseMs`
   * has passed, however full the bucket was. Repeated 429s keep pushing the pause out.
   */
  throttled(pauseMs: number, now: number): void {
    this.refill(now);
    for (let i = 0; i < this.tokens.length; i++) this.tokens[i] = Math.min(this.tokens[i], -this.rates[i] * pauseMs);
  }
}

/**
 * A provider's sending budget as the dispatcher spends it: this process's own (`LocalBudget`), or
 * one shared by every worker through Redis (src/services/shared-budget.ts).
 */
export interface ProviderBudget {
  /** Segments that may go now, as far as this process knows: sizes a claim (`acquire` paces the sends). */
  available(now: number): number;
  /** How long until at least `segments` may go, as far as this process knows (0 when they may go now). */
  waitMs(segments: number, now: number): number;
  /**
   * Waits until `segments` may go and spends them; false, at once and spending nothing, when they
   * could not go before `notAfter`.
   */
  acquire(segments: number, notAfter: number): Promise<boolean>;
  /** The provider answered 429: nothing more goes until `pauseMs` has passed. */
  throttled(pauseMs: number, now: number): void;
}

/** Paced: at most a tenth of a second's budget at once, so a provider counting over a rolling second sees its rate. */
export function pacedBudget(perSecond: number, now: number): SegmentBudget {
  return new SegmentBudget({ perSecond, perMinute: perSecond * 60, perHour: perSecond * 3600 }, now, 0.1);
}

/** This process's own budget: N worker processes hand a provider up to N times it. */
export class LocalBudget implements ProviderBudget {
  constructor(readonly budget: SegmentBudget) {}

  available(now: number): number {
    return this.budget.available(now);
  }

  waitMs(segments: number, now: number): number {
    return this.budget.waitMs(segments, now);
  }

  async acquire(segments: number, notAfter: number): Promise<boolean> {
    const start = Date.now();
    const wait = this.budget.waitMs(segments, start);
    if (wait > 0 && start + wait >= notAfter) return false;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.budget.take(segments, Date.now());
    return true;
  }

  throttled(pauseMs: number, now: number): void {
    this.budget.throttled(pauseMs, now);
  }
}
