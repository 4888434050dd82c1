import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OptOutPolicy } from '../../src/services/policies/opt-out-policy.js';
import { plivoSignatureV2, plivoSignatureV3 } from '../../src/providers/plivo/signature.js';
import { twilioSignature } from '../../src/providers/twilio/signature.js';
import { signReceipt } from '../providers/fakes/nexmo-fake.js';
import { startGateway, type TestGateway, US, US2, GB } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

async function del(gw: TestGateway, url: string) {
  const res = await gw.app.inject({ method: 'DELETE', url });
  return { status: res.statusCode, body: res.body ? res.json() : undefined };
}

async function optedOut(gw: TestGateway): Promise<string[]> {
  return (await get(gw.app, '/api/opt-outs?limit=500')).body.items.map((o: any) => o.number);
}

describe('opt-outs', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => gw.stop());

  it('POST is idempotent (201 then 200), GET lists newest first, DELETE removes (then 404)', async () => {
    const first = await post(gw.app, '/api/opt-outs', { number: US, reason: 'asked by phone' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ number: US, reason: 'asked by phone', source: 'api', created_at: expect.any(String) });
    const again = await post(gw.app, '/api/opt-outs', { number: US, reason: 'another reason' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    await new Promise((r) => setTimeout(r, 5));
    // National with spaces, normalised to E.164.
    expect((await post(gw.app, '/api/opt-outs', { number: '+44 7400 123456' })).body).toMatchObject({ number: GB, reason: null });

    const list = await get(gw.app, '/api/opt-outs?limit=1&offset=0');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 2, limit: 1, offset: 0, items: [{ number: GB }] });
    expect((await get(gw.app, '/api/opt-outs?limit=1&offset=1')).body.items).toEqual([first.body]);

    expect((await del(gw, `/api/opt-outs/${encodeURIComponent(US)}`)).status).toBe(204);
    const gone = await del(gw, `/api/opt-outs/${encodeURIComponent(US)}`);
    expect(gone.status).toBe(404);
    expect(await optedOut(gw)).toEqual([GB]);
  });

  it('an invalid number is a 422 naming `number`', async () => {
    const bad = await post(gw.app, '/api/opt-outs', { number: '+1234567890' });
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'number' })]);
    expect((await del(gw, '/api/opt-outs/not-a-number')).body.errors).toEqual([expect.objectContaining({ field: 'number' })]);
    expect((await post(gw.app, '/api/opt-outs', {})).status).toBe(422);
    expect(await optedOut(gw)).toEqual([]);
  });

  it('a promotional batch skips an opted-out recipient and sends the rest', async () => {
    await post(gw.app, '/api/opt-outs', { number: US });
    const res = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: US2 }, { number: GB }], message: 'Sale today', sms_type: 'promotional' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 2, rejected: 1 });
    expect(res.body.rejected_recipients).toEqual([expect.objectContaining({ number: US, reason: 'opted_out' })]);
    const sent = (await get(gw.app, `/api/sms?batch_id=${res.body.batch_id}`)).body.items.map((m: any) => m.to).sort();
    expect(sent).toEqual([US2, GB].sort());
  });

  it('send: promotional or marketing to an opted-out number is a 422 naming to[0].number; transactional, otp and alert still go', async () => {
    await post(gw.app, '/api/opt-outs', { number: US });
    for (const smsType of ['promotional', 'marketing']) {
      const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'Sale today', sms_type: smsType });
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([expect.objectContaining({ field: 'to[0].number', reason: 'opted_out' })]);
    }
    for (const smsType of ['transactional', 'otp', 'alert']) {
      const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: `Your ${smsType} notice`, sms_type: smsType });
      expect(res.status).toBe(200);
    }
    // Default sms_type is transactional.
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'Order shipped' })).status).toBe(200);
    expect((await post(gw.app, '/api/otp/generate', { phone_number: { number: US } })).status).toBe(200);
    // Opted back in: promotional goes again.
    await del(gw, `/api/opt-outs/${encodeURIComponent(US)}`);
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'Sale', sms_type: 'promotional' })).status).toBe(200);
  });

  it('the policy looks numbers up in chunks, past any bound-parameter limit, and only for promotional and marketing', async () => {
    const numbers = Array.from({ length: 1203 }, (_, i) => `+1415555${String(i).padStart(4, '0')}`);
    const optedOutNumbers = numbers.filter((_, i) => i % 2 === 0);
    await gw.services.store.db.insertInto('opt_outs').values(optedOutNumbers.map((number) => ({ number, reason: null, source: 'api', created_at: 1 }))).execute();
    const policy = new OptOutPolicy(gw.services.store.db);
    const check = (smsType: any) => policy.check(numbers.map((e164) => ({ e164, country: 'US', smsType, keyId: null })), Date.now());
    const refused = await check('marketing');
    expect([...refused.keys()].sort()).toEqual(optedOutNumbers);
    expect([...refused.values()].every((r) => r.reason === 'opted_out')).toBe(true);
    expect((await check('alert')).size).toBe(0);
  });

  it('generic inbound: STOP opts the sender out, START back in; both are listed', async () => {
    const stop = await post(gw.app, '/api/inbound', { from: US, to: '+14155550100', text: '  stop ' });
    expect(stop.status).toBe(201);
    expect(stop.body).toMatchObject({ id: expect.stringMatching(/^inb_/), from: US, to: '+14155550100', text: '  stop ', provider: null, action: 'opt_out' });
    expect((await get(gw.app, '/api/opt-outs')).body.items).toEqual([expect.objectContaining({ number: US, source: 'inbound', reason: 'STOP' })]);
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'Sale', sms_type: 'promotional' })).status).toBe(422);

    const chat = await post(gw.app, '/api/inbound', { from: US2, text: 'Hello there', provider: 'twilio' });
    expect(chat.body).toMatchObject({ action: null, provider: 'twilio' });

    const start = await post(gw.app, '/api/inbound', { from: US, text: 'Start' });
    expect(start.body.action).toBe('opt_in');
    expect(await optedOut(gw)).toEqual([]);

    const all = (await get(gw.app, '/api/inbound')).body;
    expect(all.total).toBe(3);
    expect(all.items.map((m: any) => m.text)).toEqual(['Start', 'Hello there', '  stop ']);
    const mine = (await get(gw.app, `/api/inbound?from=${encodeURIComponent(US)}&limit=1`)).body;
    expect(mine).toMatchObject({ total: 2, limit: 1, offset: 0, items: [{ text: 'Start' }] });

    // A provider named by the client marks the opt-out's source.
    await post(gw.app, '/api/inbound', { from: US2, text: 'UNSUBSCRIBE', provider: 'plivo' });
    expect((await get(gw.app, '/api/opt-outs')).body.items).toEqual([expect.objectContaining({ number: US2, source: 'inbound:plivo' })]);
  });

  it('generic inbound: an invalid sender is a 422 naming `from`, and nothing is stored', async () => {
    const res = await post(gw.app, '/api/inbound', { from: 'ACME', text: 'STOP' });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'from' })]);
    expect((await get(gw.app, '/api/inbound')).body.total).toBe(0);
  });

  it('provider inbound for a provider that is not enabled, or has no inbound format, is a 404', async () => {
    expect((await post(gw.app, '/api/webhooks/twilio/inbound', 'From=%2B14155552671&Body=STOP', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(404);
    expect((await post(gw.app, '/api/webhooks/simulator/inbound', { from: US, text: 'STOP' })).status).toBe(404);
    expect((await post(gw.app, '/api/webhooks/nope/inbound', {})).status).toBe(404);
  });
});

const PUBLIC_URL = 'https://gateway.example.com';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function inboundState(gw: TestGateway) {
  return { inbound: (await get(gw.app, '/api/inbound')).body.items, optOuts: await optedOut(gw) };
}

describe('provider inbound webhooks', () => {
  let gw: TestGateway;
  afterEach(async () => gw?.stop());

  it('Twilio: signed form POST is stored and STOP applied; forged or unsigned is 401 and stores nothing', async () => {
    const authToken = 'twilio-test-auth-token';
    gw = await startGateway({
      PUBLIC_URL, TWILIO_ACCOUNT_SID: 'AC' + 'b'.repeat(32), TWILIO_AUTH_TOKEN: authToken, TWILIO_PHONE_NUMBER: '+15005550006',
    });
    const url = '/api/webhooks/twilio/inbound';
    const fields = {
      ToCountry: 'US', SmsMessageSid: 'SM' + '1'.repeat(32), NumMedia: '0', SmsSid: 'SM' + '1'.repeat(32), SmsStatus: 'received',
      Body: 'STOP', To: '+15005550006', NumSegments: '1', MessageSid: 'SM' + '1'.repeat(32), AccountSid: 'AC' + 'b'.repeat(32), From: US, ApiVersion: '2010-04-01',
    };
    const body = new URLSearchParams(fields).toString();

    const forged = await post(gw.app, url, body, { ...FORM, 'x-twilio-signature': twilioSignature('not-the-token', PUBLIC_URL + url, fields) });
    expect(forged.status).toBe(401);
    expect((await post(gw.app, url, body, FORM)).status).toBe(401);
    // Signed for another body.
    const tampered = await post(gw.app, url, body.replace('STOP', 'START'), { ...FORM, 'x-twilio-signature': twilioSignature(authToken, PUBLIC_URL + url, fields) });
    expect(tampered.status).toBe(401);
    expect(await inboundState(gw)).toEqual({ inbound: [], optOuts: [] });

    const signed = await gw.app.inject({ method: 'POST', url, headers: { ...FORM, 'x-twilio-signature': twilioSignature(authToken, PUBLIC_URL + url, fields) }, payload: body });
    expect(signed.statusCode).toBe(200);
    expect(signed.headers['content-type']).toMatch(/xml/);
    expect(signed.body).toContain('<Response></Response>');
    const state = await inboundState(gw);
    expect(state.inbound).toEqual([expect.objectContaining({ from: US, to: '+15005550006', text: 'STOP', provider: 'twilio', provider_message_id: fields.MessageSid, action: 'opt_out' })]);
    expect(state.optOuts).toEqual([US]);
    expect((await get(gw.app, '/api/opt-outs')).body.items[0].source).toBe('inbound:twilio');

    // A retry of the same message is recorded once.
    await gw.app.inject({ method: 'POST', url, headers: { ...FORM, 'x-twilio-signature': twilioSignature(authToken, PUBLIC_URL + url, fields) }, payload: body });
    expect((await inboundState(gw)).inbound).toHaveLength(1);

    // GET: the fields are in the signed URL.
    const query = `?${new URLSearchParams({ ...fields, Body: 'start', MessageSid: 'SM' + '2'.repeat(32) })}`;
    const viaGet = await gw.app.inject({ method: 'GET', url: url + query, headers: { 'x-twilio-signature': twilioSignature(authToken, PUBLIC_URL + url + query, {}) } });
    expect(viaGet.statusCode).toBe(200);
    expect((await inboundState(gw)).optOuts).toEqual([]);
  });

  it('Plivo: V3-signed inbound is stored and STOP applied; V2 accepted; forged is 401 and stores nothing', async () => {
    const authToken = 'plivo-test-auth-token';
    gw = await startGateway({ PUBLIC_URL, PLIVO_AUTH_ID: 'MAXXXXXXXXXXXXXXXXXX', PLIVO_AUTH_TOKEN: authToken, PLIVO_PHONE_NUMBER: '14155550100' });
    const url = '/api/webhooks/plivo/inbound';
    const fields = { From: US.slice(1), To: '14155550100', Type: 'sms', Text: 'Stop', MessageUUID: randomUUID(), Units: '1', TotalRate: '0', TotalAmount: '0', MessageIntent: 'optout', PowerpackUUID: '' };
    const body = new URLSearchParams(fields).toString();
    const nonce = '12345678901234567890';
    const v3 = (token: string, f: Record<string, string>) => ({ ...FORM, 'x-plivo-signature-v3': plivoSignatureV3(token, 'POST', PUBLIC_URL + url, nonce, f), 'x-plivo-signature-v3-nonce': nonce });

    expect((await post(gw.app, url, body, v3('not-the-token', fields))).status).toBe(401);
    expect((await post(gw.app, url, body, FORM)).status).toBe(401);
    expect((await post(gw.app, url, body.replace('Stop', 'Hello'), v3(authToken, fields))).status).toBe(401);
    expect(await inboundState(gw)).toEqual({ inbound: [], optOuts: [] });

    const signed = await gw.app.inject({ method: 'POST', url, headers: v3(authToken, fields), payload: body });
    expect(signed.statusCode).toBe(200);
    expect(signed.body).toContain('<Response></Response>');
    const state = await inboundState(gw);
    expect(state.inbound).toEqual([expect.objectContaining({ from: US, to: '+14155550100', text: 'Stop', provider: 'plivo', provider_message_id: fields.MessageUUID, action: 'opt_out' })]);
    expect(state.optOuts).toEqual([US]);

    // V2 (what Plivo's messaging pages document) covers the URL only.
    const yes = { ...fields, Text: 'YES', MessageUUID: randomUUID() };
    const v2 = await gw.app.inject({
      method: 'POST', url, payload: new URLSearchParams(yes).toString(),
      headers: { ...FORM, 'x-plivo-signature-v2': plivoSignatureV2(authToken, PUBLIC_URL + url, nonce), 'x-plivo-signature-v2-nonce': nonce },
    });
    expect(v2.statusCode).toBe(200);
    expect((await inboundState(gw)).optOuts).toEqual([]);
  });

  it('Vonage: signed inbound (POST JSON, GET query) is stored and keywords applied; bad sig is 401 and stores nothing', async () => {
    const secret = 'vonage-test-signature-secret';
    gw = await startGateway({ PUBLIC_URL, NEXMO_API_KEY: 'abcd1234', NEXMO_API_SECRET: 'secret', NEXMO_PHONE_NUMBER: '447700900000', NEXMO_SIGNATURE_SECRET: secret, NEXMO_SIGNATURE_METHOD: 'sha256' });
    const url = '/api/webhooks/nexmo/inbound';
    const message = { msisdn: GB.slice(1), to: '447700900000', messageId: '0A0000000123ABCD1', text: 'QUIT', type: 'text', keyword: 'QUIT', 'api-key': 'abcd1234', 'message-timestamp': '2025-03-04 05:06:07' };

    const forged = signReceipt(message, 'not-the-secret', 'sha256');
    expect((await post(gw.app, url, forged)).status).toBe(401);
    expect((await post(gw.app, url, message)).status).toBe(401);
    expect((await post(gw.app, url, { ...signReceipt(message, secret, 'sha256'), text: 'START' })).status).toBe(401);
    expect(await inboundState(gw)).toEqual({ inbound: [], optOuts: [] });

    const signed = await post(gw.app, url, signReceipt(message, secret, 'sha256'));
    expect(signed.status).toBe(200);
    expect(signed.body).toEqual({ received: 1, stored: 1 });
    const state = await inboundState(gw);
    expect(state.inbound).toEqual([expect.objectContaining({
      from: GB, to: '+447700900000', text: 'QUIT', provider: 'nexmo', provider_message_id: message.messageId, action: 'opt_out', received_at: '2025-03-04T05:06:07.000Z',
    })]);
    expect(state.optOuts).toEqual([GB]);

    // Vonage resends until it gets a 2xx: the same messageId is recorded once.
    expect((await post(gw.app, url, signReceipt(message, secret, 'sha256'))).body).toEqual({ received: 1, stored: 0 });

    const optIn = signReceipt({ ...message, messageId: '0A0000000123ABCD2', text: 'unstop', keyword: 'UNSTOP' }, secret, 'sha256');
    const viaGet = await gw.app.inject({ method: 'GET', url: `${url}?${new URLSearchParams(optIn)}` });
    expect(viaGet.statusCode).toBe(200);
    expect((await inboundState(gw)).optOuts).toEqual([]);

    // One part of a long text is stored, but never read as a keyword.
    const part = signReceipt({ ...message, messageId: '0A0000000123ABCD3', text: 'stop', concat: 'true', 'concat-ref': '7', 'concat-total': '2', 'concat-part': '2' }, secret, 'sha256');
    expect((await post(gw.app, url, new URLSearchParams(part).toString(), FORM)).status).toBe(200);
    const after = await inboundState(gw);
    expect(after.inbound[0]).toMatchObject({ text: 'stop', action: null });
    expect(after.optOuts).toEqual([]);
  });
});
