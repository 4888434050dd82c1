import { createServer, type Server } from 'node:http';
import twilio from 'twilio';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, GB, US, US2 } from '../helpers/gateway.js';
import { restError, sdkFor, startTwilioGateway, type TwilioSetup } from './setup.js';

const FROM = '+14155550100';
let t: TwilioSetup;

afterEach(async () => t?.gw.stop());

describe('Twilio Messages API through the official SDK', () => {
  beforeEach(async () => {
    t = await startTwilioGateway();
  });

  it('creates a message that goes the normal way, and fetches it in Twilio\'s Message shape', async () => {
    const created = await t.client.messages.create({ to: US, from: FROM, body: 'Hello from the SDK {{not_a_placeholder}}' });
    expect(created.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(created.accountSid).toBe(t.key.account_sid);
    expect(created.status).toBe('queued');
    expect(created.direction).toBe('outbound-api');
    expect(created.to).toBe(US);
    expect(created.from).toBe(FROM);
    expect(created.body).toBe('Hello from the SDK {{not_a_placeholder}}');
    expect(created.numSegments).toBe('1');
    expect(created.numMedia).toBe('0');
    expect(created.apiVersion).toBe('2010-04-01');
    expect(created.uri).toBe(`/2010-04-01/Accounts/${t.key.account_sid}/Messages/${created.sid}.json`);
    expect(created.dateCreated).toBeInstanceOf(Date);
    expect(Math.abs(created.dateCreated.getTime() - Date.now())).toBeLessThan(5000);
    expect(created.dateSent).toBeNull();
    expect(created.price).toBeNull();
    expect(created.errorCode).toBeNull();

    await drain(t.gw.services);
    const fetched = await t.client.messages(created.sid).fetch();
    expect(fetched.status).toBe('delivered');
    expect(fetched.dateSent).toBeInstanceOf(Date);
    expect(fetched.price).toMatch(/^-\d+\.\d{5}$/);
    expect(fetched.priceUnit).toBe('USD');

    // The same message, through the native API: it is one of ours.
    const native = await t.gw.app.inject({ method: 'GET', url: '/api/sms', headers: { authorization: `Bearer ${t.key.key}` } });
    const items = native.json().items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ to: US, from_number: FROM, status: 'delivered', message: 'Hello from the SDK {{not_a_placeholder}}' });
    const outbox = await t.gw.app.inject({ method: 'GET', url: `/api/simulator/outbox?to=${encodeURIComponent(US)}`, headers: { authorization: `Bearer ${t.key.key}` } });
    expect(outbox.json().items[0].body ?? outbox.json().items[0].text).toContain('Hello from the SDK');
  });

  it('lists with paging (next, previous) and the To, From and DateSent filters', async () => {
    const sids: string[] = [];
    for (const [i, to] of [US, US2, US, US2, US].entries()) {
      sids.push((await t.client.messages.create({ to, from: i === 0 ? 'Acme' : FROM, body: `message ${i}` })).sid);
    }
    await drain(t.gw.services);
    const newestFirst = [...sids].reverse();

    const all = await t.client.messages.list();
    expect(all.map((m) => m.sid)).toEqual(newestFirst);

    const first = await t.client.messages.page({ pageSize: 2 });
    expect(first.instances.map((m) => m.sid)).toEqual(newestFirst.slice(0, 2));
    expect(first.nextPageUrl).toContain('PageToken=PA');
    const second = (await first.nextPage())!;
    expect(second.instances.map((m) => m.sid)).toEqual(newestFirst.slice(2, 4));
    const third = (await second.nextPage())!;
    expect(third.instances.map((m) => m.sid)).toEqual(newestFirst.slice(4));
    expect(third.nextPageUrl).toBeUndefined();
    const back = (await third.previousPage())!;
    expect(back.instances.map((m) => m.sid)).toEqual(newestFirst.slice(2, 4));

    // The SDK follows next_page_uri on its own.
    expect((await t.client.messages.list({ pageSize: 2 })).map((m) => m.sid)).toEqual(newestFirst);
    expect((await t.client.messages.list({ pageSize: 2, limit: 3 })).map((m) => m.sid)).toEqual(newestFirst.slice(0, 3));

    expect((await t.client.messages.list({ to: US })).map((m) => m.sid)).toEqual([sids[4], sids[2], sids[0]]);
    expect((await t.client.messages.list({ from: 'Acme' })).map((m) => m.sid)).toEqual([sids[0]]);
    expect((await t.client.messages.list({ to: US2, from: FROM })).map((m) => m.sid)).toEqual([sids[3], sids[1]]);

    // The day the five were sent, from their own records: the clock read here would already say
    // tomorrow in a run that crossed midnight UTC since the sends.
    const sentDays = new Set(all.map((m) => m.dateSent.toISOString().slice(0, 10)));
    expect(sentDays.size).toBe(1);
    const today = all[0]!.dateSent;
    const day = (offset: number) => new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + offset));
    expect(await t.client.messages.list({ dateSent: day(0) })).toHaveLength(5);
    expect(await t.client.messages.list({ dateSent: day(-1) })).toHaveLength(0);
    expect(await t.client.messages.list({ dateSentAfter: day(0) })).toHaveLength(5);
    expect(await t.client.messages.list({ dateSentAfter: day(1) })).toHaveLength(0);
    expect(await t.client.messages.list({ dateSentBefore: day(-1) })).toHaveLength(0);
    expect(await t.client.messages.list({ dateSentBefore: new Date(Date.now() + 60_000), dateSentAfter: day(-1) })).toHaveLength(5);
    // Literal `DateSent<` / `DateSent>` with a plain day, as Twilio's docs write them.
    const literal = await fetch(`${t.publicUrl}/2010-04-01/Accounts/${t.key.account_sid}/Messages.json?DateSent%3E=${day(0).toISOString().slice(0, 10)}&To=${encodeURIComponent(US)}`, {
      headers: { authorization: `Basic ${Buffer.from(`${t.key.account_sid}:${t.key.key}`).toString('base64')}` },
    });
    expect((await literal.json()).messages).toHaveLength(3);
  });

  it('cancels a scheduled message, and refuses to cancel one that is not scheduled (30409)', async () => {
    const sendAt = new Date(Date.now() + 3_600_000);
    const scheduled = await t.client.messages.create({
      to: US, messagingServiceSid: `MG${'1'.repeat(32)}`, body: 'later', sendAt, scheduleType: 'fixed',
    });
    expect(scheduled.status).toBe('scheduled');
    expect(scheduled.messagingServiceSid).toBe(`MG${'1'.repeat(32)}`);
    const canceled = await t.client.messages(scheduled.sid).update({ status: 'canceled' });
    expect(canceled.status).toBe('canceled');
    await drain(t.gw.services);
    expect((await t.client.messages(scheduled.sid).fetch()).status).toBe('canceled');

    const now = await t.client.messages.create({ to: US, from: FROM, body: 'now' });
    expect(await restError(t.client.messages(now.sid).update({ status: 'canceled' }))).toMatchObject({ code: 30409, status: 400 });
    expect(await restError(t.client.messages.create({ to: US, from: FROM, body: 'x', sendAt: new Date(Date.now() + 60_000), scheduleType: 'fixed' })))
      .toMatchObject({ code: 35115 });
  });

  it('answers refusals in Twilio\'s error shape, which the SDK raises as RestException with the code', async () => {
    const invalidTo = await restError(t.client.messages.create({ to: '+1234567890', from: FROM, body: 'hi' }));
    expect(invalidTo).toMatchObject({ code: 21211, status: 400, moreInfo: 'https://www.twilio.com/docs/errors/21211' });
    expect(await restError(t.client.messages.create({ to: US, from: FROM, body: '' }))).toMatchObject({ code: 21602, status: 400 });
    expect(await restError(t.client.messages.create({ to: US, body: 'hi' }))).toMatchObject({ code: 21603 });
    expect(await restError(t.client.messages.create({ to: US, from: 'not a sender!', body: 'hi' }))).toMatchObject({ code: 21212 });
    expect(await restError(t.client.messages.create({ to: US, from: '+1234567890', body: 'hi' }))).toMatchObject({ code: 21606 });
    expect(await restError(t.client.messages.create({ to: US, from: FROM, body: 'hi', mediaUrl: ['https://example.com/a.png'] }))).toMatchObject({ code: 60701 });
    expect(await restError(t.client.messages.create({ to: US, from: FROM, body: 'hi', validityPeriod: 0 }))).toMatchObject({ code: 21624 });
    expect(await restError(t.client.messages.create({ to: US, from: FROM, body: 'x'.repeat(1601) }))).toMatchObject({ code: 21617 });
    expect(await restError(t.client.messages(`SM${'0'.repeat(32)}`).fetch())).toMatchObject({ code: 20404, status: 404 });

    // Opted out: Twilio refuses every message to the number (21610).
    await t.gw.app.inject({ method: 'POST', url: '/api/opt-outs', headers: { authorization: `Bearer ${t.key.key}`, 'content-type': 'application/json' }, payload: { number: GB } });
    expect(await restError(t.client.messages.create({ to: GB, from: FROM, body: 'hi' }))).toMatchObject({ code: 21610, status: 400 });

    // Authentication: the key is the auth token, and the SID must be the key's own.
    const wrongSid = sdkFor(t.publicUrl, `AC${'f'.repeat(32)}`, t.key.key);
    expect(await restError(wrongSid.messages.create({ to: US, from: FROM, body: 'hi' }))).toMatchObject({ code: 20003, status: 401 });
    const wrongToken = sdkFor(t.publicUrl, t.key.account_sid, 'sgw_not-a-key');
    expect(await restError(wrongToken.messages.list())).toMatchObject({ code: 20003, status: 401 });
    // Another account's path with this key's credentials: not a resource it can see.
    const other = await t.gw.services.keys.create('other', ['sms:send', 'read']);
    const res = await fetch(`${t.publicUrl}/2010-04-01/Accounts/${other.account_sid}/Messages.json`, {
      headers: { authorization: `Basic ${Buffer.from(`${t.key.account_sid}:${t.key.key}`).toString('base64')}` },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 20404, status: 404 });
    // Without the scope.
    const reader = await t.gw.services.keys.create('reader', ['read']);
    expect(await restError(sdkFor(t.publicUrl, reader.account_sid, reader.key).messages.create({ to: US, from: FROM, body: 'hi' }))).toMatchObject({ status: 403 });
    // Nothing is ever problem+json under the Twilio prefixes.
    const unknown = await fetch(`${t.publicUrl}/2010-04-01/Accounts/${t.key.account_sid}/Calls.json`);
    expect(unknown.headers.get('content-type')).toContain('application/json');
    expect(await unknown.json()).toMatchObject({ code: 20404, status: 404 });
  });

  it('deletes a finished message: gone from the Twilio API, its text erased', async () => {
    const created = await t.client.messages.create({ to: US, from: FROM, body: 'secret text' });
    expect(await restError(t.client.messages(created.sid).remove())).toMatchObject({ code: 20009 });
    await drain(t.gw.services);
    expect(await t.client.messages(created.sid).remove()).toBe(true);
    expect(await restError(t.client.messages(created.sid).fetch())).toMatchObject({ code: 20404 });
    expect(await t.client.messages.list()).toHaveLength(0);
    const native = await t.gw.app.inject({ method: 'GET', url: '/api/sms', headers: { authorization: `Bearer ${t.key.key}` } });
    expect(native.json().items[0]).toMatchObject({ status: 'delivered', message: '' });
  });

  it('redacts a finished message with Body=""', async () => {
    const created = await t.client.messages.create({ to: US, from: FROM, body: 'to be redacted' });
    await drain(t.gw.services);
    expect((await t.client.messages(created.sid).update({ body: '' })).body).toBe('');
  });
});

