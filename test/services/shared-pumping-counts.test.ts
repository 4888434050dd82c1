import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { closeServices, createServices } from '../../src/services/container.js';
import { dropDatabase } from '../helpers/database.js';
import { startGateway, testEnv, type TestGateway } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const g of gateways.splice(0)) await g.stop();
});

const gbNumber = (i: number) => `+4474001235${String(10 + i)}`;
const guardEnv = { OTP_PUMPING_MIN_GENERATES: '6', OTP_PUMPING_MIN_CONVERSION: '0.5', OTP_PUMPING_WINDOW_MINUTES: '10', OTP_PUMPING_BLOCK_MINUTES: '30' };

/** Two API processes (gateways) on one database and one Redis, each sent every other of six codes to GB. */
async function twoGatewaysSplittingSixCodes(redisUrl: string): Promise<[TestGateway, TestGateway]> {
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  const env = { ...guardEnv, REDIS_URL: redisUrl, REDIS_PREFIX: `test-${randomUUID()}:` };
  const a = await startGateway(env);
  gateways.push(a);
  const b = await startGateway(env);
  gateways.push(b);
  for (let i = 0; i < 6; i++) {
    expect((await post((i % 2 === 0 ? a : b).app, '/api/otp/generate', { phone_number: { number: gbNumber(i) } })).status).toBe(200);
  }
  return [a, b];
}

describe('OTP pumping counts shared through Redis', () => {
  it('two API processes each seeing half an attack judge it together', async () => {
    // Three codes through each: neither alone reaches OTP_PUMPING_MIN_GENERATES.
    const [a, b] = await twoGatewaysSplittingSixCodes('redis://127.0.0.1:6379');
    // Each process reads everyone's counts back once a second.
    const generatedSeenBy = async (g: TestGateway) => (await get(g.app, '/api/analytics/stats')).body.otp.pumping.by_country[0]?.generated;
    for (let tries = 0; tries < 40 && (await generatedSeenBy(a) !== 6 || await generatedSeenBy(b) !== 6); tries++) await new Promise((r) => setTimeout(r, 100));
    expect((await get(a.app, '/api/analytics/stats')).body.otp.pumping.by_country).toEqual([{ country: 'GB', generated: 6, verified: 0, conversion: 0 }]);
    const refused = await post(b.app, '/api/otp/generate', { phone_number: { number: gbNumber(6) } });
    expect(refused.status).toBe(429);
    expect(refused.body.errors[0]).toMatchObject({ reason: 'rate_limited', message: expect.stringMatching(/GB are throttled for suspected SMS pumping \(6 sent, 0 verified/) });
  });

  it('are read back only by a process that judges codes, not by a worker', async () => {
    const env = await testEnv({ ...guardEnv, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `test-${randomUUID()}:` });
    const worker = await createServices(loadConfig(env));
    const api = await startGateway({ ...guardEnv, REDIS_URL: env.REDIS_URL, REDIS_PREFIX: env.REDIS_PREFIX });
    gateways.push(api);
    try {
      const readBacks = (redis: object) => vi.spyOn(redis as { pipeline(): unknown }, 'pipeline');
      const byWorker = readBacks((worker.sharedPumping as unknown as { redis: object }).redis);
      const byApi = readBacks((api.services.sharedPumping as unknown as { redis: object }).redis);
      await new Promise((r) => setTimeout(r, 2200));
      expect(byApi).toHaveBeenCalled();
      expect(byWorker).not.toHaveBeenCalled();
    } finally {
      await closeServices(worker);
      await dropDatabase(env.DATABASE_URL);
    }
  });

  it('without Redis each process judges its own counts', async () => {
    const [, b] = await twoGatewaysSplittingSixCodes('redis://127.0.0.1:1');
    await new Promise((r) => setTimeout(r, 1200));
    expect((await post(b.app, '/api/otp/generate', { phone_number: { number: gbNumber(20) } })).status).toBe(200);
  });
});
