import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ApiRateLimiter } from '../../src/http/rate-limit.js';
import { drain, GB, startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await gw?.stop();
  gw = undefined;
});

/** Only Date is faked: the limiter's windows follow it, while timers and I/O run as usual. */
function clockAt(ms: number): (advanceMs: number) => void {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(ms);
  let now = ms;
  return (advanceMs) => {
    now += advanceMs;
    vi.setSystemTime(now);
  };
}

async function call(app: TestGateway['app'], headers: Record<string, string> = {}, remoteAddress?: string) {
  const res = await app.inject({ method: 'GET', url: '/api/sms', headers, ...(remoteAddress ? { remoteAddress } : {}) });
  return { status: res.statusCode, headers: res.headers, body: res.json() };
}

const GB2 = '+447400123457';
const gbNumber = (i: number) => `+4474001234${String(60 + i)}`;

describe('API rate limits (#8)', () => {
  it('refuses the call past the limit per client address when keys are off, with the RateLimit headers', async () => {
    gw = await startGateway({ RATE_LIMIT_PER_SECOND: '1000', RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PER_HOUR: '1000' });
    clockAt(Date.UTC(2030, 0, 1, 12, 0, 0));
    for (let i = 0; i < 5; i++) {
      const res = await call(gw.app);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-limit']).toBe('5');
      expect(res.headers['ratelimit-remaining']).toBe(String(4 - i));
      expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(60);
    }
    const sixth = await call(gw.app);
    expect(sixth.status).toBe(429);
    expect(sixth.headers['content-type']).toContain('application/problem+json');
    expect(sixth.body).toMatchObject({ status: 429, title: 'Too many requests' });
    expect(sixth.body.detail).toMatch(/5 requests per minute/);
    expect(sixth.headers['ratelimit-remaining']).toBe('0');
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThanOrEqual(60);
    expect(sixth.headers['retry-after']).toBe(sixth.headers['ratelimit-reset']);
    // Another address has a budget of its own.
    expect((await call(gw.app, {}, '10.0.0.7')).status).toBe(200);
  });

  it('limits per API key: two keys from one address have separate budgets', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true', RATE_LIMIT_PER_SECOND: '3', RATE_LIMIT_PER_MINUTE: '1000', RATE_LIMIT_PER_HOUR: '1000' });
    const a = { authorization: `Bearer ${(await gw.services.keys.create('a', ['read'])).key}` };
    const b = { authorization: `Bearer ${(await gw.services.keys.create('b', ['read'])).key}` };
    clockAt(Date.UTC(2030, 0, 1, 12, 0, 0, 500));
    for (let i = 0; i < 3; i++) expect((await call(gw.app, a)).status).toBe(200);
    const refused = await call(gw.app, a);
    expect(refused.status).toBe(429);
    expect(refused.headers['ratelimit-limit']).toBe('3');
    for (let i = 0; i < 3; i++) {
      const res = await call(gw.app, b);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-remaining']).toBe(String(2 - i));
    }
    expect((await call(gw.app, b)).status).toBe(429);
  });

  it('lets no burst of twice the limit through across a window edge', async () => {
    gw = await startGateway({ RATE_LIMIT_PER_SECOND: '1000', RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_PER_HOUR: '1000' });
    const start = Date.UTC(2030, 0, 1, 12, 0, 0);
    const advance = clockAt(start);
    // One call, then four just before the minute ends: a fixed window (by the clock, or from the
    // first call as rate-limiter-flexible's own) would take five more right after it.
    expect((await call(gw.app)).status).toBe(200);
    advance(59_000);
    for (let i = 0; i < 4; i++) expect((await call(gw.app)).status).toBe(200);
    advance(1_500);
    const refused = await call(gw.app);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    // The first call leaves the window within a slot (a tenth of the period) of its minute.
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(6);
    // Refused calls are not counted: they do not push the wait out.
    expect(Number((await call(gw.app)).headers['retry-after'])).toBe(retryAfter);
    advance(retryAfter * 1000);
    // Exactly the one place the first call held comes free.
    expect((await call(gw.app)).status).toBe(200);
    expect((await call(gw.app)).status).toBe(429);
    // The other four leave together a minute after they came.
    advance(59_000 - retryAfter * 1000);
    expect((await call(gw.app)).status).toBe(429);
    advance(6_000);
    for (let i = 0; i < 4; i++) expect((await call(gw.app)).status).toBe(200);
    expect((await call(gw.app)).status).toBe(429);
  });

  it('never lets more than the limit into any period, whatever the timing (per second)', async () => {
    const limiter = new ApiRateLimiter({ perSecond: 4, perMinute: 1_000_000, perHour: 1_000_000 });
    const base = Date.now();
    const allowed: number[] = [];
    // Calls every 37 ms for 3 s: any 1,000 ms span may hold at most 4 of those allowed.
    for (let t = 0; t < 3000; t += 37) if ((await limiter.hit('k', base + t)).allowed) allowed.push(t);
    for (let i = 4; i < allowed.length; i++) expect(allowed[i] - allowed[i - 4]).toBeGreaterThanOrEqual(1000);
    // And it is not stingy: well over the 4 a second a fixed window would allow on average minus a slot.
    expect(allowed.length).toBeGreaterThanOrEqual(10);
  });

  it('puts the headers on every /api reply, never limits provider reports or non-API routes', async () => {
    gw = await startGateway({ RATE_LIMIT_PER_SECOND: '2', RATE_LIMIT_PER_MINUTE: '1000', RATE_LIMIT_PER_HOUR: '1000' });
    clockAt(Date.UTC(2030, 0, 1, 12, 0, 0, 500));
    const notFound = await get(gw.app, '/api/nowhere');
    expect(notFound.status).toBe(404);
    expect(notFound.headers['ratelimit-limit']).toBe('2');
    const invalid = await post(gw.app, '/api/sms/send', { to: [] });
    expect(invalid.status).toBe(422);
    expect(invalid.headers['ratelimit-remaining']).toBe('0');
    expect((await get(gw.app, '/api/sms')).status).toBe(429);
    for (let i = 0; i < 5; i++) {
      const health = await get(gw.app, '/health');
      expect(health.status).toBe(200);
      expect(health.headers['ratelimit-limit']).toBeUndefined();
      const report = await post(gw.app, '/api/sms/msg_nope/webhook', { status: 'delivered' });
      expect(report.status).not.toBe(429);
      expect(report.headers['ratelimit-limit']).toBeUndefined();
    }
  });
});

