/**
 * Clickatell Platform provider, through the real client against a loopback fake that checks the
 * request as the SMS API reference documents it (see test/providers/fakes/clickatell-fake.ts for
 * the pages followed), and status callbacks through real HTTP, GET and POST.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/domain/errors.js';
import { segmentMessage, type MessageType } from '../../src/domain/encoding.js';
import type { EnvReader } from '../../src/providers/definition.js';
import type { OutgoingSms, SmsProvider, WebhookRequest } from '../../src/providers/provider.js';
import { clickatellProvider } from '../../src/providers/clickatell/index.js';
import { ClickatellProvider } from '../../src/providers/clickatell/client.js';
import type { ClickatellSettings } from '../../src/providers/clickatell/settings.js';
import { startClickatellFake, type ClickatellFake, type ClickatellFakeOptions } from './fakes/clickatell-fake.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

async function fake(options: ClickatellFakeOptions = {}): Promise<ClickatellFake> {
  const f = await startClickatellFake(options);
  closers.push(f.close);
  return f;
}

function settingsFor(f: { url: string; apiKey: string }, extra: Partial<ClickatellSettings> = {}): ClickatellSettings {
  return { apiKey: f.apiKey, baseUrl: f.url, from: undefined, ...extra };
}

function sms(body: string, messageType: MessageType = 'text', extra: Partial<OutgoingSms> = {}): OutgoingSms {
  const { encoding, segments } = segmentMessage(body, messageType);
  return {
    id: 'msg_01j0example0000000000000', to: '+27999000001', from: undefined, body, messageType, encoding, segments,
    smsType: 'transactional', statusCallbackUrl: 'https://gw.example.com/api/webhooks/clickatell', validitySeconds: undefined, ...extra,
  };
}

const signal = () => AbortSignal.timeout(5_000);

describe('Clickatell settings', () => {
  const env = (vars: Record<string, string>): EnvReader => ({
    str: (name) => vars[name]?.trim() || undefined,
    url: (name, fallback) => (vars[name] ?? fallback).replace(/\/+$/, ''),
  });

  it('is enabled by the API key alone, with the platform host by default', () => {
    expect(clickatellProvider.readSettings(env({}))).toBeUndefined();
    expect(clickatellProvider.readSettings(env({ CLICKATELL_API_KEY: 'key', CLICKATELL_FROM: '+15550001111' }))).toEqual({
      apiKey: 'key', baseUrl: 'https://platform.clickatell.com', from: '+15550001111',
    });
  });
});

describe('Clickatell send', () => {
  it('posts the documented request: raw key as Authorization, JSON body, number without +', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const stub = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ messages: [{ apiMessageId: 'af750c2dc53e4e4c88c39b3b48756d3a', accepted: true, to: '27999000001', errorCode: null, error: null, errorDescription: null }], errorCode: null, error: null, errorDescription: null }), { status: 202 });
    }) as unknown as typeof fetch;
    const provider = clickatellProvider.create({ apiKey: 'the-key', baseUrl: 'https://platform.example', from: '+15550001111' }, { fetch: stub });
    const outcome = await provider.send(sms('Hello there', 'text', { validitySeconds: 3599 }), signal());
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: 'af750c2dc53e4e4c88c39b3b48756d3a' });
    expect(calls[0].url).toBe('https://platform.example/messages');
    expect(calls[0].init.method).toBe('POST');
    expect(calls[0].init.headers).toEqual({ authorization: 'the-key', 'content-type': 'application/json', accept: 'application/json' });
    expect(JSON.parse(String(calls[0].init.body))).toEqual({
      content: 'Hello there', to: ['27999000001'], from: '15550001111', clientMessageId: 'msg_01j0example0000000000000', charset: 'UTF-8', validityPeriod: 59,
    });
  });

  it('accepts a text through the fake', async () => {
    const f = await fake();
    const outcome = await new ClickatellProvider(settingsFor(f), fetch).send(sms('Your code is 123456'), signal());
    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: f.accepted[0].apiMessageId });
    expect(f.accepted[0]).toMatchObject({ to: '27999000001', clientMessageId: 'msg_01j0example0000000000000' });
    expect(f.requests[0].json?.from).toBeUndefined();
  });

  it('sends a UCS-2 text as the same UTF-8 text', async () => {
    const f = await fake();
    const text = 'Привет, Zoë! Ваш код 4821 👋';
    expect((await new ClickatellProvider(settingsFor(f), fetch).send(sms(text), signal())).kind).toBe('accepted');
    expect(f.requests[0].json?.content).toBe(text);
    expect(f.requests[0].json?.charset).toBe('UTF-8');
  });

  it('sends binary as hex content with binary: true, and refuses flash and oversized binary locally', async () => {
    const f = await fake();
    const provider = new ClickatellProvider(settingsFor(f), fetch);
    expect((await provider.send(sms('0011 2233', 'binary'), signal())).kind).toBe('accepted');
    expect(f.requests[0].json).toMatchObject({ content: '00112233', binary: true });
    expect(f.requests[0].json?.charset).toBeUndefined();
    expect(await provider.send(sms('Alert', 'flash'), signal())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    expect(await provider.send(sms('ab'.repeat(141), 'binary'), signal())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    expect(f.requests).toHaveLength(1);
  });

  it('turns accepted: false into rejected with Clickatell\'s code', async () => {
    const f = await fake();
    const outcome = await new ClickatellProvider(settingsFor(f), fetch).send(sms('hi', 'text', { to: '+12' }), signal());
    expect(outcome).toEqual({
      kind: 'rejected', code: 'INVALID_NUMBER', message: 'Invalid recipient address: Invalid destination address', providerErrorCode: '25',
    });
  });

  const refusedMessage = (status: number, errorCode: number, error: string): ClickatellFakeOptions['respond'] => () => ({
    status,
    body: { messages: [{ accepted: false, to: '27999000001', errorCode, error, errorDescription: null }], errorCode: null, error: null, errorDescription: null },
  });

  it.each([
    [202, 26, 'Recipient opted out', 'rejected', 'OPTED_OUT'],
    [202, 43, 'Rate limit', 'retry', 'PROVIDER_THROTTLED'],
    [400, 23, 'Invalid or missing parameter', 'rejected', 'PROVIDER_REJECTED'],
    [400, 20, 'Insufficient account balance', 'retry', 'PROVIDER_AUTH'],
  ])('maps HTTP %i with message error %i to its outcome', async (status, errorCode, error, kind, code) => {
    const f = await fake({ respond: refusedMessage(status, errorCode, error) });
    const outcome = await new ClickatellProvider(settingsFor(f), fetch).send(sms('hi'), signal());
    expect(outcome).toEqual({ kind, code, message: error, providerErrorCode: String(errorCode) });
  });

  it('retries when the key is wrong (401, error 1)', async () => {
    const f = await fake();
    const outcome = await new ClickatellProvider(settingsFor(f, { apiKey: 'Bearer ' + f.apiKey }), fetch).send(sms('hi'), signal());
    expect(outcome).toEqual({
      kind: 'retry', code: 'PROVIDER_AUTH', message: 'Invalid or missing Integration API Key: Invalid or missing Integration API Key', providerErrorCode: '1',
    });
  });

  it('retries a 503 and a refused connection', async () => {
    const f = await fake({ respond: () => ({ status: 503, body: 'Service Unavailable' }) });
    expect(await new ClickatellProvider(settingsFor(f), fetch).send(sms('hi'), signal())).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNAVAILABLE' });
    const gone = await startClickatellFake();
    await gone.close();
    expect(await new ClickatellProvider(settingsFor(gone), fetch).send(sms('hi'), signal())).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNREACHABLE' });
  });

  it('calls a timeout or an unreadable 202 unknown', async () => {
    const hang = await fake({ respond: () => 'hang' });
    expect(await new ClickatellProvider(settingsFor(hang), fetch).send(sms('hi'), AbortSignal.timeout(300))).toMatchObject({ kind: 'unknown', code: 'PROVIDER_TIMEOUT' });
    const garbled = await fake({ respond: () => ({ status: 202, body: { messages: [{ accepted: true, to: '27999000001' }] } }) });
    expect(await new ClickatellProvider(settingsFor(garbled), fetch).send(sms('hi'), signal())).toMatchObject({ kind: 'unknown', code: 'PROVIDER_BAD_ANSWER' });
  });
});

/** Receives webhooks over real HTTP and hands them to the provider as the gateway's route does. */
async function receiver(provider: SmsProvider): Promise<string> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const request: WebhookRequest = {
        url: url.toString(), method: req.method === 'GET' ? 'GET' : 'POST', headers: req.headers, rawBody,
        body: rawBody === '' ? undefined : JSON.parse(rawBody), query: Object.fromEntries(url.searchParams),
      };
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
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/webhooks/clickatell`;
}

describe('Clickatell status callbacks', () => {
  async function setup() {
    const f = await fake();
    const provider = new ClickatellProvider(settingsFor(f), fetch);
    expect((await provider.send(sms('Your code is 123456'), signal())).kind).toBe('accepted');
    return { f, message: f.accepted[0], url: await receiver(provider) };
  }

  it('maps a POST callback carrying ?token= to a delivered report with our id', async () => {
    const { f, message, url } = await setup();
    const res = await f.postStatusCallback(url, f.callbackFor(message, 4));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{
      providerMessageId: message.apiMessageId, messageId: 'msg_01j0example0000000000000', status: 'delivered', timestamp: 1506607698000,
    }]);
  });

  it('takes GET callbacks (every value as text) and an apiKey field as the credential', async () => {
    const { f, message, url } = await setup();
    const res = await f.postStatusCallback(url, f.callbackFor(message, 7, { statusCode: '007', timestamp: '1506607698' }), { transport: 'get', credential: 'apiKey' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{
      providerMessageId: message.apiMessageId, messageId: 'msg_01j0example0000000000000', status: 'undelivered', errorCode: 'UNDELIVERABLE',
      providerErrorCode: '007', errorMessage: 'ERROR_DELIVERING_MESSAGE: Error delivering message', timestamp: 1506607698000,
    }]);
  });

  it('refuses callbacks without credentials or with a wrong one', async () => {
    const { f, message, url } = await setup();
    const callback = f.callbackFor(message, 4);
    expect((await f.postStatusCallback(url, callback, { credential: 'none' })).status).toBe(401);
    expect((await f.postStatusCallback(`${url}?token=guess`, callback, { credential: 'none' })).status).toBe(401);
    expect((await f.postStatusCallback(url, { ...callback, apiKey: 'guess' })).status).toBe(401);
    const forgedHeader = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'guess' }, body: JSON.stringify(callback) });
    expect(forgedHeader.status).toBe(401);
    const rightHeader = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: f.apiKey }, body: JSON.stringify(callback) });
    expect(rightHeader.status).toBe(200);
  });

  it.each([
    [2, { status: 'sent' }],
    [3, { status: 'sent' }],
    [5, { status: 'failed', errorCode: 'REJECTED', providerErrorCode: '005' }],
    [9, { status: 'failed', errorCode: 'UNDELIVERABLE', providerErrorCode: '009' }],
    [10, { status: 'undelivered', errorCode: 'EXPIRED', providerErrorCode: '010' }],
    [12, { status: 'failed', errorCode: 'INSUFFICIENT_CREDIT', providerErrorCode: '012' }],
  ])('maps status code %i to %j', async (statusCode, expected) => {
    const { f, message, url } = await setup();
    const [report] = await (await f.postStatusCallback(url, f.callbackFor(message, statusCode))).json();
    expect(report).toMatchObject({ providerMessageId: message.apiMessageId, ...expected });
  });

  it('says nothing for "message unknown" and names the field of a body that is not a callback', async () => {
    const { f, message, url } = await setup();
    expect(await (await f.postStatusCallback(url, f.callbackFor(message, 1))).json()).toEqual([]);
    const noCode = await f.postStatusCallback(url, f.callbackFor(message, 4, { statusCode: 'RECEIVED' }));
    expect(noCode.status).toBe(422);
    expect((await noCode.json()).errors[0].field).toBe('statusCode');
    const noId = await f.postStatusCallback(url, { statusCode: 4 });
    expect((await noId.json()).errors[0].field).toBe('messageId');
  });
});
