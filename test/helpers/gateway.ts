import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Services } from '../../src/gateway.js';

export type TestGateway = Awaited<ReturnType<typeof createGateway>> & { dir: string };

/** Settings for tests: a fresh SQLite file, limits out of the way, instant simulator reports. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'smsgw-'));
  return {
    DATABASE_URL: `sqlite:${join(dir, 'gateway.db')}`,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_PER_HOUR: '10000000',
    SIMULATOR_DELIVERY_DELAY_MS: '0',
    RUN_WORKER: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
    ...overrides,
  };
}

/** A gateway without background loops: tests drive dispatch step by step with `drain`. */
export async function startGateway(overrides: Record<string, string> = {}): Promise<TestGateway> {
  const env = testEnv(overrides);
  const gateway = await createGateway(loadConfig(env));
  const dir = env.DATABASE_URL.slice('sqlite:'.length).replace(/\/gateway\.db$/, '');
  // A database the test brought along is the test's to remove (it may restart on it).
  const owned = overrides.DATABASE_URL === undefined;
  const stop = gateway.stop;
  return Object.assign(gateway, {
    dir,
    async stop() {
      await stop();
      if (owned) rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** Runs dispatch, scheduling, simulator reports and callbacks until nothing more happens. */
export async function drain(services: Services, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    let work = 0;
    await services.dispatcher.maintain();
    for (const provider of services.router.all()) work += Math.max(0, await services.dispatcher.dispatchOnce(provider));
    work += (await services.simulatorReports?.deliverDue()) ?? 0;
    work += await services.callbacks.deliverDue();
    if (work === 0) return;
  }
}

export const US = '+14155552671';
export const US2 = '+14155552672';
export const GB = '+447400123456';
