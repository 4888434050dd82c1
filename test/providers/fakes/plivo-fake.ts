/**
 * A loopback stand-in for Plivo's Message API, strict about what Plivo documents:
 * - send: POST /v1/Account/{auth_id}/Message/, HTTP Basic auth_id:auth_token, JSON {src, dst, text, type,
 *   url, method, message_expiry, …}; dst is sanitised (/ - . + ( ) and spaces stripped) and must then start
 *   with the country code, ≤ 14 characters; several destinations are joined with "<".
 *   202 {api_id, message: "message(s) queued", message_uuid: [...]} (plus invalid_number when some were not valid)
 *   https://www.plivo.com/docs/messaging/api/message/send-a-message, https://www.plivo.com/docs/messaging/api/response
 *   Errors are {api_id, error}. Plivo does not document the wording of an invalid-dst error; the fake's is its own.
 * - list: GET the same path with message_direction, to_number, message_time__gte/__lte (UTC "YYYY-MM-DD HH:MM[:SS]"),
 *   limit ≤ 20, offset; newest first; {api_id, meta: {limit, next, offset, previous, total_count}, objects}
 *   https://www.plivo.com/docs/messaging/api/message/list-all-messages
 * - status callbacks: form POST to the message's url with MessageUUID, To, From, Type, Status, Units, TotalRate,
 *   TotalAmount, MCC, MNC, ErrorCode (failed/undelivered only), ParentMessageUUID (= MessageUUID), Sequence, MessageTime
 *   https://www.plivo.com/docs/messaging/api/message/message-status-callbacks
 *   signed X-Plivo-Signature-V3 (+ -V3-Nonce) and X-Plivo-Signature-V2 (+ -V2-Nonce)
 *   https://www.plivo.com/docs/messaging/concepts/signature-validation
 * Anything Plivo would not accept is refused with a 400 whose error starts "plivo-fake:".
 */
import { randomInt, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { plivoSignatureV2, plivoSignatureV3 } from '../../../src/providers/plivo/signature.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: string;
  /** The body parsed as JSON, when it is JSON. */
  json: any;
}

export interface FakeAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakePlivoMessage {
  uuid: string;
  src: string;
  /** Sanitised: digits only, as Plivo stores it. */
  dst: string;
  text: string;
  direction: 'outbound' | 'inbound';
  state: string;
  messageTime: number;
  url: string | undefined;
  method: string;
  messageExpiry: number | undefined;
}

export interface PlivoFakeOptions {
  authId?: string;
  authToken?: string;
  /** Overrides the answer to a send request; 'hang' never answers; undefined lets the fake answer as Plivo would. */
  answerSend?: (request: RecordedRequest) => FakeAnswer | 'hang' | undefined;
}

export interface StatusCallbackOptions {
  errorCode?: string;
  totalAmount?: string;
  /** Which signature headers to send (Plivo's messaging docs show V2, its newer pages V3). Default both. */
  scheme?: 'v3' | 'v2' | 'both';
  /** Sign with this token instead of the account's (a forgery). */
  signWith?: string;
  /** Signatures put before the real one in the header, as Plivo does when several auth tokens are active. */
  otherSignatures?: string[];
  /** A report about one part: its own uuid, with ParentMessageUUID the message's. */
  part?: { uuid: string; info?: string };
  url?: string;
}

export interface SignedCallback {
  url: string;
  headers: Record<string, string>;
  rawBody: string;
  fields: Record<string, string>;
}

