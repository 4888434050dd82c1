import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, US } from '../helpers/gateway.js';

const gateways: TestGateway[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.stop();
});

async function gateway(env: Record<string, string>): Promise<TestGateway> {
  const g = await startGateway(env);
  gateways.push(g);
  return g;
}

// Per minute, not per second: on a slow machine six calls (the first starts a read thread) can take
// longer than a second, and a per-second window would let the sixth through.
const LIMITS = { RATE_LIMIT_PER_SECOND: '1000', RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PER_HOUR: '10000' };

function call(g: TestGateway, ip: string) {
  return g.app.inject({ method: 'GET', url: '/api/sms?limit=1', remoteAddress: ip });
}

describe('limits shared through Redis', () => {
  it('two API processes enforce one limit: the 6th call in the second is 429 whichever takes it', async () => {
    // A Redis prefix of its own, so runs of this test (or CI's two passes) never share a window.
    const env = { ...LIMITS, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: `test-${randomUUID()}:` };
    const [a, b] = [await gateway(env), await gateway(env)];
    const ip = '10.1.2.3';
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(i % 2 === 0 ? a : b, ip)).statusCode);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses[5]).toBe(429);
    expect((await a.app.inject({ method: 'GET', url: '/ready' })).json().checks.shared_limits).toBe('ok');
  });

  it('without Redis each process still enforces the limit alone, and /ready and /metrics say so', async () => {
    const g = await gateway({ ...LIMITS, REDIS_URL: 'redis://127.0.0.1:1' });
    await new Promise((r) => setTimeout(r, 300));
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(g, '10.9.9.9')).statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses[5]).toBe(429);
    const ready = await g.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.shared_limits).toMatch(/degraded: Redis unavailable/);
    expect((await g.app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^sms_shared_limits_up 0$/m);
    // Sending goes on meanwhile.
    expect((await g.app.inject({ method: 'POST', url: '/api/sms/send', remoteAddress: '10.9.9.10', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ to: [{ number: US }], message: 'x' }) })).statusCode).toBe(200);
  });
});
