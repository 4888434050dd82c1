import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnauthorizedError, ValidationError } from '../../src/domain/errors.js';
import { LOOKUP_AFTER_MS, LOOKUP_BEFORE_MS, PlivoProvider } from '../../src/providers/plivo/client.js';
import { plivoProvider } from '../../src/providers/plivo/index.js';
import type { PlivoSettings } from '../../src/providers/plivo/settings.js';
import { isValidPlivoSignature, plivoSignatureV2, plivoSignatureV3 } from '../../src/providers/plivo/signature.js';
import type { OutgoingSms, WebhookRequest } from '../../src/providers/provider.js';
import { startPlivoFake, type PlivoFake, type SignedCallback } from './fakes/plivo-fake.js';

const CALLBACK_URL = 'https://gateway.example.com/api/webhooks/plivo';

let fake: PlivoFake;
let provider: PlivoProvider;

function settings(overrides: Partial<PlivoSettings> = {}): PlivoSettings {
  return { authId: fake.authId, authToken: fake.authToken, phoneNumber: '+14155550100', baseUrl: fake.url, ...overrides };
}

function sms(overrides: Partial<OutgoingSms> = {}): OutgoingSms {
  return {
    id: 'msg_01PLIVO', to: '+14155552671', from: undefined, body: 'Hello from the gateway', messageType: 'text', encoding: 'GSM-7',
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

async function withFake<T>(options: Parameters<typeof startPlivoFake>[0], run: (other: PlivoFake, client: PlivoProvider) => Promise<T>): Promise<T> {
  const other = await startPlivoFake(options);
  try {
    return await run(other, new PlivoProvider({ authId: other.authId, authToken: other.authToken, phoneNumber: '+14155550100', baseUrl: other.url }, fetch));
  } finally {
    await other.close();
  }
}

beforeEach(async () => {
  fake = await startPlivoFake();
  provider = new PlivoProvider(settings(), fetch);
});

afterEach(async () => {
  await fake.close();
});

describe('Plivo signatures', () => {
  // Vectors of plivo-go utils_test.go (TestValidateSignatureV3Pass1-4, TestValidateSignatureV2Pass);
  // the V2 one is also in plivo-python tests/resources/test_signature.py and plivo-node test/utils.js.
  const token = 'Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4';
  const nonce = '31627761595286130198';
  const withQuery = 'https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d';
  const withoutQuery = 'https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml';
  const params = {
    Direction: 'outbound', From: '19792014278', ALegUUID: '3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36', CallStatus: 'in-progress',
    BillRate: '0.002', ParentAuthID: 'MANWVLYTK4ZWU1YTY4QA', To: 'sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com',
    ALegRequestUUID: '3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36', CallUUID: '3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36',
    RequestUUID: '3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36', 'SIP-H-To': '<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1',
    SessionStart: '2020-04-08 11:34:33.238707', Event: 'StartApp',
  };

  it.each([
    ['POST', withQuery, 'k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c='],
    ['GET', withQuery, 'UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ='],
    ['POST', withoutQuery, 'iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0='],
    ['GET', withoutQuery, 'i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc='],
  ] as const)('V3 %s %s matches the SDK vector', (method, url, expected) => {
    expect(plivoSignatureV3(token, method, url, nonce, params)).toBe(expected);
  });

  it('V3 changes with the token, the nonce, a parameter or the query', () => {
    const good = plivoSignatureV3(token, 'POST', withQuery, nonce, params);
    expect(plivoSignatureV3(token + 'x', 'POST', withQuery, nonce, params)).not.toBe(good);
    expect(plivoSignatureV3(token, 'POST', withQuery, nonce + '1', params)).not.toBe(good);
    expect(plivoSignatureV3(token, 'POST', withQuery, nonce, { ...params, CallStatus: 'completed' })).not.toBe(good);
    expect(plivoSignatureV3(token, 'POST', withQuery.replace('c=d', 'c=e'), nonce, params)).not.toBe(good);
  });

  it('V2 matches the SDK vector and covers only the URL path and the nonce', () => {
    expect(plivoSignatureV2('my_auth_token', 'https://answer.url', '12345')).toBe('ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=');
    expect(plivoSignatureV2('my_auth_tokens', 'https://answer.url', '12345')).not.toBe('ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=');
    expect(plivoSignatureV2('my_auth_token', 'https://answer.url?message_id=x', '12345')).toBe('ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=');
  });

  it('accepts any one of several comma-separated signatures', () => {
    expect(isValidPlivoSignature('aaaa,k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=', 'k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=')).toBe(true);
    expect(isValidPlivoSignature('aaaa,bbbb', 'k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=')).toBe(false);
  });
});

describe('Plivo send', () => {
  it('posts the documented JSON to the Message API and returns the message_uuid', async () => {
    const outcome = await provider.send(sms({ validitySeconds: 600 }), timeout());

    expect(fake.messages).toHaveLength(1);
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: fake.messages[0].uuid });
    const [request] = fake.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe(`/v1/Account/${fake.authId}/Message/`);
    expect(request.headers.authorization).toBe('Basic ' + Buffer.from(`${fake.authId}:${fake.authToken}`).toString('base64'));
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.json).toEqual({
      src: '+14155550100', dst: '14155552671', text: 'Hello from the gateway', type: 'sms',
      url: `${CALLBACK_URL}?message_id=msg_01PLIVO`, method: 'POST', message_expiry: 600,
    });
  });

  it('clamps message_expiry to 5..10799 seconds and leaves it out without an expiry; the message may choose its sender', async () => {
    await provider.send(sms({ validitySeconds: 86_400 }), timeout());
    await provider.send(sms({ validitySeconds: 2 }), timeout());
    await provider.send(sms({ from: 'ACME' }), timeout());
    expect(fake.requests.map((r) => r.json.message_expiry)).toEqual([10_799, 5, undefined]);
    expect(fake.requests[2].json.src).toBe('ACME');
    expect(fake.messages).toHaveLength(3);
  });

  it('delivers non-GSM text as the same UTF-8 text', async () => {
    const text = 'नमस्ते दुनिया — Grüße 👋🏽 مرحبا';
    expect((await provider.send(sms({ body: text, messageType: 'unicode', encoding: 'UCS-2' }), timeout())).kind).toBe('accepted');
    expect(fake.requests[0].json.text).toBe(text);
    expect(fake.messages[0].text).toBe(text);
  });

  it('rejects an invalid destination as INVALID_NUMBER with Plivo\'s error', async () => {
    const outcome = await provider.send(sms({ to: '+1234' }), timeout());
    expect(outcome).toEqual({ kind: 'rejected', code: 'INVALID_NUMBER', message: 'invalid dst: 1234' });
    expect(fake.messages).toHaveLength(0);
  });

  it('rejects a destination a 202 answer lists under invalid_number', async () => {
    const answer = { api_id: 'a', message: 'message(s) queued', message_uuid: [], invalid_number: ['14155552671'] };
    const outcome = await new PlivoProvider(settings(), async () => new Response(JSON.stringify(answer), { status: 202 })).send(sms(), timeout());
    expect(outcome).toMatchObject({ kind: 'rejected', code: 'INVALID_NUMBER' });
  });

  it('rejects other 400 errors as PROVIDER_REJECTED', async () => {
    const outcome = await withFake({ answerSend: () => ({ status: 400, body: { api_id: 'a', error: 'text is required' } }) }, (_, client) => client.send(sms(), timeout()));
    expect(outcome).toEqual({ kind: 'rejected', code: 'PROVIDER_REJECTED', message: 'text is required', providerErrorCode: undefined });
  });

  it('retries after Retry-After on 429', async () => {
    const outcome = await withFake(
      { answerSend: () => ({ status: 429, headers: { 'retry-after': '3' }, body: { api_id: 'a', error: 'too many requests' } }) },
      (_, client) => client.send(sms(), timeout()),
    );
    expect(outcome).toEqual({ kind: 'retry', code: 'PROVIDER_THROTTLED', message: 'too many requests', retryAfterMs: 3000, providerErrorCode: undefined });
  });

  it('retries on 503', async () => {
    const outcome = await withFake({ answerSend: () => ({ status: 503, body: 'Service Unavailable' }) }, (_, client) => client.send(sms(), timeout()));
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNAVAILABLE' });
  });

  it('retries elsewhere when Plivo refuses our credentials', async () => {
    const outcome = await new PlivoProvider(settings({ authToken: 'wrong' }), fetch).send(sms(), timeout());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_AUTH', message: 'authentication failed' });
  });

  it('retries when the connection is refused', async () => {
    const outcome = await new PlivoProvider(settings({ baseUrl: `http://127.0.0.1:${await closedPort()}` }), fetch).send(sms(), timeout());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNREACHABLE' });
  });

  it('is unknown when Plivo never answers before the timeout', async () => {
    const outcome = await withFake({ answerSend: () => 'hang' }, async (other, client) => {
      const result = await client.send(sms(), AbortSignal.timeout(200));
      expect(other.requests).toHaveLength(1);
      return result;
    });
    expect(outcome).toMatchObject({ kind: 'unknown', code: 'PROVIDER_TIMEOUT' });
  });

  it('is unknown when a 2xx answer has no message_uuid', async () => {
    const outcome = await withFake({ answerSend: () => ({ status: 202, body: { api_id: 'a', message: 'message(s) queued' } }) }, (_, client) => client.send(sms(), timeout()));
    expect(outcome).toMatchObject({ kind: 'unknown', code: 'PROVIDER_BAD_ANSWER' });
  });

  it('refuses binary and flash without calling Plivo', async () => {
    expect(await provider.send(sms({ messageType: 'binary', body: '0a0b' }), timeout())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    expect(await provider.send(sms({ messageType: 'flash' }), timeout())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    expect(fake.requests).toHaveLength(0);
  });
});

describe('Plivo status callbacks', () => {
  async function sent(): Promise<string> {
    const outcome = await provider.send(sms(), timeout());
    if (outcome.kind !== 'accepted') throw new Error(`send failed: ${JSON.stringify(outcome)}`);
    return outcome.providerMessageId;
  }

  it('maps a V3-signed delivered report with its cost, naming our message from the url query', async () => {
    const uuid = await sent();
    const callback = fake.statusCallback(uuid, 'delivered', { scheme: 'v3', totalAmount: '0.00500' });
    expect(provider.parseWebhook(webhookRequest(callback))).toEqual([{ providerMessageId: uuid, messageId: 'msg_01PLIVO', status: 'delivered', cost: 0.005 }]);
  });

  it('maps a V2-signed undelivered report with Plivo\'s error code', async () => {
    const uuid = await sent();
    const callback = fake.statusCallback(uuid, 'undelivered', { scheme: 'v2', errorCode: '50' });
    expect(provider.parseWebhook(webhookRequest(callback))).toEqual([{
      providerMessageId: uuid, messageId: 'msg_01PLIVO', status: 'undelivered',
      errorCode: 'INVALID_NUMBER', providerErrorCode: '50', errorMessage: 'Plivo error 50',
    }]);
  });

  it('maps queued and sent to sent, failed and rejected to failed (420 as expired)', async () => {
    const uuid = await sent();
    for (const state of ['queued', 'sent']) {
      expect(provider.parseWebhook(webhookRequest(fake.statusCallback(uuid, state)))).toEqual([{ providerMessageId: uuid, messageId: 'msg_01PLIVO', status: 'sent' }]);
    }
    expect(provider.parseWebhook(webhookRequest(fake.statusCallback(uuid, 'failed', { errorCode: '420' })))[0]).toMatchObject({ status: 'failed', errorCode: 'EXPIRED' });
    expect(provider.parseWebhook(webhookRequest(fake.statusCallback(uuid, 'rejected')))[0]).toMatchObject({ status: 'failed', errorCode: 'REJECTED' });
  });

  it('reports a part under the parent uuid send() returned', async () => {
    const uuid = await sent();
    const callback = fake.statusCallback(uuid, 'delivered', { part: { uuid: 'f0e1d2c3-0000-4000-8000-000000000002', info: '2 of 3' } });
    expect(provider.parseWebhook(webhookRequest(callback))).toEqual([{
      providerMessageId: uuid, messageId: 'msg_01PLIVO', status: 'delivered', part: { id: 'f0e1d2c3-0000-4000-8000-000000000002', count: 3 },
    }]);
  });

  it('accepts a V3 header carrying several signatures', async () => {
    const uuid = await sent();
    const callback = fake.statusCallback(uuid, 'delivered', { scheme: 'v3', otherSignatures: ['c2lnbmVkIHdpdGggYW5vdGhlciB0b2tlbg=='] });
    expect(callback.headers['x-plivo-signature-v3']).toContain(',');
    expect(provider.parseWebhook(webhookRequest(callback))[0].status).toBe('delivered');
  });

  it('refuses unsigned, forged and altered callbacks', async () => {
    const uuid = await sent();
    const genuine = fake.statusCallback(uuid, 'delivered', { scheme: 'v3' });
    const { 'x-plivo-signature-v3': _signature, ...unsigned } = genuine.headers;
    expect(() => provider.parseWebhook(webhookRequest({ ...genuine, headers: unsigned }))).toThrow(UnauthorizedError);
    expect(() => provider.parseWebhook(webhookRequest(fake.statusCallback(uuid, 'delivered', { signWith: 'other-token' })))).toThrow(UnauthorizedError);
    expect(() => provider.parseWebhook(webhookRequest(fake.statusCallback(uuid, 'delivered', { scheme: 'v2', signWith: 'other-token' })))).toThrow(UnauthorizedError);
    expect(() => provider.parseWebhook(webhookRequest({ ...genuine, rawBody: genuine.rawBody.replace('Status=delivered', 'Status=undelivered') }))).toThrow(UnauthorizedError);
    expect(() => provider.parseWebhook(webhookRequest({ ...genuine, url: genuine.url.replace('msg_01PLIVO', 'msg_02OTHER') }))).toThrow(UnauthorizedError);
  });

  it('names the missing field of a signed body that is not a status callback', async () => {
    const fields = { MessageUUID: 'f0e1d2c3-0000-4000-8000-000000000001', To: '14155552671' };
    const headers = { 'x-plivo-signature-v3': plivoSignatureV3(fake.authToken, 'POST', CALLBACK_URL, '123', fields), 'x-plivo-signature-v3-nonce': '123' };
    try {
      provider.parseWebhook(webhookRequest({ url: CALLBACK_URL, headers, rawBody: new URLSearchParams(fields).toString() }));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).errors).toEqual([{ field: 'Status', message: 'required' }]);
    }
  });

  it('posts the signed callback over HTTP to the url it was given', async () => {
    const received: WebhookRequest[] = [];
    const receiver = createHttpServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}${req.url}`;
        received.push({ url, method: 'POST', headers: req.headers as Record<string, string>, rawBody: raw, body: {}, query: Object.fromEntries(new URL(url).searchParams) });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const callbackUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/api/webhooks/plivo`;
      const outcome = await provider.send(sms({ statusCallbackUrl: callbackUrl }), timeout());
      const uuid = (outcome as { providerMessageId: string }).providerMessageId;
      expect(await fake.postStatusCallback(uuid, 'delivered')).toEqual({ status: 200, body: 'ok' });
      expect(provider.parseWebhook(received[0])).toEqual([{ providerMessageId: uuid, messageId: 'msg_01PLIVO', status: 'delivered' }]);
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });
});

