/**
 * SMS pumping (toll fraud): bots request codes for numbers in ranges whose operator pays the
 * attacker per message. Nobody enters those codes, so a country whose codes suddenly go out in
 * numbers while few come back verified is throttled for a while: a real surge (a launch, a
 * campaign) still verifies, so it is left alone.
 */
export interface PumpingRules {
  /** How far back generates and verifies are counted. */
  windowMs: number;
  /** Fewer codes than this in the window are never judged: too few to tell anything. */
  minGenerates: number;
  /** Verified / generated below this (with enough generated) throttles the country; 0 never does. */
  minConversion: number;
  /** How long a throttled country stays throttled. */
  blockMs: number;
}

export interface CountryFigures {
  country: string;
  generated: number;
  verified: number;
  /** verified / generated in the window, 0 when nothing was generated. */
  conversion: number;
}

export type PumpingDecision =
  | { allowed: true }
  | { allowed: false; until: number; /** This call started the throttle (so it is logged once). */ started: boolean; figures: CountryFigures };

export interface PumpingView {
  throttled_countries: Array<{ country: string; throttled_until: string }>;
  by_country: CountryFigures[];
}

/** What codes to a number of no known country (PHONE_VALIDATION=format) are counted under. */
export const UNKNOWN_COUNTRY = 'unknown';

interface Bucket {
  start: number;
  generated: number;
  verified: number;
}

/** One code counted: what a listener (SharedPumpingCounts) passes on to the other processes. */
export interface PumpingCount {
  country: string;
  bucketStart: number;
  kind: 'generated' | 'verified';
}

/** A country's counts in one bucket, as every process together made them. */
export interface BucketCounts extends Bucket {
  country: string;
}

interface CountryState {
  /** Oldest first; buckets that left the window are dropped as the next one opens. */
  buckets: Bucket[];
  throttledUntil: number;
  /** The figures that started the current throttle, for its message. */
  figures?: CountryFigures;
}

/**
 * Per-country counts of generated and verified codes in a sliding window (of buckets a twentieth
 * of it, so memory stays fixed per country), and the throttle decisions they lead to. Pure: the
 * caller passes the time.
 */
export class PumpingGuard {
  private readonly countries = new Map<string, CountryState>();
  readonly bucketMs: number;

  constructor(readonly rules: PumpingRules, private readonly onCount?: (count: PumpingCount) => void) {
    this.bucketMs = Math.max(1000, Math.floor(rules.windowMs / 20));
  }

  generated(country: string | undefined, now: number): void {
    this.count(country ?? UNKNOWN_COUNTRY, 'generated', now);
  }

  verified(country: string | undefined, now: number): void {
    this.count(country ?? UNKNOWN_COUNTRY, 'verified', now);
  }

  /**
   * Every process's counts (SharedPumpingCounts) in place of this one's: the window's buckets
   * for each country. A country missing from them has none left in the window; throttles stay.
   */
  replaceCounts(buckets: readonly BucketCounts[], now: number): void {
    const byCountry = new Map<string, Bucket[]>();
    for (const b of buckets) {
      if (b.start + this.bucketMs <= now - this.rules.windowMs) continue;
      const list = byCountry.get(b.country) ?? [];
      list.push({ start: b.start, generated: b.generated, verified: b.verified });
      byCountry.set(b.country, list);
    }
    for (const [country, state] of this.countries) {
      if (!byCountry.has(country)) state.buckets = [];
    }
    for (const [country, list] of byCountry) {
      const state = this.countries.get(country) ?? { buckets: [], throttledUntil: 0 };
      state.buckets = list.sort((a, b) => a.start - b.start);
      this.countries.set(country, state);
    }
  }

  private count(country: string, kind: PumpingCount['kind'], now: number): void {
    const bucket = this.bucket(country, now);
    bucket[kind]++;
    this.onCount?.({ country, bucketStart: bucket.start, kind });
  }

  /**
   * Whether a new code may go to `country` now. Judged before the code is counted: a country
   * throttled at its n-th code refuses that one.
   */
  decide(country: string | undefined, now: number): PumpingDecision {
    const state = this.countries.get(country ?? UNKNOWN_COUNTRY);
    if (!state) return { allowed: true };
    if (state.throttledUntil > now) return { allowed: false, until: state.throttledUntil, started: false, figures: state.figures! };
    const figures = this.figures(country ?? UNKNOWN_COUNTRY, state, now);
    if (this.rules.minConversion > 0 && figures.generated >= this.rules.minGenerates && figures.conversion < this.rules.minConversion) {
      state.throttledUntil = now + this.rules.blockMs;
      state.figures = figures;
      return { allowed: false, until: state.throttledUntil, started: true, figures };
    }
    return { allowed: true };
  }

  throttled(now: number): Array<{ country: string; until: number }> {
    return [...this.countries].filter(([, s]) => s.throttledUntil > now).map(([country, s]) => ({ country, until: s.throttledUntil }))
      .sort((a, b) => a.country.localeCompare(b.country));
  }

  view(now: number): PumpingView {
    const byCountry = [...this.countries].map(([country, s]) => this.figures(country, s, now))
      .filter((f) => f.generated > 0 || f.verified > 0)
      .sort((a, b) => b.generated - a.generated || a.country.localeCompare(b.country));
    return {
      throttled_countries: this.throttled(now).map((t) => ({ country: t.country, throttled_until: new Date(t.until).toISOString() })),
      by_country: byCountry,
    };
  }

  private figures(country: string, state: CountryState, now: number): CountryFigures {
    let generated = 0;
    let verified = 0;
    for (const b of state.buckets) {
      if (b.start + this.bucketMs <= now - this.rules.windowMs) continue;
      generated += b.generated;
      verified += b.verified;
    }
    // Verifies of codes sent just before the window can outnumber the codes in it.
    const conversion = generated === 0 ? 0 : Math.min(1, Math.round((verified / generated) * 10_000) / 10_000);
    return { country, generated, verified, conversion };
  }

  private bucket(country: string, now: number): Bucket {
    let state = this.countries.get(country);
    if (!state) {
      state = { buckets: [], throttledUntil: 0 };
      this.countries.set(country, state);
    }
    const start = now - (now % this.bucketMs);
    const last = state.buckets.at(-1);
    if (last && last.start === start) return last;
    while (state.buckets.length > 0 && state.buckets[0].start + this.bucketMs <= now - this.rules.windowMs) state.buckets.shift();
    const bucket = { start, generated: 0, verified: 0 };
    state.buckets.push(bucket);
    return bucket;
  }
}
