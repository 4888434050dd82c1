import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { closeServices, createServices, type Services } from '../../src/services/container.js';
import { testEnv } from '../helpers/gateway.js';

const opened: Services[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await closeServices(s);
});

async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return check();
}

describe('circuit breakers shared through Redis', () => {
  it('a provider one process finds down is gone around by every process, and one probe getting through closes them all', async () => {
    // A prefix of its own: no other test's gateways hear these circuits.
    const env = await testEnv({
      REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `test-${randomUUID()}:`, CIRCUIT_FAILURE_THRESHOLD: '3',
      // Long enough for a third process to start (and check its migrations) while the circuit is still open, on a loaded machine too.
      CIRCUIT_COOL_DOWN_MS: '3000',
    });
    const a = await createServices(loadConfig(env));
    opened.push(a);
    const b = await createServices(loadConfig(env));
    opened.push(b);
    await new Promise((r) => setTimeout(r, 200));
    const breakerA = a.router.breaker('simulator');
    const breakerB = b.router.breaker('simulator');

    for (let i = 0; i < 3; i++) breakerA.failure(Date.now());
    expect(breakerA.state(Date.now())).toBe('open');
    expect(await until(() => breakerB.state(Date.now()) === 'open')).toBe(true);
    expect(b.router.unavailable(Date.now()).has('simulator')).toBe(true);
    // Opened from A's moment: B's cool-down ends when A's does.
    expect(breakerB.openedSince).toBe(breakerA.openedSince);

    // A process starting while the circuit is open reads it from Redis.
    const c = await createServices(loadConfig(env));
    opened.push(c);
    expect(await until(() => c.router.breaker('simulator').state(Date.now()) === 'open')).toBe(true);

    // After the cool-down B's probe gets through: A and C close too, without sending a probe of their own.
    expect(await until(() => breakerB.state(Date.now()) === 'half_open', 5000)).toBe(true);
    breakerB.probeStarted(Date.now());
    breakerB.success(Date.now());
    expect(breakerB.state(Date.now())).toBe('closed');
    expect(await until(() => breakerA.state(Date.now()) === 'closed' && c.router.breaker('simulator').state(Date.now()) === 'closed')).toBe(true);
  });

  it('without Redis each process\'s breakers decide alone', async () => {
    const env = await testEnv({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_PREFIX: `test-${randomUUID()}:`, CIRCUIT_FAILURE_THRESHOLD: '1' });
    const a = await createServices(loadConfig(env));
    opened.push(a);
    const b = await createServices(loadConfig(env));
    opened.push(b);
    a.router.breaker('simulator').failure(Date.now());
    expect(a.router.breaker('simulator').state(Date.now())).toBe('open');
    await new Promise((r) => setTimeout(r, 200));
    expect(b.router.breaker('simulator').state(Date.now())).toBe('closed');
  });
});
