import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { OPERATOR } from '../../src/domain/api-keys.js';
import { closeServices, createServices, startWorkers, stopWorkers, type Services } from '../../src/services/container.js';
import { SharedBudget } from '../../src/services/shared-budget.js';
import { SharedCounters } from '../../src/services/shared-counters.js';
import { onPostgres } from '../helpers/database.js';
import { testEnv } from '../helpers/gateway.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

const opened: Services[] = [];
const counters: SharedCounters[] = [];
afterEach(async () => {
  await Promise.all(opened.map((s) => stopWorkers(s)));
  for (const s of opened.splice(0)) {
    await closeServices(s);
  }
  for (const c of counters.splice(0)) await c.close();
});

/** The most timestamps (ms) in any window of `periodMs`. */
function slidingMax(times: number[], periodMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= periodMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

// PostgreSQL (one schema for every container) and Redis, as in production with several workers.
describe.skipIf(!onPostgres)('a provider budget shared by every worker through Redis', () => {
  it('five workers together hand a provider its rate, not five times it, and send everything', async () => {
    const env = await testEnv({ REDIS_URL, SIMULATOR_MAX_PER_SECOND: '20', DISPATCH_BATCH_SIZE: '100' });
    const api = await createServices(loadConfig(env));
    opened.push(api);
    for (let i = 0; i < 4; i++) {
      const to = Array.from({ length: 50 }, (_, j) => ({ number: `+1415${String(3_000_000 + i * 50 + j)}` }));
      await api.send.send({ to, message: 'shared budget' }, undefined, OPERATOR);
    }
    const workers: Services[] = [];
    for (let i = 0; i < 5; i++) {
      const w = await createServices(loadConfig(env));
      opened.push(w);
      workers.push(w);
    }
    for (const w of workers) startWorkers(w);

    const outbox = async () => api.store.db.selectFrom('simulator_outbox').select(['message_id', 'accepted_at']).execute();
    const deadline = Date.now() + 40_000;
    let rows = await outbox();
    while (rows.length < 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      rows = await outbox();
    }
    expect(rows).toHaveLength(200);
    expect(new Set(rows.map((r) => r.message_id)).size).toBe(200);
    const times = rows.map((r) => Number(r.accepted_at));
    const max = slidingMax(times, 1000);
    const max800 = slidingMax(times, 800);
    console.info(`shared budget: 200 sends in ${Math.max(...times) - Math.min(...times)} ms, at most ${max} in a sliding second, ${max800} in 800 ms`);
    // The budget counts a send when a worker takes it (exactly at most 20 in any sliding second of
    // those times); the simulator stamps accepted_at once the count's answer is back. With six
    // containers in this one process that answer can take up to ~100 ms (event loop), so a send is
    // stamped up to that much after it was counted, and a burst of sends released together at a
    // slot's edge can fall into the next second's stamps. Hence a tolerance of 4 at the edges of a
    // second; and in 800 ms of stamps (a second of counts, less that lag) exactly 20. Five budgets of
    // their own would send ~100 a second.
    expect(max).toBeLessThanOrEqual(24);
    expect(max800).toBeLessThanOrEqual(20);
  }, 60_000);

  it('a 429 pause taken by one worker holds every worker back', async () => {
    const provider = `pause-test-${Date.now().toString(36)}`;
    const a = new SharedCounters(REDIS_URL);
    const b = new SharedCounters(REDIS_URL);
    counters.push(a, b);
    const first = new SharedBudget(provider, 100, a);
    const second = new SharedBudget(provider, 100, b);
    // Wait for both connections (commands fail rather than queue while connecting).
    while (a.status() !== 'ok' || b.status() !== 'ok') await new Promise((r) => setTimeout(r, 20));
    expect(await second.acquire(1, Date.now() + 1000)).toBe(true);

    first.throttled(600, Date.now());
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    // Not before the pause ends: refused at once when that is after `notAfter`...
    expect(await second.acquire(1, started + 200)).toBe(false);
    expect(Date.now() - started).toBeLessThan(100);
    expect(second.available(Date.now())).toBe(0);
    // ...and otherwise waited out.
    expect(await second.acquire(1, Date.now() + 5000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });
});
