/**
 * A loopback stand-in for Vonage's legacy SMS API, strict about what the API reference
 * documents, so the real client is tested against the wire format rather than against itself:
 * - request: https://developer.vonage.com/en/api/sms (vonage-sms-openapi.yml, `NewMessage`):
 *   POST /sms/json, HTTP Basic key:secret, form body, `to` 7–15 digits without `+`,
 *   `type` text|unicode|binary, `body` hex for binary, `client-ref` ≤ 100 chars, `callback` ≤ 100
 *   chars, `ttl` 20000–604800000 ms, `message-class` 0–3.
 * - answers: HTTP 200 with `message-count` and one `messages[]` entry per part, `status` "0" or
 *   an error status with `error-text` (also Vonage/vonage-node-sdk packages/sms/__tests__/__dataSets__/sms.ts);
 *   401 as an RFC 7807 document when the credentials are wrong.
 * - delivery receipts: https://developer.vonage.com/messaging/sms/guides/delivery-receipts, signed
 *   as "Signing requests" describes (https://developer.vonage.com/getting-started/concepts/signing-messages).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { segmentMessage } from '../../../src/domain/encoding.js';
import { vonageSignature, type SignatureMethod } from '../../../src/providers/nexmo/signature.js';

export interface NexmoFakeRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  form: Record<string, string>;
}

/** An answer to send, or `hang` to hold the request open (for timeouts). */
export type NexmoFakeAnswer = { status: number; body: unknown; headers?: Record<string, string> } | 'hang';

export interface NexmoFakeOptions {
  apiKey?: string;
  apiSecret?: string;
  /** When set, delivery receipts posted by the fake are signed with it. */
  signatureSecret?: string;
  signatureMethod?: SignatureMethod;
  /** Answer to a well-formed, authenticated request; undefined gives the documented success. */
  respond?: (request: NexmoFakeRequest) => NexmoFakeAnswer | undefined;
}

/** A part the fake accepted: what it needs to write that part's receipt. */
export interface NexmoAcceptedPart {
  messageId: string;
  to: string;
  from: string;
  clientRef: string | undefined;
  price: string;
}

export interface NexmoReceiptDelivery {
  /** GET with a query string, or POST as JSON or as form fields; the account setting picks one. */
  transport?: 'get' | 'json' | 'form';
  /** Defaults to signing when the fake has a signature secret. */
  signed?: boolean;
}

export interface NexmoFake {
  url: string;
  apiKey: string;
  apiSecret: string;
  requests: NexmoFakeRequest[];
  accepted: NexmoAcceptedPart[];
  close(): Promise<void>;
  /** The receipt Vonage sends for an accepted part; `overrides` change or add fields. */
  receiptFor(part: NexmoAcceptedPart, overrides?: Record<string, string>): Record<string, string>;
  /** Sends a receipt to `targetUrl` the way Vonage does (signing it unless `signed: false`). */
  postDeliveryReport(targetUrl: string, receipt: Record<string, string>, delivery?: NexmoReceiptDelivery): Promise<Response>;
}

const PRICE_PER_PART = '0.03330000';