describe('per-recipient cap MAX_SMS_PER_NUMBER_PER_HOUR (#8)', () => {
  it('refuses the next message to a number with 429 in send, and only that recipient in send-batch', async () => {
    gw = await startGateway({ MAX_SMS_PER_NUMBER_PER_HOUR: '2' });
    for (let i = 0; i < 2; i++) expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: `m${i}` })).status).toBe(200);
    const third = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'one too many' });
    expect(third.status).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(3000);
    expect(third.body.errors).toEqual([{ field: 'to[0].number', reason: 'rate_limited', message: expect.stringMatching(/MAX_SMS_PER_NUMBER_PER_HOUR/) }]);

    const batch = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: US2 }], message: 'bulk' });
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(batch.body.rejected_recipients).toEqual([{ index: 0, number: US, reason: 'rate_limited', error: expect.stringMatching(/MAX_SMS_PER_NUMBER_PER_HOUR/) }]);
    // Other types and OTPs count against the same hour.
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US2 }], message: 'alert', sms_type: 'alert' })).status).toBe(200);
    const otp = await post(gw.app, '/api/otp/generate', { phone_number: { number: US2 } });
    expect(otp.status).toBe(429);
    expect(otp.body.errors[0]).toMatchObject({ field: 'phone_number.number', reason: 'rate_limited' });
  });
});

describe('destinations: countries and prefixes (#8)', () => {
  it('refuses a blocked country or prefix in send with 422 naming the recipient and the reason', async () => {
    gw = await startGateway({ BLOCKED_COUNTRIES: 'GB', BLOCKED_PREFIXES: '+1415555' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: GB }], message: 'x' });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { field: 'to[0].number', reason: 'prefix_blocked', message: expect.stringMatching(/\+1415555.*BLOCKED_PREFIXES/) },
      { field: 'to[1].number', reason: 'country_blocked', message: expect.stringMatching(/GB.*BLOCKED_COUNTRIES/) },
    ]);
    expect((await get(gw.app, '/api/sms')).body.total).toBe(0);
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: '+12125550123' }], message: 'x' })).status).toBe(200);
  });

  it('refuses them per recipient in send-batch, and outside ALLOWED_COUNTRIES', async () => {
    gw = await startGateway({ ALLOWED_COUNTRIES: 'US,DE', BLOCKED_PREFIXES: '+1415555' });
    const res = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: GB }, { number: '+12125550123' }], message: 'x' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 1, rejected: 2 });
    expect(res.body.rejected_recipients).toEqual([
      { index: 0, number: US, reason: 'prefix_blocked', error: expect.any(String) },
      { index: 1, number: GB, reason: 'country_blocked', error: expect.stringMatching(/ALLOWED_COUNTRIES admits only US, DE/) },
    ]);
  });

  it('refuses an OTP to a blocked country', async () => {
    gw = await startGateway({ BLOCKED_COUNTRIES: 'GB' });
    const res = await post(gw.app, '/api/otp/generate', { phone_number: { number: GB } });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ field: 'phone_number.number', reason: 'country_blocked', message: expect.any(String) }]);
    expect((await post(gw.app, '/api/otp/generate', { phone_number: { number: US } })).status).toBe(200);
  });

  it('checks BLOCKED_PREFIXES at start', () => {
    expect(loadConfig({ BLOCKED_PREFIXES: ' +882, +4470 ' }).blockedPrefixes).toEqual(['+882', '+4470']);
    for (const bad of ['882', '+44 70', '+', '+1234567890123456']) {
      expect(() => loadConfig({ BLOCKED_PREFIXES: bad })).toThrowError(ConfigError);
      expect(() => loadConfig({ BLOCKED_PREFIXES: bad })).toThrowError(/BLOCKED_PREFIXES/);
    }
  });
});

