/**
 * Gateways wired to the loopback provider fakes, for end-to-end tests through the public API.
 *
 * Signed delivery reports are verified against PUBLIC_URL, so the gateway really listens on the
 * port PUBLIC_URL names: a free port is picked first and passed as PORT and PUBLIC_URL.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProviderName } from '../../src/config.js';
import { startClickatellFake, type ClickatellFake, type ClickatellFakeOptions } from '../providers/fakes/clickatell-fake.js';
import { FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, startSnsFake, type SnsFake, type SnsFakeOptions } from '../providers/fakes/aws-sns-fake.js';
import { signReceipt, startNexmoFake, type NexmoFake, type NexmoFakeOptions } from '../providers/fakes/nexmo-fake.js';
import { startPlivoFake, type PlivoFake, type PlivoFakeOptions } from '../providers/fakes/plivo-fake.js';
import { startTwilioFake, type TwilioFake, type TwilioFakeOptions } from '../providers/fakes/twilio-fake.js';
import { startGateway, type TestGateway, US } from './gateway.js';
import { get, post } from './http.js';
import { freePort } from './process.js';

/** The HTTP providers with a fake here; `smpp` is tested against an SMSC of its own (test/providers/smpp). */
export type RealProvider = Exclude<ProviderName, 'simulator' | 'smpp'>;
export const REAL_PROVIDERS: readonly RealProvider[] = ['twilio', 'aws_sns', 'plivo', 'nexmo', 'clickatell'];

export const TWILIO_FROM = '+15005550006';
export const PLIVO_FROM = '14155550100';
export const NEXMO_FROM = '447700900000';
export const NEXMO_SIGNATURE_SECRET = 'nexmo-fake-signature-secret';

// --- environment for each fake -------------------------------------------------------------

export function twilioEnv(fake: TwilioFake, baseUrl = fake.url): Record<string, string> {
  return { TWILIO_ACCOUNT_SID: fake.accountSid, TWILIO_AUTH_TOKEN: fake.authToken, TWILIO_PHONE_NUMBER: TWILIO_FROM, TWILIO_BASE_URL: baseUrl };
}

export function plivoEnv(fake: PlivoFake): Record<string, string> {
  return { PLIVO_AUTH_ID: fake.authId, PLIVO_AUTH_TOKEN: fake.authToken, PLIVO_PHONE_NUMBER: PLIVO_FROM, PLIVO_BASE_URL: fake.url };
}

export function nexmoEnv(fake: NexmoFake): Record<string, string> {
  return {
    NEXMO_API_KEY: fake.apiKey, NEXMO_API_SECRET: fake.apiSecret, NEXMO_PHONE_NUMBER: NEXMO_FROM, NEXMO_BASE_URL: fake.url,
    NEXMO_SIGNATURE_SECRET, NEXMO_SIGNATURE_METHOD: 'md5hash',
  };
}

export function clickatellEnv(fake: ClickatellFake): Record<string, string> {
  return { CLICKATELL_API_KEY: fake.apiKey, CLICKATELL_BASE_URL: fake.url };
}

export function snsEnv(fake: SnsFake): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY, AWS_REGION: 'us-east-1', AWS_SNS_BASE_URL: fake.url };
}

// --- a uniform view of each fake ---------------------------------------------------------

export type ReportKind = 'valid' | 'forged' | 'unsigned';