export async function startNexmoFake(options: NexmoFakeOptions = {}): Promise<NexmoFake> {
  const apiKey = options.apiKey ?? 'abcd1234';
  const apiSecret = options.apiSecret ?? 'abcdef0123456789';
  const requests: NexmoFakeRequest[] = [];
  const accepted: NexmoAcceptedPart[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '').split('?')[0];
      const isForm = String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      const request: NexmoFakeRequest = {
        method: req.method ?? '', path, headers: req.headers, rawBody, form: isForm ? Object.fromEntries(new URLSearchParams(rawBody)) : {},
      };
      requests.push(request);
      const answer = answerFor(request);
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });

  function answerFor(request: NexmoFakeRequest): NexmoFakeAnswer {
    if (request.method !== 'POST' || request.path !== '/sms/json') return { status: 404, body: { title: 'Not found', detail: `${request.method} ${request.path}` } };
    if (request.headers.authorization !== 'Basic ' + Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')) {
      return {
        status: 401,
        body: { type: 'https://developer.nexmo.com/api-errors#unauthorized', title: 'Unauthorized', detail: 'You did not provide correct credentials.', instance: randomUUID() },
      };
    }
    if (!String(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return { status: 400, body: 'fake: the client must send a form body' };
    }
    const problem = formProblem(request.form);
    if (problem) return { status: 200, body: { 'message-count': '1', messages: [{ status: problem.status, 'error-text': problem.text }] } };
    return options.respond?.(request) ?? success(request.form);
  }

  function success(form: Record<string, string>): NexmoFakeAnswer {
    const parts = form.type === 'binary' ? 1 : segmentMessage(form.text, form.type === 'unicode' ? 'unicode' : 'text').segments;
    const messages = Array.from({ length: parts }, () => {
      const part: NexmoAcceptedPart = {
        messageId: randomBytes(8).toString('hex').toUpperCase(), to: form.to, from: form.from, clientRef: form['client-ref'], price: PRICE_PER_PART,
      };
      accepted.push(part);
      return {
        to: form.to, 'message-id': part.messageId, status: '0', 'remaining-balance': '3.14159265', 'message-price': PRICE_PER_PART, network: '23410',
        ...(part.clientRef !== undefined ? { 'client-ref': part.clientRef } : {}),
      };
    });
    return { status: 200, body: { 'message-count': String(parts), messages } };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    apiSecret,
    requests,
    accepted,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
    receiptFor(part, overrides = {}) {
      return {
        msisdn: part.to,
        to: part.from,
        'network-code': '23410',
        messageId: part.messageId,
        price: part.price,
        status: 'delivered',
        scts: '2001011400',
        'err-code': '0',
        'api-key': apiKey,
        'message-timestamp': '2020-01-01 14:00:05',
        ...(part.clientRef !== undefined ? { 'client-ref': part.clientRef } : {}),
        ...overrides,
      };
    },
    async postDeliveryReport(targetUrl, receipt, delivery = {}) {
      const signed = delivery.signed ?? options.signatureSecret !== undefined;
      const fields = signed ? signReceipt(receipt, options.signatureSecret ?? '', options.signatureMethod ?? 'md5hash') : receipt;
      const transport = delivery.transport ?? 'json';
      if (transport === 'get') return fetch(`${targetUrl}?${new URLSearchParams(fields)}`);
      return fetch(targetUrl, {
        method: 'POST',
        headers: { 'content-type': transport === 'json' ? 'application/json' : 'application/x-www-form-urlencoded' },
        body: transport === 'json' ? JSON.stringify(fields) : new URLSearchParams(fields).toString(),
      });
    },
  };
}

/** Adds `timestamp`, `nonce` and `sig` as a signed Vonage webhook carries them (HMAC digests in upper case). */
export function signReceipt(receipt: Record<string, string>, secret: string, method: SignatureMethod, now = Date.now()): Record<string, string> {
  const fields = { ...receipt, timestamp: String(Math.floor(now / 1000)), nonce: randomUUID() };
  const sig = vonageSignature(fields, secret, method);
  return { ...fields, sig: method === 'md5hash' ? sig : sig.toUpperCase() };
}

/** The checks Vonage makes on a request's fields, answered with its documented status codes. */
function formProblem(form: Record<string, string>): { status: string; text: string } | undefined {
  for (const name of ['from', 'to']) if (!form[name]) return { status: '2', text: `Missing ${name} param` };
  if (!/^\d{7,15}$/.test(form.to)) return { status: '3', text: 'Invalid to address' };
  const type = form.type ?? 'text';
  if (!['text', 'unicode', 'binary'].includes(type)) return { status: '3', text: 'Invalid type param' };
  if (type === 'binary') {
    if (!form.body || !/^([0-9a-fA-F]{2})+$/.test(form.body)) return { status: '2', text: 'Missing body param' };
    if (form.text !== undefined) return { status: '3', text: 'fake: text with type=binary' };
  } else if (!form.text) {
    return { status: '2', text: 'Missing text param' };
  }
  if (form['client-ref'] !== undefined && form['client-ref'].length > 100) return { status: '3', text: 'Invalid client-ref param' };
  if (form.callback !== undefined && form.callback.length > 100) return { status: '23', text: 'Invalid callback url' };
  if (form.ttl !== undefined && !(/^\d+$/.test(form.ttl) && Number(form.ttl) >= 20_000 && Number(form.ttl) <= 604_800_000)) {
    return { status: '3', text: 'Invalid ttl param' };
  }
  if (form['message-class'] !== undefined && !/^[0-3]$/.test(form['message-class'])) return { status: '3', text: 'Invalid message-class param' };
  const known = new Set(['from', 'to', 'text', 'type', 'body', 'udh', 'protocol-id', 'ttl', 'status-report-req', 'callback', 'message-class', 'client-ref', 'account-ref', 'entity-id', 'content-id', 'trusted-number', 'pool-id']);
  const unknown = Object.keys(form).find((name) => !known.has(name));
  if (unknown) return { status: '3', text: `fake: undocumented parameter ${unknown}` };
  return undefined;
}
