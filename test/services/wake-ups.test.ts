import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { closeServices, createServices, startWorkers, stopWorkers, type Services } from '../../src/services/container.js';
import { OPERATOR } from '../../src/domain/api-keys.js';
import { onPostgres } from '../helpers/database.js';
import { testEnv, US } from '../helpers/gateway.js';

const opened: Services[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) {
    await stopWorkers(s);
    await closeServices(s);
  }
});

async function services(env: Record<string, string>): Promise<Services> {
  const s = await createServices(loadConfig(env));
  opened.push(s);
  return s;
}

/** Waits until the message is sent, or gives up after `ms`; returns how long it took. */
async function sentWithin(s: Services, id: string, ms: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if ((await s.messages.get(id)).status !== 'queued') return Date.now() - started;
    await new Promise((r) => setTimeout(r, 10));
  }
  return Infinity;
}

describe('wake-ups', () => {
  it('an idle dispatcher sends a new OTP at once, not at its next poll', async () => {
    // A 20 s poll: only a wake-up can get the message out within the 5 s this test waits.
    const s = await services(await testEnv({ DISPATCH_POLL_INTERVAL_MS: '20000' }));
    startWorkers(s);
    await new Promise((r) => setTimeout(r, 200));
    const otp = await s.otp.generate({ phone_number: { number: US } }, OPERATOR);
    expect(await sentWithin(s, otp.message_id, 5000)).toBeLessThan(5000);
  });

  it.skipIf(!onPostgres)('reach a worker in another container through PostgreSQL NOTIFY, and through Redis', async () => {
    for (const redis of [undefined, 'redis://127.0.0.1:6379']) {
      const env = await testEnv({ DISPATCH_POLL_INTERVAL_MS: '20000', ...(redis ? { REDIS_URL: redis } : {}) });
      const api = await services(env);
      const worker = await services(env);
      startWorkers(worker);
      await new Promise((r) => setTimeout(r, 300));
      const res = await api.send.send({ to: [{ number: US }], message: 'wake up' }, undefined, OPERATOR);
      expect(await sentWithin(api, res.body.messages[0].id, 5000), redis ?? 'postgres').toBeLessThan(5000);
    }
  });
});
