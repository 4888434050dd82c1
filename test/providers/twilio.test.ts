import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnauthorizedError, ValidationError } from '../../src/domain/errors.js';
import type { OutgoingSms, WebhookRequest } from '../../src/providers/provider.js';
import { LOOKUP_AFTER_MS, LOOKUP_BEFORE_MS, TwilioProvider } from '../../src/providers/twilio/client.js';
import { twilioProvider } from '../../src/providers/twilio/index.js';
import type { TwilioSettings } from '../../src/providers/twilio/settings.js';
import { isValidTwilioSignature, twilioSignature } from '../../src/providers/twilio/signature.js';
import { startTwilioFake, type SignedCallback, type TwilioFake } from './fakes/twilio-fake.js';

const CALLBACK_URL = 'https://gateway.example.com/api/webhooks/twilio';

let fake: TwilioFake;
let provider: TwilioProvider;

function settings(overrides: Partial<TwilioSettings> = {}): TwilioSettings {
  return { accountSid: fake.accountSid, authToken: fake.authToken, phoneNumber: '+15005550006', messagingServiceSid: undefined, baseUrl: fake.url, ...overrides };
}

function sms(overrides: Partial<OutgoingSms> = {}): OutgoingSms {
  return {
    id: 'msg_01TWILIO', to: '+14155552671', from: undefined, body: 'Hello from the gateway', messageType: 'text', encoding: 'GSM-7',
    segments: 1, smsType: 'transactional', statusCallbackUrl: CALLBACK_URL, validitySeconds: undefined, ...overrides,
  };
}

function webhookRequest(callback: Pick<SignedCallback, 'url' | 'headers' | 'rawBody'>): WebhookRequest {
  return {
    url: callback.url, method: 'POST', headers: callback.headers, rawBody: callback.rawBody,
    body: Object.fromEntries(new URLSearchParams(callback.rawBody)), query: Object.fromEntries(new URL(callback.url).searchParams),
  };
}

const timeout = () => AbortSignal.timeout(5000);

beforeEach(async () => {
  fake = await startTwilioFake();
  provider = new TwilioProvider(settings(), fetch);
});

afterEach(async () => {
  await fake.close();
});

describe('Twilio request signature', () => {
  // The vector of twilio-node's spec/validation.spec.js (the example of https://www.twilio.com/docs/usage/security).
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };

  it('matches the published example', () => {
    expect(twilioSignature('12345', url, params)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(isValidTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, params)).toBe(true);
  });

  it('fails for another token, URL or parameter value', () => {
    expect(isValidTwilioSignature('12346', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, params)).toBe(false);
    expect(isValidTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url.replace('bar=2', 'bar=3'), params)).toBe(false);
    expect(isValidTwilioSignature('12345', 'RSOYDt4T1cUTdK1PDd93/VVr8B8=', url, { ...params, Digits: '1235' })).toBe(false);
  });

  it('accepts a signature made with or without the default port, as twilio-node does', () => {
    const withPort = twilioSignature('s3cr3t', 'https://example.com:443/path?test=param', {});
    expect(isValidTwilioSignature('s3cr3t', withPort, 'https://example.com/path?test=param', {})).toBe(true);
    const withoutPort = twilioSignature('s3cr3t', 'https://example.com/path?test=param', {});
    expect(isValidTwilioSignature('s3cr3t', withoutPort, 'https://example.com:443/path?test=param', {})).toBe(true);
    expect(isValidTwilioSignature('s3cr3t', withoutPort, 'https://example.com:8443/path?test=param', {})).toBe(false);
  });
});