describe('Twilio-format status callbacks', () => {
  let server: Server;
  let received: Array<{ url: string; host: string; signature: string; params: Record<string, string>; contentType: string }>;
  let callbackUrl: string;

  beforeEach(async () => {
    received = [];
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        received.push({
          url: req.url!, host: String(req.headers.host), signature: String(req.headers['x-twilio-signature']), contentType: String(req.headers['content-type']),
          params: Object.fromEntries(new URLSearchParams(raw)),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    callbackUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/twilio/status?app=1`;
    t = await startTwilioGateway({ WEBHOOK_SECRET: 'our-own-secret' });
  });

  afterEach(() => {
    server.close();
  });

  it('posts each change as Twilio does, signed with the key so twilio.validateRequest accepts it', async () => {
    const created = await t.client.messages.create({ to: US, from: FROM, body: 'tracked', statusCallback: callbackUrl });
    await drain(t.gw.services);
    expect(received.map((r) => r.params.MessageStatus)).toEqual(['sending', 'sent', 'delivered']);
    for (const r of received) {
      expect(r.contentType).toContain('application/x-www-form-urlencoded');
      expect(twilio.validateRequest(t.key.key, r.signature, callbackUrl, r.params)).toBe(true);
      expect(twilio.validateRequest('another-token', r.signature, callbackUrl, r.params)).toBe(false);
      expect(r.params).toMatchObject({
        MessageSid: created.sid, SmsSid: created.sid, SmsStatus: r.params.MessageStatus, AccountSid: t.key.account_sid,
        From: FROM, To: US, ApiVersion: '2010-04-01',
      });
      expect(r.params.ErrorCode).toBeUndefined();
    }
    // The callback attempts are recorded like any callback's.
    const attempts = await t.gw.app.inject({ method: 'GET', url: `/api/sms/${(await t.gw.app.inject({ method: 'GET', url: '/api/sms', headers: { authorization: `Bearer ${t.key.key}` } })).json().items[0].id}/callbacks`, headers: { authorization: `Bearer ${t.key.key}` } });
    expect(attempts.json().items.map((a: { status_code: number }) => a.status_code)).toEqual([204, 204, 204]);
  });

  it('carries ErrorCode on a failed message, and works with the express webhook() check as well', async () => {
    await t.gw.stop();
    t = await startTwilioGateway({ WEBHOOK_SECRET: 'our-own-secret', SIMULATOR_FAILURE_RATE: '1' });
    await t.client.messages.create({ to: US, from: FROM, body: 'will fail', statusCallback: callbackUrl });
    await drain(t.gw.services);
    const last = received[received.length - 1];
    expect(last.params.MessageStatus).toBe('undelivered');
    expect(last.params.ErrorCode).toMatch(/^\d{5}$/);
    expect(twilio.validateRequest(t.key.key, last.signature, callbackUrl, last.params)).toBe(true);

    // twilio.webhook(), the Express middleware, rebuilding the URL from the request as it does.
    const outcome = (token: string) => new Promise<'next' | number>((resolve) => {
      const request = {
        protocol: 'http', originalUrl: last.url, body: last.params, headers: { host: last.host, 'x-twilio-signature': last.signature },
        header: (name: string) => (name.toLowerCase() === 'x-twilio-signature' ? last.signature : undefined),
      };
      const response = { type: () => response, status: (code: number) => ({ send: () => resolve(code) }) };
      twilio.webhook(token)(request as never, response as never, () => resolve('next'));
    });
    expect(await outcome(t.key.key)).toBe('next');
    expect(await outcome('another-token')).toBe(403);
  });

  it('keeps JSON callbacks for messages sent through the native API', async () => {
    const res = await t.gw.app.inject({
      method: 'POST', url: '/api/sms/send', headers: { authorization: `Bearer ${t.key.key}`, 'content-type': 'application/json' },
      payload: { to: [{ number: US }], message: 'native', callback_url: callbackUrl },
    });
    expect(res.statusCode).toBe(200);
    await drain(t.gw.services);
    expect(received.length).toBeGreaterThan(0);
    expect(received[0].contentType).toContain('application/json');
  });

  it('refuses a StatusCallback on a private address without CALLBACK_ALLOW_PRIVATE_NETWORKS (21609)', async () => {
    await t.gw.stop();
    t = await startTwilioGateway({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'false' });
    expect(await restError(t.client.messages.create({ to: US, from: FROM, body: 'x', statusCallback: callbackUrl }))).toMatchObject({ code: 21609 });
  });
});
