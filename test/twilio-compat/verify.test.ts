import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, GB, US, US2 } from '../helpers/gateway.js';
import { restError, sdkFor, startTwilioGateway, type TwilioSetup } from './setup.js';

let t: TwilioSetup;
afterEach(async () => t?.gw.stop());

/** The code as the phone got it: from the simulator's outbox. */
async function codeSentTo(number: string): Promise<{ text: string; code: string }> {
  await drain(t.gw.services);
  const res = await t.gw.app.inject({ method: 'GET', url: `/api/simulator/outbox?to=${encodeURIComponent(number)}&limit=1`, headers: { authorization: `Bearer ${t.key.key}` } });
  const text: string = res.json().items[0].body;
  return { text, code: text.match(/code is: (\w+)/)![1] };
}

describe('Twilio Verify through the official SDK', () => {
  beforeEach(async () => {
    t = await startTwilioGateway({ OTP_MAX_ATTEMPTS: '3', OTP_RESEND_COOLDOWN: '0' });
  });

  it('creates a service, sends a code that names it, and approves the right code', async () => {
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme', codeLength: 7 });
    expect(service.sid).toMatch(/^VA[0-9a-f]{32}$/);
    expect(service).toMatchObject({ friendlyName: 'Acme', codeLength: 7, accountSid: t.key.account_sid });
    expect((await t.client.verify.v2.services(service.sid).fetch()).friendlyName).toBe('Acme');

    const verification = await t.client.verify.v2.services(service.sid).verifications.create({ to: US, channel: 'sms' });
    expect(verification.sid).toMatch(/^VE[0-9a-f]{32}$/);
    expect(verification).toMatchObject({ status: 'pending', valid: false, to: US, channel: 'sms', serviceSid: service.sid, accountSid: t.key.account_sid });
    expect(verification.sendCodeAttempts).toHaveLength(1);

    const { text, code } = await codeSentTo(US);
    expect(text).toBe(`Your Acme verification code is: ${code}`);
    expect(code).toMatch(/^\d{7}$/);

    const fetched = await t.client.verify.v2.services(service.sid).verifications(verification.sid).fetch();
    expect(fetched.status).toBe('pending');

    const check = await t.client.verify.v2.services(service.sid).verificationChecks.create({ to: US, code });
    expect(check).toMatchObject({ status: 'approved', valid: true, sid: verification.sid, to: US });
    // Approved is final: Twilio soft-deletes it, and so does the gateway.
    expect(await restError(t.client.verify.v2.services(service.sid).verificationChecks.create({ to: US, code }))).toMatchObject({ code: 20404, status: 404 });
    expect(await restError(t.client.verify.v2.services(service.sid).verifications(verification.sid).fetch())).toMatchObject({ code: 20404 });

    // The OTP engine's own records: the session is verified.
    const stats = await t.gw.app.inject({ method: 'GET', url: '/api/analytics/stats', headers: { authorization: `Bearer ${t.key.key}` } });
    expect(stats.json().otp).toMatchObject({ generated: 1, verified: 1 });
  });

  it('answers a wrong code pending with valid false, and 60202 past the maximum of checks', async () => {
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme' });
    const verification = await t.client.verify.v2.services(service.sid).verifications.create({ to: US, channel: 'sms' });
    const { code } = await codeSentTo(US);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i++) {
      const check = await t.client.verify.v2.services(service.sid).verificationChecks.create({ verificationSid: verification.sid, code: wrong });
      expect(check).toMatchObject({ status: 'pending', valid: false });
    }
    const past = await restError(t.client.verify.v2.services(service.sid).verificationChecks.create({ to: US, code: wrong }));
    expect(past).toMatchObject({ code: 60202, status: 429 });
    // Even the right code: the checks are used up.
    expect(await restError(t.client.verify.v2.services(service.sid).verificationChecks.create({ to: US, code }))).toMatchObject({ code: 60202 });
    expect((await t.client.verify.v2.services(service.sid).verifications(verification.sid).fetch()).status).toBe('max_attempts_reached');
  });

  it('resends on a repeated start (same verification, new code), and stops at the OTP limits with 60203', async () => {
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme' });
    const first = await t.client.verify.v2.services(service.sid).verifications.create({ to: US2, channel: 'sms' });
    const firstCode = (await codeSentTo(US2)).code;
    const again = await t.client.verify.v2.services(service.sid).verifications.create({ to: US2, channel: 'sms' });
    expect(again.sid).toBe(first.sid);
    expect(again.sendCodeAttempts).toHaveLength(2);
    const secondCode = (await codeSentTo(US2)).code;
    if (secondCode !== firstCode) {
      expect(await t.client.verify.v2.services(service.sid).verificationChecks.create({ to: US2, code: firstCode })).toMatchObject({ status: 'pending', valid: false });
    }
    // OTP_MAX_RESENDS (3): the fourth resend is refused.
    await t.client.verify.v2.services(service.sid).verifications.create({ to: US2, channel: 'sms' });
    await t.client.verify.v2.services(service.sid).verifications.create({ to: US2, channel: 'sms' });
    expect(await restError(t.client.verify.v2.services(service.sid).verifications.create({ to: US2, channel: 'sms' }))).toMatchObject({ code: 60203, status: 429 });
  });

  it('within one millisecond, a repeated start and a check by To both go to the verification with the later OTP session', async () => {
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme' });
    const verifications = t.client.verify.v2.services(service.sid).verifications;
    const db = t.gw.services.store.db;
    const row = (sid: string) => db.selectFrom('verifications').selectAll().where('sid', '=', sid).executeTakeFirstOrThrow();

    // As if two starts raced (neither saw the other pending) and the earlier session's row was written last:
    // the older row is held out while the newer is started, then put back, so it is the one stored last.
    const older = await verifications.create({ to: US, channel: 'sms' });
    const olderRow = await row(older.sid);
    await db.deleteFrom('verifications').where('sid', '=', older.sid).execute();
    const newer = await verifications.create({ to: US, channel: 'sms' });
    expect(newer.sid).not.toBe(older.sid);
    const newerRow = await row(newer.sid);
    await db.insertInto('verifications').values(olderRow).execute();
    await db.updateTable('verifications').set({ created_at: newerRow.created_at }).where('sid', '=', older.sid).execute();
    // Otherwise the test would not be about the tie-break.
    expect(newerRow.session_id > olderRow.session_id).toBe(true);

    // An index scan for the newest meets the row stored last (the older session) first; the tie-break must not.
    const again = await verifications.create({ to: US, channel: 'sms' });
    expect(again.sid).toBe(newer.sid);
    expect(again.sendCodeAttempts).toHaveLength(2);
    const { code } = await codeSentTo(US);
    const check = await t.client.verify.v2.services(service.sid).verificationChecks.create({ to: US, code });
    expect(check).toMatchObject({ sid: newer.sid, status: 'approved', valid: true });
    expect((await row(older.sid)).status).toBe('pending');
  });

  it('cancels and approves a verification by update', async () => {
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme' });
    const one = await t.client.verify.v2.services(service.sid).verifications.create({ to: US, channel: 'sms' });
    const { code } = await codeSentTo(US);
    const canceled = await t.client.verify.v2.services(service.sid).verifications(one.sid).update({ status: 'canceled' });
    expect(canceled.status).toBe('canceled');
    expect(await restError(t.client.verify.v2.services(service.sid).verificationChecks.create({ verificationSid: one.sid, code }))).toMatchObject({ code: 20404 });

    const two = await t.client.verify.v2.services(service.sid).verifications.create({ to: GB, channel: 'sms' });
    expect(two.sid).not.toBe(one.sid);
    const approved = await t.client.verify.v2.services(service.sid).verifications(two.sid).update({ status: 'approved' });
    expect(approved).toMatchObject({ status: 'approved', valid: true });
    expect(await restError(t.client.verify.v2.services(service.sid).verifications(two.sid).update({ status: 'canceled' }))).toMatchObject({ code: 20404 });
  });

  it('answers Twilio\'s codes for bad parameters, unknown resources and other accounts', async () => {
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme' });
    const verifications = t.client.verify.v2.services(service.sid).verifications;
    expect(await restError(verifications.create({ to: '+1234567890', channel: 'sms' }))).toMatchObject({ code: 60200, status: 400 });
    expect(await restError(verifications.create({ to: US, channel: 'call' }))).toMatchObject({ code: 60200 });
    expect(await restError(t.client.verify.v2.services.create({ friendlyName: 'x'.repeat(31) }))).toMatchObject({ code: 60200 });
    expect(await restError(t.client.verify.v2.services.create({ friendlyName: 'Acme', codeLength: 3 }))).toMatchObject({ code: 60200 });
    expect(await restError(t.client.verify.v2.services(service.sid).verificationChecks.create({ to: US, code: '123456' }))).toMatchObject({ code: 20404, status: 404 });
    expect(await restError(t.client.verify.v2.services(`VA${'0'.repeat(32)}`).fetch())).toMatchObject({ code: 20404 });
    // Another key's services are not this account's.
    const other = await t.gw.services.keys.create('other', ['otp']);
    expect(await restError(sdkFor(t.publicUrl, other.account_sid, other.key).verify.v2.services(service.sid).fetch())).toMatchObject({ code: 20404 });
    expect(await restError(sdkFor(t.publicUrl, other.account_sid, t.key.key).verify.v2.services(service.sid).fetch())).toMatchObject({ code: 20003, status: 401 });
    expect((await t.client.verify.v2.services.list()).map((s) => s.sid)).toEqual([service.sid]);
  });
});

describe('Verify under the pumping guard', () => {
  it('refuses codes to a throttled country with 60203', async () => {
    t = await startTwilioGateway({ OTP_PUMPING_MIN_CONVERSION: '0.5', OTP_PUMPING_MIN_GENERATES: '2', OTP_MAX_PER_NUMBER_PER_HOUR: '100' });
    const service = await t.client.verify.v2.services.create({ friendlyName: 'Acme' });
    const numbers = ['+447400123451', '+447400123452', '+447400123453'];
    await t.client.verify.v2.services(service.sid).verifications.create({ to: numbers[0], channel: 'sms' });
    await t.client.verify.v2.services(service.sid).verifications.create({ to: numbers[1], channel: 'sms' });
    expect(await restError(t.client.verify.v2.services(service.sid).verifications.create({ to: numbers[2], channel: 'sms' }))).toMatchObject({ code: 60203, status: 429 });
  });
});
