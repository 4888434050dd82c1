/**
 * Vonage (Nexmo) SMS API provider, through the real client against a loopback fake that checks
 * the request as the API reference documents it (see test/providers/fakes/nexmo-fake.ts for the
 * pages followed), and delivery receipts through real HTTP in each transport Vonage uses.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { AppError } from '../../src/domain/errors.js';
import { segmentMessage, type MessageType } from '../../src/domain/encoding.js';
import type { EnvReader } from '../../src/providers/definition.js';
import type { OutgoingSms, SmsProvider, WebhookRequest } from '../../src/providers/provider.js';
import { nexmoProvider } from '../../src/providers/nexmo/index.js';
import { NexmoProvider } from '../../src/providers/nexmo/client.js';
import { readNexmoSettings, type NexmoSettings } from '../../src/providers/nexmo/settings.js';
import { vonageSignature, type SignatureMethod } from '../../src/providers/nexmo/signature.js';
import { signReceipt, startNexmoFake, type NexmoFake, type NexmoFakeOptions } from './fakes/nexmo-fake.js';

const CALLBACK = 'https://gw.example.com/api/webhooks/nexmo';
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

async function fake(options: NexmoFakeOptions = {}): Promise<NexmoFake> {
  const f = await startNexmoFake(options);
  closers.push(f.close);
  return f;
}

function settingsFor(f: { url: string; apiKey: string; apiSecret: string }, extra: Partial<NexmoSettings> = {}): NexmoSettings {
  return {
    apiKey: f.apiKey, apiSecret: f.apiSecret, phoneNumber: '+447700900001', baseUrl: f.url,
    signatureSecret: undefined, signatureMethod: 'md5hash', ...extra,
  };
}

function sms(body: string, messageType: MessageType = 'text', extra: Partial<OutgoingSms> = {}): OutgoingSms {
  const { encoding, segments } = segmentMessage(body, messageType);
  return {
    id: 'msg_01j0example0000000000000', to: '+447700900000', from: undefined, body, messageType, encoding, segments,
    smsType: 'transactional', statusCallbackUrl: CALLBACK, validitySeconds: undefined, ...extra,
  };
}

const signal = () => AbortSignal.timeout(5_000);

describe('Vonage signature', () => {
  // Vectors from Vonage/vonage-node-sdk packages/sms/__tests__/__dataSets__/signature.ts.
  const params = {
    'message-timestamp': '2013-11-21 15:27:30', messageId: '020000001B0FE827', msisdn: '14843472194', text: 'Test again',
    timestamp: '1385047698', to: '13239877404', type: 'text',
  };
  const vectors: Array<[SignatureMethod, string]> = [
    ['md5hash', 'd2e7b1dc968737c5998ad624e02f90b7'],
    ['md5', 'DDEBD46008C2D4E93CCE578A332A52D5'],
    ['sha1', '27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A'],
    ['sha256', 'DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330'],
    ['sha512', 'E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82'],
  ];
  it.each(vectors)('%s matches the SDK test vector', (method, expected) => {
    expect(vonageSignature(params, 'my_secret_key_for_testing', method)).toBe(expected.toLowerCase());
  });

  it('leaves sig out and turns & and = in values into _', () => {
    const withSig = { ...params, sig: 'anything' };
    expect(vonageSignature(withSig, 'my_secret_key_for_testing', 'md5hash')).toBe('d2e7b1dc968737c5998ad624e02f90b7');
    const a = vonageSignature({ a: 'x&b=y' }, 's', 'sha256');
    expect(a).toBe(vonageSignature({ a: 'x_b_y' }, 's', 'sha256'));
    expect(a).not.toBe(vonageSignature({ a: 'x', b: 'y' }, 's', 'sha256'));
  });
});

describe('Vonage settings', () => {
  const env = (vars: Record<string, string>): EnvReader => ({
    str: (name) => vars[name]?.trim() || undefined,
    url: (name, fallback) => (vars[name] ?? fallback).replace(/\/+$/, ''),
  });

  it('is disabled without key and secret', () => {
    expect(readNexmoSettings(env({ NEXMO_API_KEY: 'k' }))).toBeUndefined();
    expect(nexmoProvider.requiredVariables).toEqual(['NEXMO_API_KEY', 'NEXMO_API_SECRET']);
  });

  it('reads the VONAGE_* twins, NEXMO_* winning when both are set', () => {
    const s = readNexmoSettings(env({
      VONAGE_API_KEY: 'vkey', NEXMO_API_KEY: 'nkey', VONAGE_API_SECRET: 'vsecret', VONAGE_PHONE_NUMBER: '+447700900001',
      VONAGE_BASE_URL: 'http://127.0.0.1:9/', VONAGE_SIGNATURE_SECRET: 'sig', VONAGE_SIGNATURE_METHOD: 'SHA256',
    }));
    expect(s).toEqual({
      apiKey: 'nkey', apiSecret: 'vsecret', phoneNumber: '+447700900001', baseUrl: 'http://127.0.0.1:9',
      signatureSecret: 'sig', signatureMethod: 'sha256',
    });
    expect(readNexmoSettings(env({ NEXMO_API_KEY: 'k', NEXMO_API_SECRET: 's' }))).toMatchObject({ baseUrl: 'https://rest.nexmo.com', signatureMethod: 'md5hash' });
  });

  it('refuses an unknown signature method, naming the variable', () => {
    const read = () => readNexmoSettings(env({ NEXMO_API_KEY: 'k', NEXMO_API_SECRET: 's', NEXMO_SIGNATURE_METHOD: 'sha3' }));
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(/NEXMO_SIGNATURE_METHOD/);
  });
});

describe('Vonage send', () => {
  it('posts the documented request: Basic auth, form body, number without +', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const stub = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ 'message-count': '1', messages: [{ to: '447700900000', 'message-id': 'ABC1', status: '0', 'message-price': '0.03330000' }] }));
    }) as unknown as typeof fetch;
    const provider = nexmoProvider.create(settingsFor({ url: 'https://rest.example', apiKey: 'key12345', apiSecret: 'secret' }), { fetch: stub });
    const outcome = await provider.send(sms('Hello there', 'text', { validitySeconds: 3600 }), signal());
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: 'ABC1', cost: 0.0333 });
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('https://rest.example/sms/json');
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].init.headers).toEqual({
      authorization: 'Basic ' + Buffer.from('key12345:secret').toString('base64'),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    });
    expect(Object.fromEntries(new URLSearchParams(String(calls[0].init.body)))).toEqual({
      from: '447700900001', to: '447700900000', text: 'Hello there', callback: CALLBACK, 'client-ref': 'msg_01j0example0000000000000', ttl: '3600000',
    });
  });

  it('accepts a text through the fake, with Vonage\'s id and price', async () => {
    const f = await fake();
    const provider = new NexmoProvider(settingsFor(f), fetch);
    const outcome = await provider.send(sms('Your code is 123456', 'text', { from: 'AcmeInc' }), signal());
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: f.accepted[0].messageId, cost: 0.0333 });
    expect(f.requests[0].form).toMatchObject({ from: 'AcmeInc', to: '447700900000', text: 'Your code is 123456' });
    expect(f.requests[0].form.type).toBeUndefined();
  });

  it('sends a UCS-2 text as type=unicode and it arrives as the same UTF-8 text', async () => {
    const f = await fake();
    const text = 'Привет, Zoë! Ваш код 4821 👋';
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms(text), signal());
    expect(outcome.kind).toBe('accepted');
    expect(f.requests[0].form.type).toBe('unicode');
    expect(f.requests[0].form.text).toBe(text);
  });

  it('reports one id per part of a long text, the first as the message id, and the summed price', async () => {
    const f = await fake();
    const text = 'All work and no play makes Jack a dull boy. '.repeat(9);
    expect(segmentMessage(text).segments).toBe(3);
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms(text), signal());
    const ids = f.accepted.map((p) => p.messageId);
    expect(ids).toHaveLength(3);
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: ids[0], partIds: ids, cost: 0.0999 });
  });

  it('sends flash as message-class 0 and binary as hex body without udh', async () => {
    const f = await fake();
    const provider = new NexmoProvider(settingsFor(f), fetch);
    expect((await provider.send(sms('Alert: door open', 'flash'), signal())).kind).toBe('accepted');
    expect(f.requests[0].form).toMatchObject({ text: 'Alert: door open', 'message-class': '0' });
    expect((await provider.send(sms('0011 2233 4455', 'binary'), signal())).kind).toBe('accepted');
    expect(f.requests[1].form).toMatchObject({ type: 'binary', body: '001122334455' });
    expect(f.requests[1].form.text).toBeUndefined();
    expect(f.requests[1].form.udh).toBeUndefined();
  });

  it('keeps ttl inside Vonage\'s bounds and leaves out a callback longer than 100 characters', async () => {
    const f = await fake();
    const provider = new NexmoProvider(settingsFor(f), fetch);
    const long = `https://gw.example.com/${'x'.repeat(90)}/api/webhooks/nexmo`;
    expect((await provider.send(sms('hi', 'text', { validitySeconds: 5, statusCallbackUrl: long }), signal())).kind).toBe('accepted');
    expect(f.requests[0].form.ttl).toBe('20000');
    expect(f.requests[0].form.callback).toBeUndefined();
  });

  it('refuses locally what Vonage cannot carry: no sender, binary over one SMS', async () => {
    const f = await fake();
    const noSender = new NexmoProvider(settingsFor(f, { phoneNumber: undefined }), fetch);
    expect(await noSender.send(sms('hi'), signal())).toMatchObject({ kind: 'rejected', code: 'PROVIDER_REJECTED' });
    const provider = new NexmoProvider(settingsFor(f), fetch);
    expect(await provider.send(sms('ab'.repeat(141), 'binary'), signal())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    expect(f.requests).toHaveLength(0);
  });

  const refusal = (...statuses: Array<[string, string]>): NexmoFakeOptions['respond'] => () => ({
    status: 200,
    body: { 'message-count': String(statuses.length), messages: statuses.map(([status, text]) => ({ status, 'error-text': text })) },
  });

  it.each([
    ['1', 'Throughput Rate Exceeded - please wait [ 10 ] and retry', 'retry', 'PROVIDER_THROTTLED'],
    ['4', 'Bad Credentials', 'retry', 'PROVIDER_AUTH'],
    ['5', 'Internal Error', 'retry', 'PROVIDER_UNAVAILABLE'],
    ['6', 'Unroutable message - rejected', 'rejected', 'INVALID_NUMBER'],
    ['7', 'Number barred', 'rejected', 'BLOCKED'],
    ['9', 'Partner quota exceeded', 'retry', 'PROVIDER_AUTH'],
    ['15', 'Illegal Sender Address - rejected', 'rejected', 'PROVIDER_REJECTED'],
    ['29', 'Non White-listed Destination - rejected', 'rejected', 'PROVIDER_REJECTED'],
  ])('maps HTTP 200 with status %s to %s', async (status, text, kind, code) => {
    const f = await fake({ respond: refusal([status, text]) });
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms('hi'), signal());
    expect(outcome).toEqual({ kind, code, message: text, providerErrorCode: status });
  });

  it('catches a request the fake refuses as Vonage does (status 3 for a bad number)', async () => {
    const f = await fake();
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms('hi', 'text', { to: '+12' }), signal());
    expect(outcome).toEqual({ kind: 'rejected', code: 'PROVIDER_REJECTED', message: 'Invalid to address', providerErrorCode: '3' });
  });

  it('does not retry a long text of which some parts were taken', async () => {
    const f = await fake({
      respond: () => ({
        status: 200,
        body: {
          'message-count': '2',
          messages: [
            { to: '447700900000', 'message-id': 'PART1', status: '0', 'message-price': '0.03330000' },
            { status: '1', 'error-text': 'Throughput Rate Exceeded - please wait [ 10 ] and retry' },
          ],
        },
      }),
    });
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms('x'.repeat(300)), signal());
    expect(outcome).toMatchObject({ kind: 'rejected', code: 'PROVIDER_REJECTED', providerErrorCode: '1' });
    expect(outcome.kind === 'rejected' && outcome.message).toContain('PART1');
  });

  it('reads wrong credentials from the 401 problem document', async () => {
    const f = await fake();
    const outcome = await new NexmoProvider(settingsFor(f, { apiSecret: 'wrong' }), fetch).send(sms('hi'), signal());
    expect(outcome).toEqual({ kind: 'retry', code: 'PROVIDER_AUTH', message: 'Unauthorized: You did not provide correct credentials.' });
  });

  it('retries a 503', async () => {
    const f = await fake({ respond: () => ({ status: 503, body: '<html>Service Unavailable</html>', headers: { 'retry-after': '2' } }) });
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms('hi'), signal());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNAVAILABLE', retryAfterMs: 2000 });
  });

  it('treats a 200 it cannot read as unknown: Vonage may have taken it', async () => {
    const f = await fake({ respond: () => ({ status: 200, body: '<html>proxy</html>' }) });
    expect(await new NexmoProvider(settingsFor(f), fetch).send(sms('hi'), signal())).toMatchObject({ kind: 'unknown', code: 'PROVIDER_BAD_ANSWER' });
    const noId = await fake({ respond: () => ({ status: 200, body: { 'message-count': '1', messages: [{ status: '0' }] } }) });
    expect(await new NexmoProvider(settingsFor(noId), fetch).send(sms('hi'), signal())).toMatchObject({ kind: 'unknown' });
  });

  it('retries a refused connection', async () => {
    const f = await startNexmoFake();
    await f.close();
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms('hi'), signal());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNREACHABLE' });
  });

  it('calls a timeout unknown, never retry', async () => {
    const f = await fake({ respond: () => 'hang' });
    const outcome = await new NexmoProvider(settingsFor(f), fetch).send(sms('hi'), AbortSignal.timeout(300));
    expect(outcome).toMatchObject({ kind: 'unknown', code: 'PROVIDER_TIMEOUT' });
    expect(f.requests).toHaveLength(1);
  });
});

/** Receives webhooks over real HTTP and hands them to the provider as the gateway's route does. */
async function receiver(provider: SmsProvider): Promise<{ url: string; seen: WebhookRequest[] }> {
  const seen: WebhookRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const type = String(req.headers['content-type'] ?? '');
      const body = rawBody === '' ? undefined : type.startsWith('application/json') ? JSON.parse(rawBody) : Object.fromEntries(new URLSearchParams(rawBody));
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const request: WebhookRequest = {
        url: `${base}${req.url}`, method: req.method === 'GET' ? 'GET' : 'POST', headers: req.headers, rawBody, body,
        query: Object.fromEntries(url.searchParams),
      };
      seen.push(request);
      try {
        const reports = provider.parseWebhook(request);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reports));
      } catch (err) {
        const problem = err instanceof AppError ? { status: err.status, detail: err.message, errors: err.errors } : { status: 500, detail: String(err) };
        res.writeHead(problem.status, { 'content-type': 'application/json' }).end(JSON.stringify(problem));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `${base}/api/webhooks/nexmo`, seen };
}

