import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

const SECRET = 'whsec_test';
const sign = (body: string) => 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');

let gw: TestGateway;
beforeEach(async () => {
  // Long delay: the simulator's own report must not race the reports these tests post.
  gw = await startGateway({ WEBHOOK_SECRET: SECRET, SIMULATOR_DELIVERY_DELAY_MS: '600000' });
});
afterEach(async () => gw.stop());

async function sentMessage(): Promise<string> {
  const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
  await drain(gw.services);
  return res.body.messages[0].id;
}

describe('POST /api/sms/{id}/webhook', () => {
  it('applies a signed report, idempotently', async () => {
    const id = await sentMessage();
    const body = JSON.stringify({ status: 'delivered', timestamp: new Date().toISOString(), provider: 'twilio', error_code: null });
    const first = await post(gw.app, `/api/sms/${id}/webhook`, body, { 'x-webhook-signature': sign(body) });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ applied: true, status: 'delivered', previous_status: 'sent' });
    const again = await post(gw.app, `/api/sms/${id}/webhook`, body, { 'x-webhook-signature': sign(body) });
    expect(again.body).toMatchObject({ applied: false, status: 'delivered' });
    const m = (await get(gw.app, `/api/sms/${id}`)).body;
    expect(m.events.filter((e: any) => e.status === 'delivered')).toHaveLength(1);
  });

  it('401 without or with a wrong signature', async () => {
    const id = await sentMessage();
    const body = JSON.stringify({ status: 'delivered' });
    expect((await post(gw.app, `/api/sms/${id}/webhook`, body)).status).toBe(401);
    const wrong = await post(gw.app, `/api/sms/${id}/webhook`, body, { 'x-webhook-signature': sign(body + ' ') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['content-type']).toContain('application/problem+json');
    expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('sent');
  });

  it('ignores a status regression', async () => {
    const id = await sentMessage();
    const failed = JSON.stringify({ status: 'undelivered', error_code: '30003' });
    await post(gw.app, `/api/sms/${id}/webhook`, failed, { 'x-webhook-signature': sign(failed) });
    const late = JSON.stringify({ status: 'sent' });
    const res = await post(gw.app, `/api/sms/${id}/webhook`, late, { 'x-webhook-signature': sign(late) });
    expect(res.status).toBe(200);
    expect(res.body.applied).toBe(false);
    const m = (await get(gw.app, `/api/sms/${id}`)).body;
    expect(m).toMatchObject({ status: 'undelivered', error_code: '30003' });
  });

  it('404 for an unknown message, 422 for an unknown status', async () => {
    const body = JSON.stringify({ status: 'delivered' });
    expect((await post(gw.app, '/api/sms/msg_nope/webhook', body, { 'x-webhook-signature': sign(body) })).status).toBe(404);
    const id = await sentMessage();
    const bad = JSON.stringify({ status: 'teleported' });
    const res = await post(gw.app, `/api/sms/${id}/webhook`, bad, { 'x-webhook-signature': sign(bad) });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('status');
  });
});

describe('POST /api/webhooks/simulator', () => {
  it('takes the simulator\'s native report, verified by its signature', async () => {
    const id = await sentMessage();
    const m = (await get(gw.app, `/api/sms/${id}`)).body;
    const body = JSON.stringify({ message_sid: m.provider_message_id, status: 'undelivered', error_code: 'SIM_UNREACHABLE' });
    const unsigned = await post(gw.app, '/api/webhooks/simulator', body);
    expect(unsigned.status).toBe(401);
    const sig = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
    const res = await post(gw.app, '/api/webhooks/simulator', body, { 'x-simulator-signature': sig });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: 1, applied: 1 });
    expect((await get(gw.app, `/api/sms/${id}`)).body).toMatchObject({ status: 'undelivered', error_code: 'SIM_UNREACHABLE' });
    expect((await post(gw.app, '/api/webhooks/nobody', body)).status).toBe(404);
  });
});