export interface PlivoFake {
  url: string;
  authId: string;
  authToken: string;
  requests: RecordedRequest[];
  messages: FakePlivoMessage[];
  /** A message sent some other way (for lookup tests). */
  addMessage(message: Partial<FakePlivoMessage> & { dst: string }): FakePlivoMessage;
  statusCallback(uuid: string, status: string, options?: StatusCallbackOptions): SignedCallback;
  /** Posts that callback to the message's url (e.g. the gateway's /api/webhooks/plivo). */
  postStatusCallback(uuid: string, status: string, options?: StatusCallbackOptions): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

const SEND_FIELDS = new Set(['src', 'dst', 'text', 'type', 'url', 'method', 'log', 'trackable', 'message_expiry', 'powerpack_uuid', 'media_urls', 'media_ids', 'dlt_entity_id', 'dlt_template_id', 'dlt_template_category']);
const LIST_FILTERS = new Set(['message_direction', 'to_number', 'from_number', 'message_state', 'message_type', 'message_time', 'message_time__gt', 'message_time__gte', 'message_time__lt', 'message_time__lte', 'limit', 'offset', 'subaccount', 'error_code']);

export async function startPlivoFake(options: PlivoFakeOptions = {}): Promise<PlivoFake> {
  const authId = options.authId ?? 'MAFAKEPLIVOAUTHID000';
  const authToken = options.authToken ?? 'plivo-fake-auth-token';
  const messagePath = `/v1/Account/${authId}/Message/`;
  const requests: RecordedRequest[] = [];
  const messages: FakePlivoMessage[] = [];

  const newMessage = (m: Partial<FakePlivoMessage> & { dst: string }): FakePlivoMessage => ({
    uuid: randomUUID(), src: '14155550100', text: '', direction: 'outbound', state: 'queued', messageTime: Date.now(),
    url: undefined, method: 'POST', messageExpiry: undefined, ...m,
  });

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      let json: unknown;
      try {
        json = raw ? JSON.parse(raw) : undefined;
      } catch {
        json = undefined;
      }
      const recorded: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, rawBody: raw, json };
      requests.push(recorded);
      if (req.headers.authorization !== 'Basic ' + Buffer.from(`${authId}:${authToken}`).toString('base64')) {
        return reply(res, { status: 401, body: plivoError('authentication failed') });
      }
      if (url.pathname !== messagePath) return reply(res, { status: 404, body: plivoError('not found') });
      if (req.method === 'GET') return reply(res, list(url));
      if (req.method !== 'POST') return reply(res, { status: 405, body: plivoError('method not allowed') });
      const override = options.answerSend?.(recorded);
      if (override === 'hang') return;
      if (override) return reply(res, override);
      reply(res, send(req, json));
    });
  });

  function send(req: IncomingMessage, body: any): FakeAnswer {
    if (!String(req.headers['content-type']).startsWith('application/json')) return fakeComplaint(`expected application/json, got ${req.headers['content-type']}`);
    if (typeof body !== 'object' || body === null) return fakeComplaint('body is not a JSON object');
    for (const name of Object.keys(body)) if (!SEND_FIELDS.has(name)) return fakeComplaint(`unknown parameter ${name}`);
    if (!body.src && !body.powerpack_uuid) return { status: 400, body: plivoError('src or powerpack_uuid is required') };
    if (typeof body.dst !== 'string' || body.dst === '') return { status: 400, body: plivoError('dst is required') };
    if ((body.type ?? 'sms') !== 'sms') return fakeComplaint(`type ${body.type}: the fake only sends sms`);
    if (typeof body.text !== 'string' || body.text === '') return { status: 400, body: plivoError('text is required') };
    if (body.method !== undefined && !['GET', 'POST'].includes(body.method)) return { status: 400, body: plivoError('method must be GET or POST') };
    if (body.message_expiry !== undefined && !(Number.isInteger(body.message_expiry) && body.message_expiry >= 5 && body.message_expiry <= 10_799)) {
      return { status: 400, body: plivoError('message_expiry must be an integer from 5 to 10799') };
    }
    const valid: string[] = [];
    const invalid: string[] = [];
    for (const dst of String(body.dst).split('<')) {
      const sanitised = dst.replace(/[/\-.+()\s]/g, '');
      (/^[1-9]\d{7,13}$/.test(sanitised) ? valid : invalid).push(sanitised);
    }
    if (valid.length === 0) return { status: 400, body: plivoError(`invalid dst: ${invalid.join(', ')}`) };
    const uuids = valid.map((dst) => {
      const message = newMessage({ src: String(body.src), dst, text: body.text, url: body.url, method: body.method ?? 'POST', messageExpiry: body.message_expiry });
      messages.push(message);
      return message.uuid;
    });
    return { status: 202, body: { api_id: randomUUID(), message: 'message(s) queued', message_uuid: uuids, ...(invalid.length ? { invalid_number: invalid } : {}) } };
  }

  function list(url: URL): FakeAnswer {
    const q = url.searchParams;
    for (const name of q.keys()) if (!LIST_FILTERS.has(name)) return fakeComplaint(`unknown filter ${name}`);
    const limit = Number(q.get('limit') ?? 20);
    const offset = Number(q.get('offset') ?? 0);
    if (!(limit >= 1 && limit <= 20)) return { status: 400, body: plivoError('limit must be between 1 and 20') };
    const gte = q.get('message_time__gte');
    const lte = q.get('message_time__lte');
    const to = q.get('to_number');
    const matching = messages
      .filter((m) => !q.get('message_direction') || m.direction === q.get('message_direction'))
      .filter((m) => to === null || m.dst === to.replace(/^\+/, ''))
      .filter((m) => gte === null || m.messageTime >= utc(gte))
      .filter((m) => lte === null || m.messageTime <= utc(lte))
      .sort((a, b) => b.messageTime - a.messageTime);
    const page = matching.slice(offset, offset + limit);
    const link = (at: number) => {
      const params = new URLSearchParams(q);
      params.set('limit', String(limit));
      params.set('offset', String(at));
      return `${messagePath}?${params}`;
    };
    return {
      status: 200,
      body: {
        api_id: randomUUID(),
        meta: { limit, offset, total_count: matching.length, next: offset + limit < matching.length ? link(offset + limit) : null, previous: offset > 0 ? link(Math.max(0, offset - limit)) : null },
        objects: page.map((m) => ({
          error_code: null, from_number: m.src, message_direction: m.direction, message_state: m.state, message_time: plivoTime(m.messageTime),
          message_type: 'sms', message_uuid: m.uuid, resource_uri: `${messagePath}${m.uuid}/`, to_number: m.dst,
          total_amount: '0.00000', total_rate: '0.00000', units: 1,
        })),
      },
    };
  }

  function statusCallback(uuid: string, status: string, callbackOptions: StatusCallbackOptions = {}): SignedCallback {
    const message = messages.find((m) => m.uuid === uuid);
    if (!message) throw new Error(`plivo-fake: no message ${uuid}`);
    const url = callbackOptions.url ?? message.url;
    if (!url) throw new Error(`plivo-fake: message ${uuid} has no url`);
    const fields: Record<string, string> = {
      From: message.src, MCC: '310', MNC: '260', MessageTime: plivoTime(message.messageTime).slice(0, 19),
      MessageUUID: callbackOptions.part?.uuid ?? uuid, ParentMessageUUID: uuid, Sequence: String(randomInt(1, 10)),
      Status: status, To: message.dst, TotalAmount: callbackOptions.totalAmount ?? '0.00000', TotalRate: '0.00500', Type: 'sms', Units: '1',
    };
    if (callbackOptions.part?.info) fields.PartInfo = callbackOptions.part.info;
    if (callbackOptions.errorCode) fields.ErrorCode = callbackOptions.errorCode;
    const token = callbackOptions.signWith ?? authToken;
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'PlivoHTTP' };
    const scheme = callbackOptions.scheme ?? 'both';
    const nonce = String(randomInt(1e9, 1e10)) + String(randomInt(1e9, 1e10));
    if (scheme !== 'v2') {
      headers['x-plivo-signature-v3'] = [...(callbackOptions.otherSignatures ?? []), plivoSignatureV3(token, 'POST', url, nonce, fields)].join(',');
      headers['x-plivo-signature-v3-nonce'] = nonce;
    }
    if (scheme !== 'v3') {
      headers['x-plivo-signature-v2'] = plivoSignatureV2(token, url, nonce);
      headers['x-plivo-signature-v2-nonce'] = nonce;
    }
    return { url, fields, headers, rawBody: new URLSearchParams(fields).toString() };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`, authId, authToken, requests, messages,
    addMessage: (m) => {
      const message = newMessage(m);
      messages.push(message);
      return message;
    },
    statusCallback,
    postStatusCallback: async (uuid, status, callbackOptions) => {
      const callback = statusCallback(uuid, status, callbackOptions);
      const res = await fetch(callback.url, { method: 'POST', headers: callback.headers, body: callback.rawBody });
      return { status: res.status, body: await res.text() };
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function plivoError(error: string) {
  return { api_id: randomUUID(), error };
}

function fakeComplaint(problem: string): FakeAnswer {
  return { status: 400, body: plivoError(`plivo-fake: ${problem}`) };
}

function reply(res: ServerResponse, answer: FakeAnswer): void {
  const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(text);
}

/** A list filter's "YYYY-MM-DD HH:MM[:SS[.ffffff]]", which Plivo takes as UTC. */
function utc(text: string): number {
  return Date.parse(`${text.trim().replace(' ', 'T')}Z`);
}

/** How records show times: "2017-05-22 21:36:14+00:00". */
function plivoTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + '+00:00';
}