describe('Vonage delivery receipts', () => {
  async function sentPart(f: NexmoFake, provider: SmsProvider) {
    const outcome = await provider.send(sms('Your code is 123456'), signal());
    expect(outcome.kind).toBe('accepted');
    return f.accepted[0];
  }

  it('maps an unsigned JSON receipt when no signature secret is set', async () => {
    const f = await fake();
    const provider = new NexmoProvider(settingsFor(f), fetch);
    const part = await sentPart(f, provider);
    const hook = await receiver(provider);
    const res = await f.postDeliveryReport(hook.url, f.receiptFor(part), { transport: 'json' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{
      providerMessageId: part.messageId, messageId: 'msg_01j0example0000000000000', status: 'delivered',
      timestamp: Date.UTC(2020, 0, 1, 14, 0), cost: 0.0333, part: { id: part.messageId },
    }]);
  });

  it.each([
    ['get', 'md5hash'],
    ['json', 'sha256'],
    ['form', 'sha512'],
    ['get', 'md5'],
    ['form', 'sha1'],
  ] as const)('accepts a signed receipt sent as %s with %s', async (transport, method) => {
    const f = await fake({ signatureSecret: 'sig-secret-0123456789', signatureMethod: method });
    const provider = new NexmoProvider(settingsFor(f, { signatureSecret: 'sig-secret-0123456789', signatureMethod: method }), fetch);
    const part = await sentPart(f, provider);
    const hook = await receiver(provider);
    const res = await f.postDeliveryReport(hook.url, f.receiptFor(part, { 'message-timestamp': '2020-01-01 14:00:05' }), { transport });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject([{ providerMessageId: part.messageId, status: 'delivered' }]);
    expect(hook.seen[0].method).toBe(transport === 'get' ? 'GET' : 'POST');
    expect(hook.seen[0].query.sig ?? (hook.seen[0].body as Record<string, string>).sig).toBeTruthy();
  });

  it('refuses an unsigned, a forged and a tampered receipt when a secret is set', async () => {
    const f = await fake({ signatureSecret: 'sig-secret-0123456789', signatureMethod: 'sha256' });
    const provider = new NexmoProvider(settingsFor(f, { signatureSecret: 'sig-secret-0123456789', signatureMethod: 'sha256' }), fetch);
    const part = await sentPart(f, provider);
    const hook = await receiver(provider);
    const receipt = f.receiptFor(part, { status: 'failed', 'err-code': '8' });

    expect((await f.postDeliveryReport(hook.url, receipt, { signed: false })).status).toBe(401);
    const forged = signReceipt(receipt, 'not-the-secret', 'sha256');
    expect((await fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(forged) })).status).toBe(401);
    const tampered = { ...signReceipt(receipt, 'sig-secret-0123456789', 'sha256'), status: 'delivered' };
    expect((await fetch(`${hook.url}?${new URLSearchParams(tampered)}`)).status).toBe(401);
    const { timestamp: _t, ...withoutTimestamp } = signReceipt(receipt, 'sig-secret-0123456789', 'sha256');
    expect((await fetch(`${hook.url}?${new URLSearchParams(withoutTimestamp)}`)).status).toBe(401);
    // The same receipt, correctly signed, passes: the refusals above were about the signature.
    expect((await f.postDeliveryReport(hook.url, receipt)).status).toBe(200);
  });

  it.each([
    [{ status: 'accepted' }, { status: 'sent' }],
    [{ status: 'buffered' }, { status: 'sent' }],
    [{ status: 'expired', 'err-code': '1' }, { status: 'undelivered', errorCode: 'EXPIRED', providerErrorCode: '1' }],
    [{ status: 'failed', 'err-code': '8' }, { status: 'undelivered', errorCode: 'UNDELIVERABLE', providerErrorCode: '8' }],
    [{ status: 'failed', 'err-code': '4' }, { status: 'undelivered', errorCode: 'BLOCKED', providerErrorCode: '4' }],
    [{ status: 'rejected', 'err-code': '9' }, { status: 'undelivered', errorCode: 'OPTED_OUT', providerErrorCode: '9' }],
    [{ status: 'rejected', 'err-code': '99' }, { status: 'undelivered', errorCode: 'REJECTED', providerErrorCode: '99' }],
  ])('maps %j to %j', async (fields, expected) => {
    const f = await fake();
    const provider = new NexmoProvider(settingsFor(f), fetch);
    const part = await sentPart(f, provider);
    const hook = await receiver(provider);
    const [report] = await (await f.postDeliveryReport(hook.url, f.receiptFor(part, fields), { transport: 'form' })).json();
    expect(report).toMatchObject({ providerMessageId: part.messageId, part: { id: part.messageId }, ...expected });
    if (expected.status === 'sent') expect(report.errorCode).toBeUndefined();
  });

  it('names the field of a body that is not a receipt', async () => {
    const f = await fake();
    const provider = new NexmoProvider(settingsFor(f), fetch);
    const hook = await receiver(provider);
    const noId = await f.postDeliveryReport(hook.url, { status: 'delivered', msisdn: '447700900000' });
    expect(noId.status).toBe(422);
    expect((await noId.json()).errors).toEqual([{ field: 'messageId', message: 'required' }]);
    const inbound = await f.postDeliveryReport(hook.url, { messageId: '0A00', msisdn: '447700900000', text: 'hello', type: 'text' });
    expect(inbound.status).toBe(422);
    expect((await inbound.json()).errors[0].field).toBe('status');
  });
});
