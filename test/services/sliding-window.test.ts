import fc from 'fast-check';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { SharedCounters } from '../../src/services/shared-counters.js';
import { SlidingWindow, type CounterFactory } from '../../src/services/sliding-window.js';
import { onPostgres } from '../helpers/database.js';

/**
 * The window's counters live as long as the window, by the real clock, while these tests run a
 * clock of their own: a run stalled for that long on a loaded machine would find them gone. An
 * hour changes no verdict (only slots inside the window are read) and takes that chance away.
 */
const outlivingTheTest = (factory: CounterFactory): CounterFactory => (options) => factory({ ...options, durationSeconds: 3600 });

/** The library's counters made as a shared store is (Redis, PostgreSQL): the window keeps them `key@slot`. */
const libraryCounters: CounterFactory = outlivingTheTest(({ keyPrefix, points, durationSeconds }) =>
  new RateLimiterMemory({ keyPrefix: `${keyPrefix}-${Math.random()}`, points, duration: durationSeconds }));

describe('SlidingWindow', () => {
  it('counts in one process as it counts in a shared store: the same verdicts, totals and waits', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), advanceMs: fc.oneof(fc.integer({ min: 0, max: 150 }), fc.integer({ min: 0, max: 2500 })), points: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 60 }),
      async (limit, calls) => {
        const inProcess = new SlidingWindow('t', limit, 1000);
        const shared = new SlidingWindow('t', limit, 1000, libraryCounters);
        let now = 1_800_000_000_000;
        for (const call of calls) {
          now += call.advanceMs;
          const [mine, theirs] = await Promise.all([inProcess.count(call.key, now, call.points), shared.count(call.key, now, call.points)]);
          expect(mine).toEqual(theirs);
          if (!mine.allowed) await Promise.all([inProcess.takeBack(mine), shared.takeBack(theirs)]);
        }
      },
    ), { numRuns: 150 });
  });

  it('never lets more than the limit into any period', async () => {
    const window = new SlidingWindow('t', 5, 1000);
    const admitted: number[] = [];
    for (let now = 0; now < 5000; now += 37) {
      const c = await window.count('k', now);
      if (c.allowed) admitted.push(now);
      else await window.takeBack(c);
    }
    for (const t of admitted) expect(admitted.filter((u) => u > t - 1000 && u <= t).length).toBeLessThanOrEqual(5);
    // ...and is not stingier than a slot's worth: about 5 per second over 5 s.
    expect(admitted.length).toBeGreaterThanOrEqual(20);
  });

  it('a count from a clock a little behind the key\'s latest is counted in its own, earlier slot', async () => {
    const window = new SlidingWindow('t', 3, 1000);
    await window.count('k', 10_150); // slot 101 (slots of 100 ms)
    const late = await window.count('k', 10_080); // slot 100: slot 101 is not in its window
    expect(late.total).toBe(1);
    expect((await window.count('k', 10_160)).total).toBe(3);
    // Counted in slot 100: it leaves the window a slot before the others.
    expect((await window.count('k', 11_150)).total).toBe(3);
  });

  it('a count from a clock behind the newest slot, in a shared store, leaves the newer slot\'s reads as they were', async () => {
    for (const counters of [undefined, libraryCounters]) {
      const window = new SlidingWindow('t', 5, 1000, counters);
      await window.count('k', 10_150); // slot 101 (slots of 100 ms)
      await window.count('j', 10_250); // slot 102: the newest
      expect((await window.count('k', 10_180)).total).toBe(2); // slot 101 again, from a clock behind
      // Slot 102's window holds slot 101: both of k's counts, and this one.
      expect((await window.count('k', 10_260)).total).toBe(3);
    }
  });

  // Redis runs beside PostgreSQL in these tests, as in a deployment of several processes.
  it.skipIf(!onPostgres)('counts in Redis (closed slots read in one MGET) as it counts in one process', async () => {
    const counters = new SharedCounters('redis://127.0.0.1:6379', `test-${Date.now().toString(36)}:`);
    await counters.connected();
    expect(counters.status()).toBe('ok');
    const mget = counters.redis!.mget.bind(counters.redis!);
    let mgets = 0;
    counters.redis!.mget = ((...args: Parameters<typeof mget>) => (mgets++, mget(...args))) as typeof mget;
    try {
      await fc.assert(fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.record({ key: fc.constantFrom('a', 'b'), advanceMs: fc.integer({ min: 0, max: 400 }), points: fc.integer({ min: 1, max: 2 }) }), { minLength: 1, maxLength: 25 }),
        async (limit, calls) => {
          const name = `w${Math.random().toString(36).slice(2)}`;
          const inProcess = new SlidingWindow(name, limit, 1000);
          const inRedis = new SlidingWindow(name, limit, 1000, outlivingTheTest(counters.factory));
          let now = Date.now();
          for (const call of calls) {
            now += call.advanceMs;
            const mine = await inProcess.count(call.key, now, call.points);
            const theirs = await inRedis.count(call.key, now, call.points);
            expect(theirs).toEqual(mine);
            if (!mine.allowed) await Promise.all([inProcess.takeBack(mine), inRedis.takeBack(theirs)]);
          }
        },
      ), { numRuns: 30 });
      expect(mgets).toBeGreaterThan(0);
    } finally {
      await counters.close();
    }
  }, 60_000);
});
