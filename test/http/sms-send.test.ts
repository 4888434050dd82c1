import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US, US2, GB } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway;
beforeEach(async () => {
  gw = await startGateway({ MAX_RECIPIENTS_PER_REQUEST: '5', MAX_MESSAGE_LENGTH: '300' });
});
afterEach(async () => gw.stop());

describe('POST /api/sms/send', () => {
  it('stores the message before replying and reports cost and segments', async () => {
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US, name: 'John Doe' }], message: 'Hello! This is a test message.', custom_id: 'msg_12345', metadata: { campaign: 'welcome' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'queued', total_recipients: 1, total_segments: 1, estimated_cost: 0.0079, currency: 'USD', custom_id: 'msg_12345' });
    expect(res.body.batch_id).toMatch(/^bat_/);
    const [m] = res.body.messages;
    expect(m).toMatchObject({ to: US, status: 'queued', segments: 1, encoding: 'GSM-7', estimated_cost: 0.0079 });
    const stored = await get(gw.app, `/api/sms/${m.id}`);
    expect(stored.body).toMatchObject({ id: m.id, status: 'queued', message: 'Hello! This is a test message.', metadata: { campaign: 'welcome' }, priority: 5, provider: 'simulator' });
    expect(stored.body.events.map((e: any) => e.status)).toEqual(['queued']);
  });

  it('reaches delivered through the simulator, with every step recorded', async () => {
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'hi' });
    await drain(gw.services);
    const m = (await get(gw.app, `/api/sms/${res.body.messages[0].id}`)).body;
    expect(m.status).toBe('delivered');
    expect(m.provider_message_id).toMatch(/^sim_/);
    expect(m.attempts).toBe(1);
    expect(m.cost).toBe(0.0079);
    expect(m.events.map((e: any) => [e.previous_status, e.status, e.source])).toEqual([
      [null, 'queued', 'api'], ['queued', 'sending', 'dispatcher'], ['sending', 'sent', 'dispatcher'], ['sent', 'delivered', 'provider:simulator'],
    ]);
    const outbox = (await get(gw.app, `/api/simulator/outbox?to=${encodeURIComponent(US)}`)).body;
    expect(outbox.items).toHaveLength(1);
    expect(outbox.items[0]).toMatchObject({ message_id: m.id, body: 'hi', delivery_status: 'delivered' });
  });

  it('normalises national numbers with country_code and sends duplicates once', async () => {
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: '(415) 555-2671', country_code: 'US' }, { number: US }, { number: '07400 123456', country_code: 'GB' }], message: 'x' });
    expect(res.status).toBe(200);
    expect(res.body.messages.map((m: any) => m.to)).toEqual([US, GB]);
    expect(res.body.total_recipients).toBe(2);
    expect(res.body.messages[1].estimated_cost).toBe(0.04);
  });

  it('rejects the whole request when any number is invalid, naming each bad index', async () => {
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: '+1234567890', country_code: 'US' }, { number: 'abc' }], message: 'x' });
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body.errors.map((e: any) => e.field)).toEqual(['to[1].number', 'to[2].number']);
    expect((await get(gw.app, '/api/sms')).body.total).toBe(0);
  });

  it('accepts E.164-shaped test numbers in format mode', async () => {
    const loose = await startGateway({ PHONE_VALIDATION: 'format' });
    try {
      const res = await post(loose.app, '/api/sms/send', { to: [{ number: '+1234567890' }], message: 'x' });
      expect(res.status).toBe(200);
    } finally {
      await loose.stop();
    }
  });

  it('reads national numbers in DEFAULT_COUNTRY', async () => {
    const gb = await startGateway({ DEFAULT_COUNTRY: 'GB' });
    try {
      const res = await post(gb.app, '/api/sms/send', { to: [{ number: '07400 123456' }], message: 'x' });
      expect(res.body.messages[0].to).toBe(GB);
    } finally {
      await gb.stop();
    }
  });

  it('sends flash, unicode and binary messages as their type says', async () => {
    const flash = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'Alert!', message_type: 'flash', sms_type: 'alert' });
    expect(flash.body.messages[0]).toMatchObject({ encoding: 'GSM-7', segments: 1 });
    const unicode = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'plain', message_type: 'unicode' });
    expect(unicode.body.messages[0].encoding).toBe('UCS-2');
    const binary = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: '0a0b0c0d', message_type: 'binary' });
    expect(binary.body.messages[0]).toMatchObject({ encoding: 'binary', segments: 1 });
    await drain(gw.services);
    const sent = (await get(gw.app, '/api/sms?status=delivered')).body;
    expect(sent.total).toBe(3);
    expect(sent.items.map((m: any) => m.message_type).sort()).toEqual(['binary', 'flash', 'unicode']);
  });

  it('names a provider without credentials instead of switching silently', async () => {
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', provider: 'twilio' });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'provider' })]);
  });

  it.each([
    ['too many recipients', { to: Array.from({ length: 6 }, (_, i) => ({ number: `+1415555267${i}` })), message: 'x' }, 'to'],
    ['too long message', { to: [{ number: US }], message: 'a'.repeat(301) }, 'message'],
    ['missing message', { to: [{ number: US }] }, 'message'],
    ['empty recipients', { to: [], message: 'x' }, 'to'],
    ['bad sms_type', { to: [{ number: US }], message: 'x', sms_type: 'spam' }, 'sms_type'],
    ['bad priority', { to: [{ number: US }], message: 'x', priority: 11 }, 'priority'],
    ['bad schedule_at', { to: [{ number: US }], message: 'x', schedule_at: 'tomorrow' }, 'schedule_at'],
    ['expire_at in the past', { to: [{ number: US }], message: 'x', expire_at: '2020-01-01T00:00:00Z' }, 'expire_at'],
    ['expire before schedule', { to: [{ number: US }], message: 'x', schedule_at: '2099-01-02T00:00:00Z', expire_at: '2099-01-01T00:00:00Z' }, 'expire_at'],
    ['binary that is not hex', { to: [{ number: US }], message: 'zz', message_type: 'binary' }, 'message'],
    ['private callback_url', { to: [{ number: US }], message: 'x', callback_url: 'http://127.0.0.1:9/hook' }, 'callback_url'],
    ['number missing', { to: [{ name: 'x' }], message: 'x' }, 'to[0].number'],
  ])('422 for %s', async (_name, body, field) => {
    const res = await post(gw.app, '/api/sms/send', body);
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: any) => e.field)).toContain(field);
    expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status: 422, detail: expect.any(String) });
  });

  it('400 for malformed JSON', async () => {
    const res = await post(gw.app, '/api/sms/send', '{"to": [', {});
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.body.detail).toMatch(/malformed JSON/);
  });

  it('schedules future messages and sends past schedule_at now', async () => {
    const future = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'later', schedule_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect(future.body.status).toBe('scheduled');
    const past = await post(gw.app, '/api/sms/send', { to: [{ number: US2 }], message: 'now', schedule_at: '2024-01-15T10:00:00Z' });
    expect(past.body.status).toBe('queued');
    await drain(gw.services);
    expect((await get(gw.app, `/api/sms/${future.body.messages[0].id}`)).body.status).toBe('scheduled');
    expect((await get(gw.app, `/api/sms/${past.body.messages[0].id}`)).body.status).toBe('delivered');
  });

  it('a scheduled message becomes due and is sent', async () => {
    // Margins of a second: a loaded CI machine must not accept it after its own schedule time.
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'soon', schedule_at: new Date(Date.now() + 1000).toISOString() });
    expect(res.body.status).toBe('scheduled');
    await new Promise((r) => setTimeout(r, 1100));
    await drain(gw.services);
    const m = (await get(gw.app, `/api/sms/${res.body.messages[0].id}`)).body;
    expect(m.status).toBe('delivered');
    expect(m.events[1]).toMatchObject({ previous_status: 'scheduled', status: 'queued', source: 'scheduler' });
  });

  it('expires messages not sent before expire_at', async () => {
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', schedule_at: new Date(Date.now() + 1000).toISOString(), expire_at: new Date(Date.now() + 1200).toISOString() });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1300));
    await drain(gw.services);
    const m = (await get(gw.app, `/api/sms/${res.body.messages[0].id}`)).body;
    expect(m.status).toBe('expired');
    expect(m.attempts).toBe(0);
    expect((await get(gw.app, '/metrics')).body).toMatch(/^sms_messages_failed_total\{provider="simulator",sms_type="transactional",status="expired"\} 1$/m);
  });

  it('replays the first response for the same Idempotency-Key and refuses another body', async () => {
    const body = { to: [{ number: US }], message: 'once' };
    const first = await post(gw.app, '/api/sms/send', body, { 'idempotency-key': 'k1' });
    const again = await post(gw.app, '/api/sms/send', body, { 'idempotency-key': 'k1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await post(gw.app, '/api/sms/send', { ...body, message: 'twice' }, { 'idempotency-key': 'k1' });
    expect(other.status).toBe(409);
    expect((await get(gw.app, '/api/sms')).body.total).toBe(1);
  });

  it('concurrent requests with one Idempotency-Key store one message', async () => {
    const body = { to: [{ number: US }], message: 'race' };
    const replies = await Promise.all(Array.from({ length: 5 }, () => post(gw.app, '/api/sms/send', body, { 'idempotency-key': 'race' })));
    expect(new Set(replies.map((r) => r.body.batch_id)).size).toBe(1);
    expect((await get(gw.app, '/api/sms')).body.total).toBe(1);
  });

  it('OTP and alert default to priority 1, others to 5', async () => {
    const otp = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'code', sms_type: 'alert' });
    const promo = await post(gw.app, '/api/sms/send', { to: [{ number: US2 }], message: 'sale', sms_type: 'promotional' });
    expect((await get(gw.app, `/api/sms/${otp.body.messages[0].id}`)).body.priority).toBe(1);
    expect((await get(gw.app, `/api/sms/${promo.body.messages[0].id}`)).body.priority).toBe(5);
  });
});

