import { afterEach, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US, US2, GB } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

describe('analytics', () => {
  it('computes rates, costs, medians and a time series in SQL', async () => {
    gw = await startGateway();
    const hourOf = () => Math.floor(Date.now() / 3_600_000);
    const firstHour = hourOf();
    await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: US2 }, { number: GB }], message: 'x' });
    await drain(gw.services);
    // One of them fails after the provider took it.
    const failed = (await get(gw.app, `/api/sms?to=${encodeURIComponent(GB)}`)).body.items[0];
    await gw.services.store.db.updateTable('messages').set({ status: 'undelivered' }).where('id', '=', failed.id).execute();
    await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'later', schedule_at: new Date(Date.now() + 3_600_000).toISOString(), sms_type: 'promotional' });
    const lastHour = hourOf();
    const stats = (await get(gw.app, '/api/analytics/stats?group_by=hour')).body;
    expect(stats.total_messages).toBe(4);
    expect(stats.by_status).toEqual({ delivered: 2, undelivered: 1, scheduled: 1 });
    expect(stats.delivery_rate).toBeCloseTo(2 / 3, 3);
    expect(stats.success_rate).toBe(1);
    expect(stats.error_rate).toBeCloseTo(1 / 3, 3);
    expect(stats.total_cost).toBe(0.0558);
    expect(stats.cost_by_provider).toEqual({ simulator: 0.0558 });
    expect(stats.providers[0]).toMatchObject({ provider: 'simulator', total: 4, delivered: 2, median_delivery_seconds: expect.any(Number) });
    expect(stats.countries.find((c: any) => c.country === 'GB')).toMatchObject({ total: 1, delivered: 0 });
    expect(stats.sms_types.map((t: any) => t.sms_type).sort()).toEqual(['promotional', 'transactional']);
    // One hour's bucket, or two when the hour turned between the two sends.
    expect(stats.time_series).toHaveLength(lastHour - firstHour + 1);
    expect(stats.time_series.reduce((n: number, b: any) => n + b.total, 0)).toBe(4);
    expect(stats).toHaveProperty('otp_success_rate');
    const promo = (await get(gw.app, '/api/analytics/stats?sms_type=promotional')).body;
    expect(promo.total_messages).toBe(1);
    const none = (await get(gw.app, `/api/analytics/stats?date_from=${new Date(Date.now() + 86_400_000).toISOString()}`)).body;
    expect(none).toMatchObject({ total_messages: 0, delivery_rate: 0 });
  });
});

describe('GET /api/phone/validate', () => {
  it('describes valid, invalid and national numbers with 200', async () => {
    gw = await startGateway();
    const ok = await get(gw.app, `/api/phone/validate/${encodeURIComponent(US)}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ input: US, valid: true, possible: true, e164: US, country_code: 'US', calling_code: '1', national_format: '(415) 555-2671' });
    const bad = await get(gw.app, `/api/phone/validate/${encodeURIComponent('+1234567890')}`);
    expect(bad.status).toBe(200);
    expect(bad.body).toMatchObject({ valid: false, reason: expect.any(String) });
    const national = await get(gw.app, '/api/phone/validate/07400123456?country_code=GB');
    expect(national.body).toMatchObject({ valid: true, e164: GB, type: 'mobile' });
    const garbage = await get(gw.app, '/api/phone/validate/hello');
    expect(garbage.body).toMatchObject({ valid: false, e164: null });
  });
});

describe('operations', () => {
  it('health, readiness, metrics and OpenAPI', async () => {
    gw = await startGateway();
    expect((await get(gw.app, '/health')).body).toEqual({ status: 'ok' });
    expect((await get(gw.app, '/ready')).body).toMatchObject({ status: 'ready', checks: { database: 'ok', queue: 'ok' } });
    await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', sms_type: 'alert' });
    await post(gw.app, '/api/sms/send', { to: [{ number: GB }], message: 'later', schedule_at: new Date(Date.now() + 3_600_000).toISOString() });
    const metrics = (await get(gw.app, '/metrics')).body as string;
    expect(metrics).toContain('sms_messages_accepted_total{provider="simulator",sms_type="alert"} 1');
    expect(metrics).toContain('sms_queue_depth{status="queued"} 1');
    expect(metrics).toContain('sms_queue_depth{status="scheduled"} 1');
    expect(metrics).toContain('http_request_duration_seconds_bucket');
    await drain(gw.services);
    const after = (await get(gw.app, '/metrics')).body as string;
    expect(after).toContain('sms_messages_sent_total{provider="simulator",sms_type="alert"} 1');
    expect(after).toContain('sms_dispatch_duration_seconds_count{provider="simulator"} 1');
    const spec = (await get(gw.app, '/openapi.json')).body;
    expect(spec.openapi).toMatch(/^3\./);
    for (const path of ['/api/sms/send', '/api/sms/send-batch', '/api/sms/{sms_id}', '/api/sms/{sms_id}/webhook', '/api/analytics/stats', '/api/phone/validate/{phone_number}']) {
      expect(spec.paths).toHaveProperty([path]);
    }
    const docs = await gw.app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(docs.statusCode);
    expect((await get(gw.app, '/nowhere')).body).toMatchObject({ status: 404 });
  });

  it('rate limits API calls with 429, Retry-After and RateLimit headers', async () => {
    gw = await startGateway({ RATE_LIMIT_PER_SECOND: '2', RATE_LIMIT_PER_MINUTE: '100', RATE_LIMIT_PER_HOUR: '1000' });
    const first = await get(gw.app, '/api/sms');
    expect(first.headers['ratelimit-limit']).toBe('2');
    expect(first.headers['ratelimit-remaining']).toBe('1');
    await get(gw.app, '/api/sms');
    const third = await get(gw.app, '/api/sms');
    expect(third.status).toBe(429);
    // A sliding window: the first call leaves it a second (and at most a tenth more) after it came.
    expect(['1', '2']).toContain(third.headers['retry-after']);
    expect(third.headers['content-type']).toContain('application/problem+json');
    // Health and provider reports are never limited.
    expect((await get(gw.app, '/health')).status).toBe(200);
  });
});

describe('a real server', () => {
  it('listens on a port and answers fetch', async () => {
    gw = await startGateway();
    await gw.app.listen({ port: 0, host: '127.0.0.1' });
    const address = gw.app.server.address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    const res = await fetch(`${base}/api/sms/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: [{ number: US }], message: 'over the wire' }) });
    expect(res.status).toBe(200);
    const body = await res.json();
    const msg = await (await fetch(`${base}/api/sms/${body.messages[0].id}`)).json();
    expect(msg.message).toBe('over the wire');
  });
});