describe('Twilio send', () => {
  it('posts the documented form to the Messages resource and returns the sid', async () => {
    const outcome = await provider.send(sms({ validitySeconds: 600 }), timeout());

    expect(fake.messages).toHaveLength(1);
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: fake.messages[0].sid });
    expect(fake.messages[0].sid).toMatch(/^SM[0-9a-f]{32}$/);
    const [request] = fake.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/2010-04-01/Accounts/${fake.accountSid}/Messages.json`);
    expect(request.headers.authorization).toBe('Basic ' + Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64'));
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.form).toEqual({
      To: '+14155552671', From: '+15005550006', Body: 'Hello from the gateway',
      StatusCallback: `${CALLBACK_URL}?message_id=msg_01TWILIO`, ValidityPeriod: '600',
    });
  });

  it('clamps ValidityPeriod to 1..36000 seconds and leaves it out when there is no expiry', async () => {
    await provider.send(sms({ validitySeconds: 90_000 }), timeout());
    await provider.send(sms({ validitySeconds: 0.4 }), timeout());
    await provider.send(sms(), timeout());
    expect(fake.requests.map((r) => r.form.ValidityPeriod)).toEqual(['36000', '1', undefined]);
  });

  it('lets the message choose its sender, and a Messaging Service pick one otherwise', async () => {
    await provider.send(sms({ from: '+15005550007' }), timeout());
    const viaService = new TwilioProvider(settings({ messagingServiceSid: 'MG' + 'b'.repeat(32) }), fetch);
    await viaService.send(sms(), timeout());
    await viaService.send(sms({ from: 'ACME' }), timeout());

    expect(fake.requests[0].form.From).toBe('+15005550007');
    expect(fake.requests[1].form).toMatchObject({ MessagingServiceSid: 'MG' + 'b'.repeat(32) });
    expect(fake.requests[1].form.From).toBeUndefined();
    expect(fake.requests[2].form).toMatchObject({ MessagingServiceSid: 'MG' + 'b'.repeat(32), From: 'ACME' });
  });

  it('delivers non-GSM text as the same UTF-8 text', async () => {
    const text = 'Привет, 世界! Ça va? 👋🏽 — ünïcödé';
    const outcome = await provider.send(sms({ body: text, messageType: 'unicode', encoding: 'UCS-2' }), timeout());
    expect(outcome.kind).toBe('accepted');
    expect(fake.requests[0].form.Body).toBe(text);
    expect(fake.messages[0].body).toBe(text);
  });

  it.each([
    ['+15005550001', 'INVALID_NUMBER', '21211'],
    ['+15005550009', 'INVALID_NUMBER', '21614'],
    ['+15005550004', 'OPTED_OUT', '21610'],
    ['+15005550003', 'BLOCKED', '21408'],
    ['+15005550002', 'BLOCKED', '21612'],
  ])('rejects To %s as %s with Twilio code %s', async (to, code, providerErrorCode) => {
    const outcome = await provider.send(sms({ to }), timeout());
    expect(outcome).toMatchObject({ kind: 'rejected', code, providerErrorCode });
    expect((outcome as { message: string }).message).not.toBe('');
  });

  it('rejects other 400 errors as PROVIDER_REJECTED with Twilio\'s code and message', async () => {
    const outcome = await provider.send(sms({ body: '' }), timeout());
    expect(outcome).toEqual({ kind: 'rejected', code: 'PROVIDER_REJECTED', message: 'Message body is required.', providerErrorCode: '21602' });
  });

  it('retries after Retry-After on 429 / 20429', async () => {
    const throttled = await startTwilioFake({
      answerCreate: () => ({ status: 429, headers: { 'retry-after': '7' }, body: { code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429 } }),
    });
    try {
      const outcome = await new TwilioProvider({ ...settings(), accountSid: throttled.accountSid, authToken: throttled.authToken, baseUrl: throttled.url }, fetch).send(sms(), timeout());
      expect(outcome).toEqual({ kind: 'retry', code: 'PROVIDER_THROTTLED', message: 'Too Many Requests', retryAfterMs: 7000, providerErrorCode: '20429' });
    } finally {
      await throttled.close();
    }
  });

  it('retries on 503', async () => {
    const down = await startTwilioFake({ answerCreate: () => ({ status: 503, body: 'Service Unavailable' }) });
    try {
      const outcome = await new TwilioProvider({ ...settings(), accountSid: down.accountSid, authToken: down.authToken, baseUrl: down.url }, fetch).send(sms(), timeout());
      expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNAVAILABLE' });
    } finally {
      await down.close();
    }
  });

  it('retries elsewhere when Twilio refuses our credentials', async () => {
    const outcome = await new TwilioProvider(settings({ authToken: 'wrong' }), fetch).send(sms(), timeout());
    expect(outcome).toEqual({ kind: 'retry', code: 'PROVIDER_AUTH', message: 'Authenticate', providerErrorCode: '20003' });
    expect(fake.messages).toHaveLength(0);
  });

  it('retries when the connection is refused (nothing was sent)', async () => {
    const outcome = await new TwilioProvider(settings({ baseUrl: `http://127.0.0.1:${await closedPort()}` }), fetch).send(sms(), timeout());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNREACHABLE' });
  });

  it('is unknown when Twilio never answers before the timeout', async () => {
    const silent = await startTwilioFake({ answerCreate: () => 'hang' });
    try {
      const outcome = await new TwilioProvider({ ...settings(), accountSid: silent.accountSid, authToken: silent.authToken, baseUrl: silent.url }, fetch)
        .send(sms(), AbortSignal.timeout(200));
      expect(outcome).toMatchObject({ kind: 'unknown', code: 'PROVIDER_TIMEOUT' });
      expect(silent.requests).toHaveLength(1);
    } finally {
      await silent.close();
    }
  });

  it('is unknown when a 2xx answer has no sid', async () => {
    const odd = await startTwilioFake({ answerCreate: () => ({ status: 201, body: '<html>proxy</html>' }) });
    try {
      const outcome = await new TwilioProvider({ ...settings(), accountSid: odd.accountSid, authToken: odd.authToken, baseUrl: odd.url }, fetch).send(sms(), timeout());
      expect(outcome).toMatchObject({ kind: 'unknown', code: 'PROVIDER_BAD_ANSWER' });
    } finally {
      await odd.close();
    }
  });

  it('reports the price Twilio answers with as a positive cost', async () => {
    const priced: typeof fetch = async () => new Response(JSON.stringify({ sid: 'SM' + 'c'.repeat(32), status: 'sent', price: '-0.00750', price_unit: 'USD' }), { status: 201 });
    const outcome = await new TwilioProvider(settings(), priced).send(sms(), timeout());
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: 'SM' + 'c'.repeat(32), cost: 0.0075 });
  });

  it('refuses binary and flash without calling Twilio', async () => {
    expect(await provider.send(sms({ messageType: 'binary', body: '0a0b' }), timeout())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    expect(await provider.send(sms({ messageType: 'flash' }), timeout())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    expect(fake.requests).toHaveLength(0);
    expect(provider.capabilities.messageTypes).toEqual(['text', 'unicode']);
  });
});

