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