describe('Plivo lookup', () => {
  const attemptedAt = Date.parse('2026-03-02T10:00:00Z');
  const hint = { messageId: 'msg_01PLIVO', to: '+14155552671', attemptedAt };

  it('finds the one outbound message to the recipient initiated around the attempt', async () => {
    const mine = fake.addMessage({ dst: '14155552671', messageTime: attemptedAt + 1500 });
    fake.addMessage({ dst: '14155552671', messageTime: attemptedAt - LOOKUP_BEFORE_MS - 1000 });
    fake.addMessage({ dst: '14155552671', messageTime: attemptedAt + LOOKUP_AFTER_MS + 1000 });
    fake.addMessage({ dst: '14155552671', messageTime: attemptedAt, direction: 'inbound' });
    fake.addMessage({ dst: '14155550000', messageTime: attemptedAt });

    expect(await provider.lookup(hint, timeout())).toEqual({ providerMessageId: mine.uuid });
    const [request] = fake.requests;
    expect(request.method).toBe('GET');
    expect(request.path).toBe(`/v1/Account/${fake.authId}/Message/`);
    expect(Object.fromEntries(request.query)).toEqual({
      message_direction: 'outbound', to_number: '+14155552671',
      message_time__gte: '2026-03-02 09:59:00', message_time__lte: '2026-03-02 10:05:00', limit: '20', offset: '0',
    });
  });

  it('is null when Plivo has no such message', async () => {
    fake.addMessage({ dst: '14155552671', messageTime: attemptedAt - 3_600_000 });
    expect(await provider.lookup(hint, timeout())).toBeNull();
  });

  it('throws when two messages could be the one', async () => {
    fake.addMessage({ dst: '14155552671', messageTime: attemptedAt + 1000 });
    fake.addMessage({ dst: '14155552671', messageTime: attemptedAt + 2000 });
    await expect(provider.lookup(hint, timeout())).rejects.toThrow(/2 messages/);
  });

  it('follows meta.next, and gives up rather than guess past five pages', async () => {
    for (let i = 0; i < 25; i++) fake.addMessage({ dst: '14155552671', messageTime: attemptedAt + i * 1000 });
    await expect(provider.lookup(hint, timeout())).rejects.toThrow(/25 messages/);
    expect(fake.requests.map((r) => r.query.get('offset'))).toEqual(['0', '20']);
    for (let i = 0; i < 80; i++) fake.addMessage({ dst: '14155552671', messageTime: attemptedAt + i * 100 });
    await expect(provider.lookup(hint, timeout())).rejects.toThrow(/more than 100 messages/);
  });

  it('throws when Plivo answers with an error', async () => {
    await expect(new PlivoProvider(settings({ authToken: 'wrong' }), fetch).lookup(hint, timeout())).rejects.toThrow(/HTTP 401/);
  });
});

describe('Plivo definition', () => {
  const env = (vars: Record<string, string>) => ({ str: (name: string) => vars[name], url: (name: string, fallback: string) => vars[name] ?? fallback });

  it('needs the auth id, token and a sender number', () => {
    expect(plivoProvider.readSettings(env({ PLIVO_AUTH_ID: 'MA1', PLIVO_AUTH_TOKEN: 't' }))).toBeUndefined();
    expect(plivoProvider.readSettings(env({ PLIVO_AUTH_ID: 'MA1', PLIVO_AUTH_TOKEN: 't', PLIVO_PHONE_NUMBER: '+14155550100' }))).toEqual({
      authId: 'MA1', authToken: 't', phoneNumber: '+14155550100', baseUrl: 'https://api.plivo.com',
    });
    expect(plivoProvider.requiredVariables).toEqual(['PLIVO_AUTH_ID', 'PLIVO_AUTH_TOKEN', 'PLIVO_PHONE_NUMBER']);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}