describe('Twilio status callbacks', () => {
  async function sent(): Promise<string> {
    const outcome = await provider.send(sms(), timeout());
    if (outcome.kind !== 'accepted') throw new Error(`send failed: ${JSON.stringify(outcome)}`);
    return outcome.providerMessageId;
  }

  it('maps a signed delivered report, naming our message from the StatusCallback query', async () => {
    const sid = await sent();
    expect(provider.parseWebhook(webhookRequest(fake.statusCallback(sid, 'delivered')))).toEqual([
      { providerMessageId: sid, messageId: 'msg_01TWILIO', status: 'delivered' },
    ]);
  });

  it('maps undelivered with Twilio\'s error code', async () => {
    const sid = await sent();
    expect(provider.parseWebhook(webhookRequest(fake.statusCallback(sid, 'undelivered', { errorCode: '30003' })))).toEqual([{
      providerMessageId: sid, messageId: 'msg_01TWILIO', status: 'undelivered',
      errorCode: 'UNDELIVERABLE', providerErrorCode: '30003', errorMessage: 'Twilio error 30003',
    }]);
    const [expired] = provider.parseWebhook(webhookRequest(fake.statusCallback(sid, 'failed', { errorCode: '30036' })));
    expect(expired).toMatchObject({ status: 'failed', errorCode: 'EXPIRED', providerErrorCode: '30036' });
    const [filtered] = provider.parseWebhook(webhookRequest(fake.statusCallback(sid, 'undelivered', { errorCode: '30007' })));
    expect(filtered).toMatchObject({ status: 'undelivered', errorCode: 'BLOCKED' });
  });

  it('maps Twilio\'s intermediate states to sent and canceled to failed', async () => {
    const sid = await sent();
    for (const state of ['accepted', 'queued', 'sending', 'sent', 'scheduled']) {
      expect(provider.parseWebhook(webhookRequest(fake.statusCallback(sid, state)))).toEqual([{ providerMessageId: sid, messageId: 'msg_01TWILIO', status: 'sent' }]);
    }
    expect(provider.parseWebhook(webhookRequest(fake.statusCallback(sid, 'canceled')))[0]).toMatchObject({ status: 'failed', errorCode: 'REJECTED' });
  });

  it('reports a Price as a positive cost', async () => {
    const sid = await sent();
    expect(provider.parseWebhook(webhookRequest(fake.statusCallback(sid, 'delivered', { price: '-0.0079' })))[0].cost).toBe(0.0079);
  });

  it('refuses unsigned, forged and altered callbacks', async () => {
    const sid = await sent();
    const genuine = fake.statusCallback(sid, 'delivered');
    const { 'x-twilio-signature': _dropped, ...unsignedHeaders } = genuine.headers;
    expect(() => provider.parseWebhook(webhookRequest({ ...genuine, headers: unsignedHeaders }))).toThrow(UnauthorizedError);
    expect(() => provider.parseWebhook(webhookRequest(fake.statusCallback(sid, 'delivered', { signWith: 'not-the-token' })))).toThrow(UnauthorizedError);
    const altered = { ...genuine, rawBody: genuine.rawBody.replace('delivered', 'undelivered') };
    expect(() => provider.parseWebhook(webhookRequest(altered))).toThrow(UnauthorizedError);
    const otherMessage = { ...genuine, url: genuine.url.replace('msg_01TWILIO', 'msg_02OTHER') };
    expect(() => provider.parseWebhook(webhookRequest(otherMessage))).toThrow(UnauthorizedError);
  });

  it('names the missing field of a signed body that is not a status callback', async () => {
    const fields = { AccountSid: fake.accountSid, MessageSid: 'SM' + 'd'.repeat(32) };
    const rawBody = new URLSearchParams(fields).toString();
    const request = webhookRequest({ url: CALLBACK_URL, rawBody, headers: { 'x-twilio-signature': twilioSignature(fake.authToken, CALLBACK_URL, fields) } });
    try {
      provider.parseWebhook(request);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).errors).toEqual([{ field: 'MessageStatus', message: 'required' }]);
    }
  });

  it('posts the signed callback over HTTP to the StatusCallback URL it was given', async () => {
    const received: WebhookRequest[] = [];
    const receiver = await import('node:http').then(({ createServer: createHttp }) => createHttp((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}${req.url}`;
        received.push({ url, method: 'POST', headers: req.headers as Record<string, string>, rawBody: raw, body: {}, query: Object.fromEntries(new URL(url).searchParams) });
        res.writeHead(204).end();
      });
    }));
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const callbackUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/api/webhooks/twilio`;
      const outcome = await provider.send(sms({ statusCallbackUrl: callbackUrl }), timeout());
      const sid = (outcome as { providerMessageId: string }).providerMessageId;
      expect(await fake.postStatusCallback(sid, 'delivered')).toEqual({ status: 204, body: '' });
      expect(provider.parseWebhook(received[0])).toEqual([{ providerMessageId: sid, messageId: 'msg_01TWILIO', status: 'delivered' }]);
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });
});

