/**
 * What the per-number hourly cap (MAX_SMS_PER_NUMBER_PER_HOUR, a SlidingWindow of ten 6-minute slots,
 * in process when no REDIS_URL is set) costs as the numbers sent to in an hour grow: a campaign to a
 * million recipients counts a million keys. It runs on the API's event loop, inside sends, so the
 * longest single count is how long every other request waited behind it.
 *
 * For `--numbers` distinct numbers counted in one slot, in one process (no HTTP, no database):
 * - µs per count while they go in, and the heap held per number after a full GC;
 * - the longest count in the next slot (the first count of a slot is where any per-slot work runs);
 * - the longest count once the window has passed them (where they are let go).
 *
 * `--module PATH`: another build's sliding-window (e.g. `git show REV:src/services/sliding-window.ts >
 * /tmp/old-window.ts`), to compare in one run. Run with `node --expose-gc --import tsx`.
 *
 * Usage: node --expose-gc --import tsx bench/per-number-window.ts [--numbers 1000000] [--module src/services/sliding-window.ts]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    numbers: { type: 'string', default: '1000000' },
    module: { type: 'string', default: 'src/services/sliding-window.ts' },
  },
});
const NUMBERS = Number(values.numbers);
const HOUR_MS = 3_600_000;
const SLOT_MS = HOUR_MS / 10;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const { SlidingWindow } = await import(resolve(values.module)) as typeof import('../src/services/sliding-window.js');

const window = new SlidingWindow('sms_per_number', 10, HOUR_MS);
// The start of a slot, so that every number below lands in the same one.
const start = Math.ceil(Date.now() / SLOT_MS) * SLOT_MS;
// Numbers as the gateway keys them (E.164), each string made anew as a request's would be.
const number = (i: number) => `+1415${String(2_000_000 + i * 7).padStart(7, '0')}`;

gc();
const heapBefore = process.memoryUsage().heapUsed;
const t = performance.now();
for (let i = 0; i < NUMBERS; i++) await window.count(number(i), start + (i % 1000));
const perCount = ((performance.now() - t) * 1000) / NUMBERS;
gc();
const heapPerNumber = (process.memoryUsage().heapUsed - heapBefore) / NUMBERS;

/** The longest of `n` counts of new numbers at `at`. */
async function longestCount(at: number, n: number, offset: number): Promise<number> {
  let longest = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await window.count(number(offset + i), at);
    longest = Math.max(longest, performance.now() - t0);
  }
  return longest;
}

const nextSlot = await longestCount(start + SLOT_MS, 100, NUMBERS);
// Slot 11 after the first: the first slot has left the window of every count from now on.
const pastWindow = await longestCount(start + 11 * SLOT_MS, 100, NUMBERS + 100);
gc();
const heapAfter = (process.memoryUsage().heapUsed - heapBefore) / NUMBERS;
console.log(`${values.module}: ${NUMBERS.toLocaleString('en-US')} numbers in one slot: ${perCount.toFixed(2)} µs per count, heap ${heapPerNumber.toFixed(0)} B per number; `
  + `longest count in the next slot ${nextSlot.toFixed(1)} ms; once they left the window ${pastWindow.toFixed(1)} ms (heap then ${heapAfter.toFixed(0)} B per number counted)`);
