import { describe, expect, it } from 'vitest';
import { PumpingGuard } from '../../src/domain/pumping-guard.js';

const MIN = 60_000;
const rules = { windowMs: 10 * MIN, minGenerates: 20, minConversion: 0.2, blockMs: 30 * MIN };
const T = Date.UTC(2030, 0, 1);

describe('PumpingGuard', () => {
  it('throttles a country once enough codes in the window convert too rarely, and only that country', () => {
    const guard = new PumpingGuard(rules);
    for (let i = 0; i < 19; i++) guard.generated('GB', T + i * 1000);
    guard.verified('GB', T + 20_000);
    for (let i = 0; i < 19; i++) guard.generated('US', T + i * 1000);
    // Nineteen codes are too few to judge.
    expect(guard.decide('GB', T + 30_000)).toEqual({ allowed: true });
    guard.generated('GB', T + 31_000);
    guard.generated('US', T + 31_000);
    for (let i = 0; i < 4; i++) guard.verified('US', T + 32_000);
    // GB: 1 of 20 verified (0.05); US: 4 of 20 (0.2, not below the threshold).
    const decision = guard.decide('GB', T + 40_000);
    expect(decision).toEqual({ allowed: false, started: true, until: T + 40_000 + 30 * MIN, figures: { country: 'GB', generated: 20, verified: 1, conversion: 0.05 } });
    expect(guard.decide('GB', T + 50_000)).toMatchObject({ allowed: false, started: false, until: T + 40_000 + 30 * MIN });
    expect(guard.decide('US', T + 50_000)).toEqual({ allowed: true });
    expect(guard.decide('FR', T + 50_000)).toEqual({ allowed: true });
    expect(guard.throttled(T + 50_000)).toEqual([{ country: 'GB', until: T + 40_000 + 30 * MIN }]);
  });

  it('forgets codes that left the window', () => {
    const guard = new PumpingGuard(rules);
    for (let i = 0; i < 15; i++) guard.generated('GB', T + i * 1000);
    // Eleven minutes later the first fifteen are out of view: five more are not twenty.
    for (let i = 0; i < 5; i++) guard.generated('GB', T + 11 * MIN + i * 1000);
    expect(guard.decide('GB', T + 11 * MIN + 10_000)).toEqual({ allowed: true });
    expect(guard.view(T + 11 * MIN + 10_000).by_country).toEqual([{ country: 'GB', generated: 5, verified: 0, conversion: 0 }]);
  });

  it('lifts a throttle after OTP_PUMPING_BLOCK_MINUTES, and judges afresh', () => {
    const guard = new PumpingGuard(rules);
    for (let i = 0; i < 20; i++) guard.generated('GB', T + i * 1000);
    expect(guard.decide('GB', T + MIN).allowed).toBe(false);
    expect(guard.decide('GB', T + MIN + 30 * MIN - 1).allowed).toBe(false);
    expect(guard.decide('GB', T + MIN + 30 * MIN)).toEqual({ allowed: true });
    expect(guard.throttled(T + MIN + 30 * MIN)).toEqual([]);
    // The attack goes on: twenty more unverified codes throttle it again.
    for (let i = 0; i < 20; i++) guard.generated('GB', T + 32 * MIN + i * 1000);
    expect(guard.decide('GB', T + 33 * MIN)).toMatchObject({ allowed: false, started: true });
  });

  it('is off with a minimum conversion of 0, and counts numbers of no known country together', () => {
    const off = new PumpingGuard({ ...rules, minConversion: 0 });
    for (let i = 0; i < 100; i++) off.generated('GB', T + i);
    expect(off.decide('GB', T + 1000)).toEqual({ allowed: true });

    const guard = new PumpingGuard({ ...rules, minGenerates: 2 });
    guard.generated(undefined, T);
    guard.generated(undefined, T);
    expect(guard.decide(undefined, T + 1)).toMatchObject({ allowed: false, figures: { country: 'unknown', generated: 2 } });
  });

  it('shows throttled countries and the figures per country, busiest first', () => {
    const guard = new PumpingGuard({ ...rules, minGenerates: 3 });
    for (let i = 0; i < 3; i++) guard.generated('GB', T);
    for (let i = 0; i < 4; i++) guard.generated('US', T);
    for (let i = 0; i < 3; i++) guard.verified('US', T);
    guard.decide('GB', T + 1);
    expect(guard.view(T + 2)).toEqual({
      throttled_countries: [{ country: 'GB', throttled_until: new Date(T + 1 + 30 * MIN).toISOString() }],
      by_country: [
        { country: 'US', generated: 4, verified: 3, conversion: 0.75 },
        { country: 'GB', generated: 3, verified: 0, conversion: 0 },
      ],
    });
  });

  it('tells its listener each code it counts, and takes every process\'s counts in place of its own', () => {
    const counted: unknown[] = [];
    const guard = new PumpingGuard({ ...rules, minGenerates: 3 }, (c) => counted.push(c));
    guard.generated('GB', T);
    guard.verified(undefined, T + 1);
    expect(counted).toEqual([
      { country: 'GB', bucketStart: T - (T % guard.bucketMs), kind: 'generated' },
      { country: 'unknown', bucketStart: T - (T % guard.bucketMs), kind: 'verified' },
    ]);
    const start = T - (T % guard.bucketMs);
    guard.replaceCounts([
      { country: 'GB', start, generated: 3, verified: 0 },
      // Out of the window: ignored.
      { country: 'GB', start: start - 11 * MIN, generated: 50, verified: 0 },
    ], T + 2);
    expect(guard.view(T + 2).by_country).toEqual([{ country: 'GB', generated: 3, verified: 0, conversion: 0 }]);
    expect(guard.decide('GB', T + 3)).toMatchObject({ allowed: false, started: true });
    // Counts gone from the shared store (a Redis restart) leave the throttle in place.
    guard.replaceCounts([], T + 4);
    expect(guard.view(T + 4).by_country).toEqual([]);
    expect(guard.decide('GB', T + 5)).toMatchObject({ allowed: false, started: false });
  });
});