describe('Twilio lookup', () => {
  const attemptedAt = Date.parse('2026-03-02T10:00:00Z');
  const hint = { messageId: 'msg_01TWILIO', to: '+14155552671', attemptedAt };

  it('finds the one outbound message to the recipient created around the attempt, even while still queued', async () => {
    const mine = fake.addMessage({ to: hint.to, dateCreated: attemptedAt + 2000, status: 'queued', dateSent: null });
    fake.addMessage({ to: hint.to, dateCreated: attemptedAt - LOOKUP_BEFORE_MS - 1000 }); // earlier message to the same number
    fake.addMessage({ to: hint.to, dateCreated: attemptedAt + LOOKUP_AFTER_MS + 1000 }); // a later one
    fake.addMessage({ to: hint.to, dateCreated: attemptedAt, direction: 'inbound' });
    fake.addMessage({ to: '+14155550000', dateCreated: attemptedAt });

    expect(await provider.lookup(hint, timeout())).toEqual({ providerMessageId: mine.sid });
    const [request] = fake.requests;
    expect(request.method).toBe('GET');
    expect(request.path).toBe(`/2010-04-01/Accounts/${fake.accountSid}/Messages.json`);
    expect(Object.fromEntries(request.query)).toEqual({ To: '+14155552671', PageSize: '1000' });
    expect(request.headers.authorization).toBe('Basic ' + Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64'));
  });

  it('is null when the complete list has no such message', async () => {
    fake.addMessage({ to: hint.to, dateCreated: attemptedAt - 3_600_000 });
    expect(await provider.lookup(hint, timeout())).toBeNull();
  });

  it('throws when two messages could be the one', async () => {
    fake.addMessage({ to: hint.to, dateCreated: attemptedAt + 1000 });
    fake.addMessage({ to: hint.to, dateCreated: attemptedAt + 60_000 });
    await expect(provider.lookup(hint, timeout())).rejects.toThrow(/2 messages/);
  });

  it('follows next_page_uri to the end of the list', async () => {
    for (let i = 0; i < 1200; i++) fake.addMessage({ to: hint.to, dateCreated: attemptedAt + LOOKUP_AFTER_MS + 10_000 + i });
    const mine = fake.addMessage({ to: hint.to, dateCreated: attemptedAt });
    expect(await provider.lookup(hint, timeout())).toEqual({ providerMessageId: mine.sid });
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1].query.get('Page')).toBe('1');
  });

  it('throws rather than guess when the list is longer than it reads', async () => {
    for (let i = 0; i < 5001; i++) fake.addMessage({ to: hint.to, dateCreated: attemptedAt - 86_400_000 - i });
    await expect(provider.lookup(hint, timeout())).rejects.toThrow(/more than 5 pages/);
  });

  it('throws when Twilio answers with an error', async () => {
    await expect(new TwilioProvider(settings({ authToken: 'wrong' }), fetch).lookup(hint, timeout())).rejects.toThrow(/HTTP 401/);
  });
});

describe('Twilio definition', () => {
  const env = (vars: Record<string, string>) => ({
    str: (name: string) => vars[name],
    url: (name: string, fallback: string) => vars[name] ?? fallback,
  });

  it('needs credentials and a sender (phone number or Messaging Service)', () => {
    expect(twilioProvider.readSettings(env({ TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't' }))).toBeUndefined();
    expect(twilioProvider.readSettings(env({ TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't', TWILIO_PHONE_NUMBER: '+15005550006' }))).toEqual({
      accountSid: 'AC1', authToken: 't', phoneNumber: '+15005550006', messagingServiceSid: undefined, baseUrl: 'https://api.twilio.com',
    });
    expect(twilioProvider.readSettings(env({ TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't', TWILIO_MESSAGING_SERVICE_SID: 'MG1', TWILIO_BASE_URL: 'http://127.0.0.1:1' })))
      .toMatchObject({ messagingServiceSid: 'MG1', baseUrl: 'http://127.0.0.1:1' });
    expect(twilioProvider.requiredVariables).toEqual(['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_PHONE_NUMBER']);
  });
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}