describe('messages', () => {
  it('lists newest first with filters and pagination', async () => {
    for (let i = 0; i < 3; i++) await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: `m${i}`, sms_type: 'transactional' });
    await post(gw.app, '/api/sms/send', { to: [{ number: GB }], message: 'promo', sms_type: 'promotional' });
    const all = (await get(gw.app, '/api/sms?limit=2&offset=0')).body;
    expect(all.total).toBe(4);
    expect(all.items).toHaveLength(2);
    expect(all.items[0].message).toBe('promo');
    expect((await get(gw.app, '/api/sms?sms_type=promotional')).body.total).toBe(1);
    expect((await get(gw.app, `/api/sms?to=${encodeURIComponent(US)}`)).body.total).toBe(3);
    expect((await get(gw.app, '/api/sms?status=delivered')).body.total).toBe(0);
    expect((await get(gw.app, `/api/sms?date_from=${new Date(Date.now() + 60_000).toISOString()}`)).body.total).toBe(0);
    const minuteAgo = new Date(Date.now() - 60_000).toISOString();
    expect((await get(gw.app, `/api/sms?date_from=${minuteAgo}`)).body.total).toBe(4);
    expect((await get(gw.app, `/api/sms?date_to=${minuteAgo}`)).body.total).toBe(0);
    expect((await get(gw.app, `/api/sms?date_from=${minuteAgo}&date_to=${new Date().toISOString()}&sms_type=promotional`)).body.total).toBe(1);
    expect((await get(gw.app, '/api/sms?limit=501')).status).toBe(422);
    expect((await get(gw.app, '/api/sms?status=bogus')).status).toBe(422);
  });

  it('404 for an unknown id', async () => {
    const res = await get(gw.app, '/api/sms/msg_nope');
    expect(res.status).toBe(404);
    expect(res.body.status).toBe(404);
    expect((await post(gw.app, '/api/sms/msg_nope/cancel')).status).toBe(404);
  });

  it('cancels before hand-over and refuses after', async () => {
    const a = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'a' });
    const id = a.body.messages[0].id;
    const canceled = await post(gw.app, `/api/sms/${id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body.status).toBe('canceled');
    await drain(gw.services);
    expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('canceled');
    expect((await get(gw.app, '/api/simulator/outbox')).body.total).toBe(0);

    const b = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'b' });
    await drain(gw.services);
    const late = await post(gw.app, `/api/sms/${b.body.messages[0].id}/cancel`);
    expect(late.status).toBe(409);
  });
});
