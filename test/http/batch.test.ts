import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US, US2, GB } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway;
beforeEach(async () => {
  gw = await startGateway();
});
afterEach(async () => gw.stop());

describe('POST /api/sms/send-batch', () => {
  it('lists invalid recipients without stopping the batch, and fills {{name}}', async () => {
    const res = await post(gw.app, '/api/sms/send-batch', {
      name: 'Marketing Campaign',
      recipients: [{ number: US, name: 'User 1' }, { number: '+1234567890', name: 'Bad' }, { number: US2, name: 'User 2' }, { number: US, name: 'Dup' }],
      message: 'Hi {{name}}! Special offer: {{discount}} off today.',
      template_variables: { discount: '50%' },
      sms_type: 'promotional',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Marketing Campaign', status: 'queued', total_recipients: 4, accepted: 2, rejected: 1, duplicates: 1, total_segments: 2 });
    expect(res.body.rejected_recipients).toEqual([expect.objectContaining({ number: '+1234567890', reason: 'invalid_number', error: expect.any(String) })]);
    const list = (await get(gw.app, `/api/sms?batch_id=${res.body.batch_id}`)).body;
    expect(list.items.map((m: any) => m.message).sort()).toEqual(['Hi User 1! Special offer: 50% off today.', 'Hi User 2! Special offer: 50% off today.']);
  });

  it('seals a text sent to all once per request, and a personalised text per recipient even where renderings repeat', async () => {
    const numbers = ['+14155552673', '+14155552674', '+14155552675', '+14155552676'];
    const stored = async (batchId: string) => (await gw.services.store.db.selectFrom('messages').select(['to_number', 'body'])
      .where('batch_id', '=', batchId).orderBy('to_number').execute()).map((r) => r.body);
    const texts = async (batchId: string) => Object.fromEntries((await get(gw.app, `/api/sms?batch_id=${batchId}`)).body.items.map((m: any) => [m.to, m.message]));

    const names = ['Ann', 'Ann', 'Bob', 'Ann'];
    const personal = await post(gw.app, '/api/sms/send-batch', { recipients: numbers.map((number, i) => ({ number, name: names[i] })), message: 'Hi {{name}}' });
    expect(await texts(personal.body.batch_id)).toEqual(Object.fromEntries(numbers.map((n, i) => [n, `Hi ${names[i]}`])));
    // Two recipients both got "Hi Ann": the stored values must not show it.
    expect(new Set(await stored(personal.body.batch_id)).size).toBe(4);

    const toAll = () => post(gw.app, '/api/sms/send-batch', { recipients: numbers.map((number) => ({ number })), message: 'Doors open at 9' });
    const first = await toAll();
    expect(await texts(first.body.batch_id)).toEqual(Object.fromEntries(numbers.map((n) => [n, 'Doors open at 9'])));
    const firstBodies = await stored(first.body.batch_id);
    expect(new Set(firstBodies).size).toBe(1);
    const second = await toAll();
    expect((await stored(second.body.batch_id))[0]).not.toBe(firstBodies[0]);
  });

  it('422 when no recipient is valid', async () => {
    const res = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: '123' }], message: 'x' });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('recipients[0].number');
  });

  it('a recipient missing a variable is rejected, not sent with a gap', async () => {
    const res = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US, name: 'A' }, { number: US2 }], message: 'Hi {{name}}' });
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected_recipients).toEqual([expect.objectContaining({ index: 1, reason: 'missing_variable' })]);
  });

  it('keeps a batch as draft until it is sent', async () => {
    const res = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: GB }], message: 'draft', send_immediately: false });
    expect(res.body.status).toBe('draft');
    await drain(gw.services);
    let batch = (await get(gw.app, `/api/sms/batches/${res.body.batch_id}`)).body;
    expect(batch).toMatchObject({ status: 'draft', counts: { draft: 2 } });
    const sent = await post(gw.app, `/api/sms/batches/${res.body.batch_id}/send`);
    expect(sent.status).toBe(200);
    expect(sent.body.counts).toEqual({ queued: 2 });
    expect((await post(gw.app, `/api/sms/batches/${res.body.batch_id}/send`)).status).toBe(409);
    await drain(gw.services);
    batch = (await get(gw.app, `/api/sms/batches/${res.body.batch_id}`)).body;
    expect(batch).toMatchObject({ status: 'completed', counts: { delivered: 2 }, cost_so_far: 0.0479 });
  });

  it('the seed example: past schedule_at with send_immediately false is queued', async () => {
    const res = await post(gw.app, '/api/sms/send-batch', {
      name: 'Marketing Campaign', recipients: [{ number: US, name: 'User 1' }, { number: US2, name: 'User 2' }],
      message: 'Special offer! Get 50% off today.', template_variables: { discount: '50%' }, sms_type: 'promotional',
      schedule_at: '2024-01-15T09:00:00Z', send_immediately: false, callback_url: 'https://yourapp.com/webhook/sms',
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('queued');
  });

  it('cancels what no provider has seen yet', async () => {
    const res = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: US2 }], message: 'x', schedule_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect(res.body.status).toBe('scheduled');
    const canceled = await post(gw.app, `/api/sms/batches/${res.body.batch_id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ status: 'canceled', canceled: 2, counts: { canceled: 2 } });
    expect((await get(gw.app, '/api/sms/batches/bat_nope')).status).toBe(404);
  });

  it('accepts 1,000 recipients in one request, all or nothing', async () => {
    const recipients = Array.from({ length: 1000 }, (_, i) => ({ number: `+1415555${String(1000 + i).padStart(4, '0')}` }));
    const res = await post(gw.app, '/api/sms/send-batch', { recipients, message: 'bulk' });
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(1000);
    expect((await get(gw.app, `/api/sms?batch_id=${res.body.batch_id}&limit=1`)).body.total).toBe(1000);
  });
});

describe('the batch of a one-recipient send', () => {
  const batchRows = async (id: string) => (await gw.services.store.db.selectFrom('batches').select('id').where('id', '=', id).execute()).length;
  /** The same request as a one-recipient send, and to one number given twice (one message, but a stored batch row). */
  const sendBoth = async (request: Record<string, unknown>) => {
    const one = await post(gw.app, '/api/sms/send', { ...request, to: [{ number: US }] });
    const twice = await post(gw.app, '/api/sms/send', { ...request, to: [{ number: US2 }, { number: US2 }] });
    expect([one.status, twice.status]).toEqual([200, 200]);
    expect(twice.body.messages).toHaveLength(1);
    return { one: one.body.batch_id as string, twice: twice.body.batch_id as string };
  };
  /** A batch as GET shows it, less what differs between the two by design. */
  const shown = async (id: string) => {
    const { batch_id: _id, created_at: _at, duplicates: _duplicates, ...rest } = (await get(gw.app, `/api/sms/batches/${id}`)).body;
    return rest;
  };

  it('stores no batch row: the message answers for it as the row does, through schedule and cancel', async () => {
    const scheduleAt = new Date(Date.now() + 3_600_000).toISOString();
    const { one, twice } = await sendBoth({ message: 'x', sms_type: 'transactional', schedule_at: scheduleAt, metadata: { order: 7 } });
    expect(await batchRows(one)).toBe(0);
    expect(await batchRows(twice)).toBe(1);

    expect(await shown(one)).toEqual(await shown(twice));
    expect(await shown(one)).toMatchObject({
      name: null, status: 'scheduled', sms_type: 'transactional', provider: 'simulator', template_id: null, total_recipients: 1, accepted: 1, rejected: 0,
      total_segments: 1, estimated_cost: 0.0079, cost_so_far: 0, currency: 'USD', counts: { scheduled: 1 }, scheduled_at: scheduleAt,
    });
    expect((await get(gw.app, `/api/sms/batches/${one}`)).body.duplicates).toBe(0);
    // The request's metadata, kept on the message where there is no batch row to keep it.
    const [message] = (await get(gw.app, `/api/sms?batch_id=${one}`)).body.items;
    expect((await get(gw.app, `/api/sms/${message.id}`)).body.metadata).toEqual({ order: 7 });

    for (const id of [one, twice]) expect((await post(gw.app, `/api/sms/batches/${id}/cancel`)).body).toMatchObject({ status: 'canceled', canceled: 1, counts: { canceled: 1 } });
    expect(await shown(one)).toEqual(await shown(twice));
  });

  it('is canceled once its message is, however the message was canceled', async () => {
    const { one, twice } = await sendBoth({ message: 'x', schedule_at: new Date(Date.now() + 3_600_000).toISOString() });
    for (const id of [one, twice]) {
      const [message] = (await get(gw.app, `/api/sms?batch_id=${id}`)).body.items;
      expect((await post(gw.app, `/api/sms/${message.id}/cancel`)).status).toBe(200);
    }
    expect(await shown(one)).toMatchObject({ status: 'canceled', counts: { canceled: 1 } });
    // A stored row keeps the status the request asked for; every message being final makes that 'completed'.
    expect(await shown(twice)).toMatchObject({ status: 'completed', counts: { canceled: 1 } });
    expect((await post(gw.app, `/api/sms/batches/${one}/cancel`)).body).toMatchObject({ status: 'canceled', canceled: 0 });
  });

  it('answers as the row does once delivered', async () => {
    const { one, twice } = await sendBoth({ message: 'x' });
    await drain(gw.services);
    expect(await shown(one)).toEqual(await shown(twice));
    expect(await shown(one)).toMatchObject({ status: 'completed', counts: { delivered: 1 }, cost_so_far: 0.0079 });
  });

  it('is how an OTP\'s message is stored too', async () => {
    const otp = await post(gw.app, '/api/otp/generate', { phone_number: { number: US }, metadata: { purpose: 'login' } });
    expect(otp.status).toBe(200);
    const message = (await get(gw.app, `/api/sms/${otp.body.message_id}`)).body;
    expect(message.metadata).toEqual({ purpose: 'login' });
    expect(await batchRows(message.batch_id)).toBe(0);
    expect((await get(gw.app, `/api/sms/batches/${message.batch_id}`)).body).toMatchObject({ status: 'queued', sms_type: 'otp', total_recipients: 1, counts: { queued: 1 } });
  });
});
