import { afterEach, describe, expect, it } from 'vitest';
import { GB, startGateway, type TestGateway, US } from '../helpers/gateway.js';
import { restError, startTwilioGateway, type TwilioSetup } from './setup.js';

let t: TwilioSetup | undefined;
let gw: TestGateway | undefined;
afterEach(async () => {
  await t?.gw.stop();
  await gw?.stop();
  t = gw = undefined;
});

const basic = (sid: string, key: string) => `Basic ${Buffer.from(`${sid}:${key}`).toString('base64')}`;

describe('accounts and authentication', () => {
  it('takes Basic AccountSid:key on the native API too, and refuses a SID that is not the key\'s', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true' });
    const key = await gw.services.keys.create('app', ['read']);
    expect(key.account_sid).toMatch(/^AC[0-9a-f]{32}$/);
    // A valid key under another key's SID: the credentials do not hold together.
    const admin = await gw.services.keys.create('ops', ['admin']);
    expect((await gw.app.inject({ method: 'GET', url: '/api/keys', headers: { authorization: basic(key.account_sid, admin.key) } })).statusCode).toBe(401);
    expect((await gw.app.inject({ method: 'GET', url: '/api/keys', headers: { authorization: basic(admin.account_sid, admin.key) } })).statusCode).toBe(200);
    expect((await gw.app.inject({ method: 'GET', url: '/api/sms', headers: { authorization: basic(key.account_sid, key.key) } })).statusCode).toBe(200);
    const wrong = await gw.app.inject({ method: 'GET', url: '/api/sms', headers: { authorization: basic(`AC${'0'.repeat(32)}`, key.key) } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['content-type']).toContain('application/problem+json');
  });

  it('with keys off, a call without credentials is the operator, on any account path', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'false' });
    const path = `/2010-04-01/Accounts/AC${'1'.repeat(32)}/Messages.json`;
    const created = await gw.app.inject({
      method: 'POST', url: path, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ To: US, From: '+14155550100', Body: 'operator' }).toString(),
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ account_sid: `AC${'1'.repeat(32)}`, status: 'queued' });
    const fetched = await gw.app.inject({ method: 'GET', url: `/2010-04-01/Accounts/AC${'2'.repeat(32)}/Messages/${created.json().sid}.json` });
    expect(fetched.statusCode).toBe(200);
    const bad = await gw.app.inject({ method: 'GET', url: '/2010-04-01/Accounts/not-a-sid/Messages.json' });
    expect(bad.json()).toMatchObject({ code: 20404, status: 404 });
    // A key given while keys are optional is still checked.
    const wrong = await gw.app.inject({ method: 'GET', url: path, headers: { authorization: basic(`AC${'1'.repeat(32)}`, 'sgw_nope') } });
    expect(wrong.json()).toMatchObject({ code: 20003, status: 401 });
  });

  it('limits Twilio API calls like /api calls, answering 20429', async () => {
    t = await startTwilioGateway({ RATE_LIMIT_PER_SECOND: '2' });
    await t.client.messages.list();
    await t.client.messages.list();
    const limited = await restError(t.client.messages.list());
    expect(limited).toMatchObject({ code: 20429, status: 429 });
  });

  it('maps the gateway\'s recipient rules to Twilio\'s codes: blocked destinations, the per-number cap', async () => {
    t = await startTwilioGateway({ BLOCKED_COUNTRIES: 'GB', MAX_SMS_PER_NUMBER_PER_HOUR: '1' });
    expect(await restError(t.client.messages.create({ to: GB, from: '+14155550100', body: 'hi' }))).toMatchObject({ code: 21408, status: 400 });
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme' });
    expect(await restError(t.client.verify.v2.services(service.sid).verifications.create({ to: GB, channel: 'sms' }))).toMatchObject({ code: 60605, status: 403 });
    await t.client.messages.create({ to: US, from: '+14155550100', body: 'first' });
    expect(await restError(t.client.messages.create({ to: US, from: '+14155550100', body: 'second' }))).toMatchObject({ code: 20429, status: 429 });
  });
});
