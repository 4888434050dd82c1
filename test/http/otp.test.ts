import { afterEach, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

async function gateway(env: Record<string, string> = {}) {
  gw = await startGateway({ OTP_RESEND_COOLDOWN: '0', OTP_MAX_PER_NUMBER_PER_HOUR: '50', ...env });
  return gw;
}

/** Reads the code as the phone would: from the simulator outbox. */
async function codeSentTo(g: TestGateway, number: string): Promise<string> {
  await drain(g.services);
  const outbox = (await get(g.app, `/api/simulator/outbox?to=${encodeURIComponent(number)}&limit=1`)).body;
  const match = outbox.items[0].body.match(/code (?:is:? )?([A-Z0-9]{4,10})/);
  return match[1];
}

const generate = (g: TestGateway, body: Record<string, unknown> = {}) => post(g.app, '/api/otp/generate', { phone_number: { number: US }, ...body });
const verify = (g: TestGateway, code: string, extra: Record<string, unknown> = {}, number = US) => post(g.app, '/api/otp/verify', { phone_number: { number }, otp_code: code, ...extra });

describe('OTP', () => {
  it('generates, sends at top priority and verifies once', async () => {
    const g = await gateway();
    const res = await generate(g, { phone_number: { number: US, name: 'John Doe' }, length: 6, expiry_minutes: 5, metadata: { purpose: 'login' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ phone_number: US, status: 'pending', attempts_allowed: 3 });
    expect(res.body.session_id).toMatch(/^otp_/);
    expect(Object.keys(res.body).sort()).toEqual(['attempts_allowed', 'expires_at', 'message_id', 'phone_number', 'resend_available_at', 'session_id', 'status']);
    const message = (await get(g.app, `/api/sms/${res.body.message_id}`)).body;
    expect(message).toMatchObject({ sms_type: 'otp', priority: 1, segments: 1, encoding: 'GSM-7', expire_at: res.body.expires_at });
    expect(message.message).toMatch(/code is \*{6}\./);
    const code = await codeSentTo(g, US);
    expect(code).toMatch(/^\d{6}$/);
    const ok = await verify(g, code);
    expect(ok.body).toEqual({ verified: true, session_id: res.body.session_id, status: 'verified', attempts_remaining: 3 });
    const again = await verify(g, code, { session_id: res.body.session_id });
    expect(again.body).toMatchObject({ verified: false, status: 'verified' });
    expect((await get(g.app, `/api/otp/sessions/${res.body.session_id}`)).body).toMatchObject({ status: 'verified', metadata: { purpose: 'login' } });
  });

  it('keeps the code out of responses, the database and message views', async () => {
    const g = await gateway();
    // Ten digits: a six-digit code turns up by chance in the timestamps and hashes around it
    // about once in 30,000 runs.
    const res = await generate(g, { length: 10 });
    const code = await codeSentTo(g, US);
    const session = await get(g.app, `/api/otp/sessions/${res.body.session_id}`);
    expect(JSON.stringify(res.body)).not.toContain(code);
    expect(JSON.stringify(session.body)).not.toContain(code);
    expect(JSON.stringify((await get(g.app, `/api/sms/${res.body.message_id}`)).body)).not.toContain(code);
    const tables = ['messages', 'otp_sessions', 'message_events', 'callbacks', 'batches', 'idempotency_keys'] as const;
    for (const table of tables) {
      const rows = await g.services.store.db.selectFrom(table).selectAll().execute();
      expect(JSON.stringify(rows), table).not.toContain(code);
    }
  });

  it('uses the seed\'s custom_message syntax and a template\'s {{otp}}', async () => {
    const g = await gateway();
    await generate(g, { custom_message: 'Your verification code is: {otp}. Valid for {expiry} minutes.', expiry_minutes: 7, length: 4 });
    await drain(g.services);
    const sent = (await get(g.app, '/api/simulator/outbox?limit=1')).body.items[0].body;
    expect(sent).toMatch(/^Your verification code is: \d{4}\. Valid for 7 minutes\.$/);
    await post(g.app, '/api/templates', { id: 'otp_template', name: 'OTP', content: '{{otp}} is your Acme code, {{name}}. Expires in {{expiry}} min.', sms_type: 'otp' });
    const seed = await post(g.app, '/api/otp/generate', {
      phone_number: { number: US2, name: 'John Doe' }, length: 6, expiry_minutes: 5, alphanumeric: false,
      custom_message: 'Your verification code is: {otp}. Valid for {expiry} minutes.', template_id: 'otp_template', metadata: { purpose: 'login' },
    });
    expect(seed.status).toBe(200);
    await drain(g.services);
    const viaTemplate = (await get(g.app, `/api/simulator/outbox?to=${encodeURIComponent(US2)}`)).body.items[0].body;
    expect(viaTemplate).toMatch(/^\d{6} is your Acme code, John Doe\. Expires in 5 min\.$/);
    expect((await get(g.app, '/api/templates/otp_template')).body.usage_count).toBe(1);
    const noPlaceholder = await generate(g, { custom_message: 'no code here' });
    expect(noPlaceholder.status).toBe(422);
    expect(noPlaceholder.body.errors[0].field).toBe('custom_message');
  });

  it('alphanumeric codes avoid look-alikes and verify case-insensitively', async () => {
    const g = await gateway();
    await generate(g, { alphanumeric: true, length: 8 });
    const code = await codeSentTo(g, US);
    expect(code).toMatch(/^[A-HJKMNP-Z2-9]{8}$/);
    expect((await verify(g, code.toLowerCase())).body.verified).toBe(true);
  });

  it('locks after OTP_MAX_ATTEMPTS wrong codes, even with the right one after', async () => {
    const g = await gateway();
    const res = await generate(g);
    const code = await codeSentTo(g, US);
    const wrong = code === '000000' ? '111111' : '000000';
    expect((await verify(g, wrong)).body).toMatchObject({ verified: false, status: 'pending', attempts_remaining: 2 });
    expect((await verify(g, wrong)).body).toMatchObject({ attempts_remaining: 1 });
    expect((await verify(g, wrong)).body).toMatchObject({ verified: false, status: 'locked', attempts_remaining: 0 });
    expect((await verify(g, code, { session_id: res.body.session_id })).body).toMatchObject({ verified: false, status: 'locked' });
    expect((await post(g.app, `/api/otp/resend/${res.body.session_id}`)).status).toBe(409);
  });

  it('resending does not reset wrong attempts (no brute force across resends)', async () => {
    const g = await gateway();
    const res = await generate(g);
    await codeSentTo(g, US);
    await verify(g, 'AAAA');
    await verify(g, 'AAAA');
    const resent = await post(g.app, `/api/otp/resend/${res.body.session_id}`);
    expect(resent.status).toBe(200);
    const fresh = await codeSentTo(g, US);
    expect((await verify(g, 'AAAA')).body).toMatchObject({ status: 'locked' });
    expect((await verify(g, fresh, { session_id: res.body.session_id })).body.verified).toBe(false);
  });

  it('a resend replaces the code; the old one stops working', async () => {
    const g = await gateway();
    const res = await generate(g);
    const first = await codeSentTo(g, US);
    await post(g.app, `/api/otp/resend/${res.body.session_id}`);
    const second = await codeSentTo(g, US);
    if (first !== second) expect((await verify(g, first)).body.verified).toBe(false);
    expect((await verify(g, second)).body.verified).toBe(true);
  });

  it('enforces resend cooldown (429 Retry-After) and the resend limit (409)', async () => {
    const g = await gateway({ OTP_RESEND_COOLDOWN: '30', OTP_MAX_RESENDS: '1' });
    const res = await generate(g);
    const early = await post(g.app, `/api/otp/resend/${res.body.session_id}`);
    expect(early.status).toBe(429);
    expect(Number(early.headers['retry-after'])).toBeGreaterThan(25);
    await g.services.store.db.updateTable('otp_sessions').set({ last_sent_at: Date.now() - 31_000 }).execute();
    expect((await post(g.app, `/api/otp/resend/${res.body.session_id}`)).status).toBe(200);
    await g.services.store.db.updateTable('otp_sessions').set({ last_sent_at: Date.now() - 31_000 }).execute();
    expect((await post(g.app, `/api/otp/resend/${res.body.session_id}`)).status).toBe(409);
    expect((await post(g.app, '/api/otp/resend/otp_nope')).status).toBe(404);
  });

  it('expired codes do not verify', async () => {
    const g = await gateway();
    const res = await generate(g);
    const code = await codeSentTo(g, US);
    await g.services.store.db.updateTable('otp_sessions').set({ expires_at: Date.now() - 1 }).execute();
    expect((await verify(g, code, { session_id: res.body.session_id })).body).toMatchObject({ verified: false, status: 'expired' });
    expect((await get(g.app, `/api/otp/sessions/${res.body.session_id}`)).body.status).toBe('expired');
    expect((await post(g.app, `/api/otp/resend/${res.body.session_id}`)).status).toBe(409);
  });

  it('a newer request supersedes the pending session', async () => {
    const g = await gateway();
    const first = await generate(g);
    const oldCode = await codeSentTo(g, US);
    const second = await generate(g);
    const newCode = await codeSentTo(g, US);
    expect((await verify(g, oldCode, { session_id: first.body.session_id })).body).toMatchObject({ verified: false, status: 'expired' });
    expect((await get(g.app, `/api/otp/sessions/${first.body.session_id}`)).body.status).toBe('expired');
    expect((await verify(g, newCode)).body).toMatchObject({ verified: true, session_id: second.body.session_id });
  });

  it('exactly one of two racing verifies of the right code succeeds', async () => {
    const g = await gateway();
    await generate(g);
    const code = await codeSentTo(g, US);
    const results = await Promise.all(Array.from({ length: 8 }, () => verify(g, code)));
    expect(results.filter((r) => r.body?.verified === true)).toHaveLength(1);
  });

  it('a session of another number answers like an unknown one', async () => {
    const g = await gateway();
    const other = await generate(g, { phone_number: { number: US2 } });
    const code = await codeSentTo(g, US2);
    const foreign = await verify(g, code, { session_id: other.body.session_id }, US);
    const unknown = await verify(g, code, { session_id: 'otp_doesnotexist' }, US);
    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(Object.keys(foreign.body).sort()).toEqual(Object.keys(unknown.body).sort());
    expect((await get(g.app, `/api/otp/sessions/${other.body.session_id}`)).body.status).toBe('pending');
  });

  it('answers generate alike for any valid number (no enumeration)', async () => {
    const g = await gateway();
    const a = await generate(g, { phone_number: { number: US } });
    const b = await generate(g, { phone_number: { number: '+14155550199' } });
    expect(a.status).toBe(b.status);
    expect(Object.keys(a.body).sort()).toEqual(Object.keys(b.body).sort());
  });

  it('limits codes per number per hour with 429', async () => {
    const g = await gateway({ OTP_MAX_PER_NUMBER_PER_HOUR: '2' });
    expect((await generate(g)).status).toBe(200);
    const second = await generate(g);
    expect(second.status).toBe(200);
    const third = await generate(g);
    expect(third.status).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(3000);
    // A refused code changes nothing: the last code sent still works, and no message or session was added.
    expect((await get(g.app, `/api/otp/sessions/${second.body.session_id}`)).body.status).toBe('pending');
    expect(await g.services.store.db.selectFrom('otp_sessions').select('id').where('phone_number', '=', US).execute()).toHaveLength(2);
    expect(await g.services.store.db.selectFrom('messages').select('id').where('to_number', '=', US).execute()).toHaveLength(2);
    expect((await verify(g, await codeSentTo(g, US))).body).toMatchObject({ verified: true, session_id: second.body.session_id });
    expect((await generate(g, { phone_number: { number: US2 } })).status).toBe(200);
  });

  it('refuses no resend for its cooldown when the cooldown is 0, though a concurrent resend stored a later send time', async () => {
    const g = await gateway({ OTP_RESEND_COOLDOWN: '0' });
    const res = await generate(g);
    // As a resend that took the lock first leaves it for one whose clock was read before that resend's.
    await g.services.store.db.updateTable('otp_sessions').set({ last_sent_at: Date.now() + 1_000 }).where('id', '=', res.body.session_id).execute();
    expect((await post(g.app, `/api/otp/resend/${res.body.session_id}`)).status).toBe(200);
  });

  it('counts codes sent by send with sms_type otp and by resends against the hourly cap', async () => {
    const g = await gateway({ OTP_MAX_PER_NUMBER_PER_HOUR: '3' });
    expect((await post(g.app, '/api/sms/send', { to: [{ number: US }], message: 'code 1234', sms_type: 'otp' })).status).toBe(200);
    const first = await generate(g);
    expect((await post(g.app, `/api/otp/resend/${first.body.session_id}`)).status).toBe(200);
    expect((await post(g.app, `/api/otp/resend/${first.body.session_id}`)).status).toBe(429);
    expect((await generate(g)).status).toBe(429);
    expect((await post(g.app, '/api/sms/send', { to: [{ number: US }], message: 'not a code', sms_type: 'transactional' })).status).toBe(200);
  });

  it('holds the hourly cap and leaves one pending session under concurrent generates and resends', async () => {
    // Attempts enough that trying every older code does not lock the session.
    const g = await gateway({ OTP_MAX_PER_NUMBER_PER_HOUR: '4', OTP_MAX_ATTEMPTS: '10' });
    const first = await generate(g);
    expect(first.status).toBe(200);
    // Three codes left this hour; six generates and four resends of the first session race for them.
    const replies = await Promise.all([
      ...Array.from({ length: 6 }, () => generate(g)),
      ...Array.from({ length: 4 }, () => post(g.app, `/api/otp/resend/${first.body.session_id}`)),
      // Another number in the same groups is not held up or refused.
      generate(g, { phone_number: { number: US2 } }),
    ]);
    expect(replies.at(-1)!.status).toBe(200);
    const ours = replies.slice(0, -1);
    // A resend may also find its session superseded (409); nothing else may happen.
    expect(ours.every((r) => [200, 409, 429].includes(r.status))).toBe(true);
    expect(ours.filter((r) => r.status === 200)).toHaveLength(3);
    expect(ours.filter((r) => r.status === 429).every((r) => Number(r.headers['retry-after']) > 3000)).toBe(true);
    const db = g.services.store.db;
    const codes = await db.selectFrom('messages').select('id').where('to_number', '=', US).where('sms_type', '=', 'otp').execute();
    expect(codes).toHaveLength(4);
    const pending = await db.selectFrom('otp_sessions').select(['id', 'message_id']).where('phone_number', '=', US).where('status', '=', 'pending').execute();
    expect(pending).toHaveLength(1);
    // Only the latest code works: the pending session's; every other code that went out is refused.
    await drain(g.services);
    const outbox = (await get(g.app, `/api/simulator/outbox?to=${encodeURIComponent(US)}&limit=50`)).body.items as Array<{ message_id: string; body: string }>;
    expect(outbox).toHaveLength(4);
    const codeOf = (item: { body: string }) => /code is (\d+)/.exec(item.body)![1];
    const latest = outbox.find((item) => item.message_id === pending[0].message_id)!;
    for (const item of outbox.filter((i) => i !== latest)) {
      if (codeOf(item) !== codeOf(latest)) expect((await verify(g, codeOf(item))).body.verified).toBe(false);
    }
    expect((await verify(g, codeOf(latest))).body).toMatchObject({ verified: true, session_id: pending[0].id });
  });

  it('validates input with 422 naming the field', async () => {
    const g = await gateway();
    expect((await generate(g, { length: 3 })).body.errors[0].field).toBe('length');
    expect((await generate(g, { length: 11 })).status).toBe(422);
    expect((await generate(g, { expiry_minutes: 61 })).body.errors[0].field).toBe('expiry_minutes');
    expect((await generate(g, { phone_number: { number: '+1234567890' } })).body.errors[0].field).toBe('phone_number.number');
    expect((await post(g.app, '/api/otp/verify', { phone_number: { number: US } })).body.errors[0].field).toBe('otp_code');
  });

  it('is counted in analytics', async () => {
    const g = await gateway();
    await generate(g);
    const code = await codeSentTo(g, US);
    await verify(g, code);
    await generate(g, { phone_number: { number: US2 } });
    const stats = (await get(g.app, '/api/analytics/stats')).body;
    expect(stats.otp).toMatchObject({ generated: 2, verified: 1, otp_success_rate: 0.5 });
    expect(stats.otp_success_rate).toBe(0.5);
  });
});