/** One provider's fake seen the same way for every provider: what it took, what it got, how it reports. */
export interface ProviderDriver {
  name: RealProvider;
  env: Record<string, string>;
  /** Send requests that reached the fake (lookups not counted). */
  sendRequests(): number;
  /** The provider ids the fake handed out, oldest first. */
  acceptedIds(): string[];
  /** The text of every send request, as the fake decoded it. */
  receivedTexts(): string[];
  /**
   * Posts a `delivered` report for the provider's id `id` to the gateway the way the provider
   * would (`valid`), with a wrong key or secret (`forged`), or without any credential (`unsigned`).
   */
  postDelivered(publicUrl: string, id: string, kind?: ReportKind): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

async function answer(res: Response): Promise<{ status: number; body: string }> {
  return { status: res.status, body: await res.text() };
}

export async function twilioDriver(options: TwilioFakeOptions = {}): Promise<ProviderDriver & { fake: TwilioFake }> {
  const fake = await startTwilioFake(options);
  return {
    name: 'twilio', fake, env: twilioEnv(fake),
    sendRequests: () => fake.requests.filter((r) => r.method === 'POST').length,
    acceptedIds: () => fake.messages.map((m) => m.sid),
    receivedTexts: () => fake.requests.filter((r) => r.method === 'POST').map((r) => r.form.Body),
    async postDelivered(_publicUrl, sid, kind = 'valid') {
      if (kind === 'forged') return fake.postStatusCallback(sid, 'delivered', { signWith: 'not-the-auth-token' });
      if (kind === 'valid') return fake.postStatusCallback(sid, 'delivered');
      const callback = fake.statusCallback(sid, 'delivered');
      const { 'x-twilio-signature': _signature, ...headers } = callback.headers;
      return answer(await fetch(callback.url, { method: 'POST', headers, body: callback.rawBody }));
    },
    close: () => fake.close(),
  };
}

export async function plivoDriver(options: PlivoFakeOptions = {}): Promise<ProviderDriver & { fake: PlivoFake }> {
  const fake = await startPlivoFake(options);
  return {
    name: 'plivo', fake, env: plivoEnv(fake),
    sendRequests: () => fake.requests.filter((r) => r.method === 'POST').length,
    acceptedIds: () => fake.messages.map((m) => m.uuid),
    receivedTexts: () => fake.requests.filter((r) => r.method === 'POST').map((r) => r.json?.text),
    async postDelivered(_publicUrl, uuid, kind = 'valid') {
      if (kind === 'forged') return fake.postStatusCallback(uuid, 'delivered', { signWith: 'not-the-auth-token' });
      if (kind === 'valid') return fake.postStatusCallback(uuid, 'delivered');
      const callback = fake.statusCallback(uuid, 'delivered');
      const headers = Object.fromEntries(Object.entries(callback.headers).filter(([name]) => !name.startsWith('x-plivo-signature')));
      return answer(await fetch(callback.url, { method: 'POST', headers, body: callback.rawBody }));
    },
    close: () => fake.close(),
  };
}

export async function nexmoDriver(options: NexmoFakeOptions = {}): Promise<ProviderDriver & { fake: NexmoFake }> {
  const fake = await startNexmoFake({ signatureSecret: NEXMO_SIGNATURE_SECRET, signatureMethod: 'md5hash', ...options });
  return {
    name: 'nexmo', fake, env: nexmoEnv(fake),
    sendRequests: () => fake.requests.length,
    acceptedIds: () => fake.accepted.map((p) => p.messageId),
    receivedTexts: () => fake.requests.map((r) => r.form.text),
    async postDelivered(publicUrl, messageId, kind = 'valid') {
      const part = fake.accepted.find((p) => p.messageId === messageId);
      if (!part) throw new Error(`nexmo fake accepted no part ${messageId}`);
      const url = `${publicUrl}/api/webhooks/nexmo`;
      const receipt = fake.receiptFor(part);
      if (kind === 'valid') return answer(await fake.postDeliveryReport(url, receipt));
      if (kind === 'unsigned') return answer(await fake.postDeliveryReport(url, receipt, { signed: false }));
      const forged = signReceipt(receipt, 'not-the-signature-secret', 'md5hash');
      return answer(await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(forged) }));
    },
    close: () => fake.close(),
  };
}

export async function clickatellDriver(options: ClickatellFakeOptions = {}): Promise<ProviderDriver & { fake: ClickatellFake }> {
  const fake = await startClickatellFake(options);
  return {
    name: 'clickatell', fake, env: clickatellEnv(fake),
    sendRequests: () => fake.requests.length,
    acceptedIds: () => fake.accepted.map((m) => m.apiMessageId),
    receivedTexts: () => fake.requests.map((r) => r.json?.content as string),
    async postDelivered(publicUrl, apiMessageId, kind = 'valid') {
      const message = fake.accepted.find((m) => m.apiMessageId === apiMessageId);
      if (!message) throw new Error(`clickatell fake accepted no message ${apiMessageId}`);
      const url = `${publicUrl}/api/webhooks/clickatell`;
      const callback = fake.callbackFor(message, 4);
      if (kind === 'valid') return answer(await fake.postStatusCallback(url, callback));
      if (kind === 'unsigned') return answer(await fake.postStatusCallback(url, callback, { credential: 'none' }));
      return answer(await fake.postStatusCallback(`${url}?token=${encodeURIComponent('not-the-api-key')}`, callback, { credential: 'none' }));
    },
    close: () => fake.close(),
  };
}