/** Reads the code as the phone would: from the simulator outbox. */
async function codeSentTo(g: TestGateway, number: string): Promise<string> {
  await drain(g.services);
  const outbox = (await get(g.app, `/api/simulator/outbox?to=${encodeURIComponent(number)}&limit=1`)).body;
  return outbox.items[0].body.match(/code (?:is:? )?([A-Z0-9]{4,10})/)[1];
}

describe('OTP pumping guard (#8)', () => {
  const guardEnv = { OTP_PUMPING_MIN_GENERATES: '5', OTP_PUMPING_MIN_CONVERSION: '0.5', OTP_PUMPING_WINDOW_MINUTES: '10', OTP_PUMPING_BLOCK_MINUTES: '30' };

  it('throttles OTPs to a country whose codes go out unverified, and says so in /metrics and analytics', async () => {
    gw = await startGateway(guardEnv);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    for (let i = 0; i < 5; i++) expect((await post(gw.app, '/api/otp/generate', { phone_number: { number: gbNumber(i) } })).status).toBe(200);
    const refused = await post(gw.app, '/api/otp/generate', { phone_number: { number: gbNumber(5) } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(29 * 60);
    expect(refused.body.errors).toEqual([{ field: 'phone_number.number', reason: 'rate_limited', message: expect.stringMatching(/GB are throttled for suspected SMS pumping/) }]);
    expect((await post(gw.app, '/api/otp/generate', { phone_number: { number: GB2 } })).status).toBe(429);
    expect(warn.mock.calls.filter(([m]) => /pumping/.test(String(m)))).toHaveLength(1);
    warn.mockRestore();

    // Other countries and other kinds of message to GB are not touched.
    expect((await post(gw.app, '/api/otp/generate', { phone_number: { number: US } })).status).toBe(200);
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: GB2 }], message: 'your parcel' })).status).toBe(200);
    const otpBySend = await post(gw.app, '/api/sms/send', { to: [{ number: GB2 }], message: 'code 1234', sms_type: 'otp' });
    expect(otpBySend.status).toBe(429);
    expect(otpBySend.body.errors[0]).toMatchObject({ field: 'to[0].number', reason: 'rate_limited' });

    const metrics = (await get(gw.app, '/metrics')).body as string;
    expect(metrics).toContain('sms_otp_pumping_throttled_total{country="GB"} 3');
    expect(metrics).toContain('sms_otp_pumping_throttled_countries 1');

    const stats = (await get(gw.app, '/api/analytics/stats')).body;
    expect(stats.otp.pumping.throttled_countries).toEqual([{ country: 'GB', throttled_until: expect.any(String) }]);
    expect(Date.parse(stats.otp.pumping.throttled_countries[0].throttled_until)).toBeGreaterThan(Date.now() + 29 * 60_000);
    expect(stats.otp.pumping.by_country).toEqual([
      { country: 'GB', generated: 5, verified: 0, conversion: 0 },
      { country: 'US', generated: 1, verified: 0, conversion: 0 },
    ]);
  });

  it('leaves a country alone whose codes are verified, and lifts a throttle once its time is up', async () => {
    gw = await startGateway(guardEnv);
    const g = gw;
    const us = (i: number) => `+1415555${String(3000 + i)}`;
    for (let i = 0; i < 8; i++) {
      expect((await post(g.app, '/api/otp/generate', { phone_number: { number: us(i) } })).status).toBe(200);
      if (i % 4 !== 3) expect((await post(g.app, '/api/otp/verify', { phone_number: { number: us(i) }, otp_code: await codeSentTo(g, us(i)) })).body.verified).toBe(true);
    }
    const stats = (await get(g.app, '/api/analytics/stats')).body;
    expect(stats.otp.pumping).toEqual({ throttled_countries: [], by_country: [{ country: 'US', generated: 8, verified: 6, conversion: 0.75 }] });

    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    for (let i = 0; i < 5; i++) await post(g.app, '/api/otp/generate', { phone_number: { number: gbNumber(i) } });
    const advance = clockAt(Date.now());
    expect((await post(g.app, '/api/otp/generate', { phone_number: { number: GB2 } })).status).toBe(429);
    advance(30 * 60_000 + 1000);
    // The codes that caused it have left the window too: GB starts afresh.
    expect((await post(g.app, '/api/otp/generate', { phone_number: { number: GB2 } })).status).toBe(200);
    expect((await get(g.app, '/metrics')).body).toContain('sms_otp_pumping_throttled_countries 0');
  });
});
