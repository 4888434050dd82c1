import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, freshDatabaseUrl } from './database.js';
import { loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/gateway.js';
import type { Services } from '../../src/services/container.js';

export type TestGateway = Awaited<ReturnType<typeof createGateway>>;

/** Settings for tests: a fresh database, limits out of the way, instant simulator reports. */
export async function testEnv(overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const databaseUrl = overrides.DATABASE_URL ?? await freshDatabaseUrl();
  return {
    DATABASE_URL: databaseUrl,
    // SQLite keeps its key file beside the database; a PostgreSQL schema gets one of its own in the temp dir.
    ...(databaseUrl.startsWith('postgres') ? { KEYS_FILE: join(tmpdir(), `smsgw-keys-${createHash('sha256').update(databaseUrl).digest('hex').slice(0, 16)}.json`) } : {}),
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_SECOND: '100000',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_PER_HOUR: '10000000',
    MAX_SMS_PER_NUMBER_PER_HOUR: '1000000',
    // Tests generate many codes they never verify; the pumping guard's own tests turn it back on.
    OTP_PUMPING_MIN_CONVERSION: '0',
    SIMULATOR_DELIVERY_DELAY_MS: '0',
    RUN_WORKER: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
    ...overrides,
  };
}

/** A gateway without background loops: tests drive dispatch step by step with `drain`. */
export async function startGateway(overrides: Record<string, string> = {}): Promise<TestGateway> {
  const env = await testEnv(overrides);
  const gateway = await createGateway(loadConfig(env));
  // A database the test brought along is the test's to remove (it may restart on it).
  const owned = overrides.DATABASE_URL === undefined;
  const stop = gateway.stop;
  return Object.assign(gateway, {
    async stop() {
      await stop();
      if (owned) await dropDatabase(env.DATABASE_URL);
    },
  });
}

/** Runs dispatch, scheduling, simulator reports and callbacks until nothing more happens. */
export async function drain(services: Services, rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    let work = 0;
    await services.dispatcher.maintain();
    // -1: the round waited for budget, and messages still wait: go on.
    for (const provider of services.router.all()) work += Math.abs(await services.dispatcher.dispatchOnce(provider));
    work += (await services.simulatorReports?.deliverDue()) ?? 0;
    work += await services.callbacks.deliverDue();
    if (work === 0) return;
  }
}

/**
 * A message's stored events in number order, the order the events stream sends them (acceptance is not a
 * row). Every message's numbers follow its history (docs/dashboard.md).
 */
export async function eventsByNumber(services: Services, messageId: string) {
  return services.store.db.selectFrom('message_events').select(['status', 'source', 'created_at']).where('message_id', '=', messageId).orderBy('id').execute();
}

export const US = '+14155552671';
export const US2 = '+14155552672';
export const GB = '+447400123456';