export async function snsDriver(options: SnsFakeOptions = {}): Promise<ProviderDriver & { fake: SnsFake }> {
  const ids: string[] = [];
  const fake = await startSnsFake({
    reply: () => {
      const messageId = randomUUID();
      ids.push(messageId);
      return { kind: 'published', messageId };
    },
    ...options,
  });
  return {
    name: 'aws_sns', fake, env: snsEnv(fake),
    sendRequests: () => fake.requests.length,
    acceptedIds: () => ids,
    receivedTexts: () => fake.requests.map((r) => r.publish?.message as string),
    // SNS posts no per-message report; this is what an SNS-looking notification to the endpoint gets.
    async postDelivered(publicUrl, messageId) {
      return answer(await fetch(`${publicUrl}/api/webhooks/aws_sns`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ notification: { messageId }, status: 'SUCCESS', delivery: { destination: US } }),
      }));
    },
    close: () => fake.close(),
  };
}

export const DRIVERS: Record<RealProvider, () => Promise<ProviderDriver>> = {
  twilio: () => twilioDriver(),
  aws_sns: () => snsDriver(),
  plivo: () => plivoDriver(),
  nexmo: () => nexmoDriver(),
  clickatell: () => clickatellDriver(),
};

// --- the gateway ---------------------------------------------------------------------------

export interface ListeningGateway {
  gw: TestGateway;
  /** Equal to PUBLIC_URL: where the gateway listens. */
  publicUrl: string;
}

/** A test gateway (no background loops, simulator off unless `env` says otherwise) listening on PUBLIC_URL. */
export async function startListeningGateway(env: Record<string, string>): Promise<ListeningGateway> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const gw = await startGateway({ SIMULATOR_ENABLED: 'false', ...env, PORT: String(port), PUBLIC_URL: publicUrl });
  try {
    await gw.app.listen({ port, host: '127.0.0.1' });
  } catch (err) {
    await gw.stop();
    throw err;
  }
  return { gw, publicUrl };
}

/** Writes `data` as JSON to a new temporary file (ROUTING_FILE, PRICE_TABLE_PATH). */
export function jsonFile(name: string, data: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'smsgw-providers-')), name);
  writeFileSync(path, JSON.stringify(data));
  return path;
}

/** Sends one message through POST /api/sms/send and returns its id (throws on anything but 200). */
export async function sendOne(gw: TestGateway, body: Record<string, unknown> = {}): Promise<string> {
  const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'Hello from the gateway', ...body });
  if (res.status !== 200) throw new Error(`POST /api/sms/send answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.messages[0].id;
}

/** GET /api/sms/{id}. */
export async function message(gw: TestGateway, id: string): Promise<any> {
  const res = await get(gw.app, `/api/sms/${id}`);
  if (res.status !== 200) throw new Error(`GET /api/sms/${id} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** GET /api/providers, by name. */
export async function providers(gw: TestGateway): Promise<Record<string, any>> {
  const res = await get(gw.app, '/api/providers');
  return Object.fromEntries((res.body.items as any[]).map((p) => [p.name, p]));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A stand-in for Twilio's Messages resource that, on each create, lets the real Twilio fake take
 * the message and then, BEFORE answering the gateway, posts that message's signed `delivered`
 * status callback to the gateway (to `reportUrl(sid)`, default the message's own StatusCallback)
 * and waits for the gateway's reply. The send's answer thus arrives after its report.
 */
export async function startReportFirstTwilio(fake: TwilioFake, reportUrl?: () => string): Promise<{ url: string; reports: Array<{ status: number; body: string }>; close(): Promise<void> }> {
  const reports: Array<{ status: number; body: string }> = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type', 'accept']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name] as string;
    const upstream = await fetch(`${fake.url}${req.url}`, { method: req.method, headers, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined });
    const text = await upstream.text();
    if (req.method === 'POST' && upstream.status === 201) {
      const { sid } = JSON.parse(text) as { sid: string };
      reports.push(await fake.postStatusCallback(sid, 'delivered', reportUrl ? { url: reportUrl() } : {}));
    }
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    reports,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
