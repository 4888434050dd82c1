/**
 * A loopback stand-in for Twilio's Messages resource, strict about what Twilio documents:
 * - create: POST /2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic AccountSid:AuthToken,
 *   application/x-www-form-urlencoded To, From | MessagingServiceSid, Body, StatusCallback, ValidityPeriod;
 *   201 with the Message resource, errors as {code, message, more_info, status}
 *   https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
 * - the magic To numbers of Twilio's test credentials answer with their documented errors
 *   https://www.twilio.com/docs/iam/test-credentials (+15005550001 → 21211, …0002 → 21612, …0003 → 21408,
 *   …0004 → 21610, …0009 → 21614)
 * - list: GET the same path with To and PageSize, newest first, paged by next_page_uri
 *   https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
 * - status callbacks: form POST to the message's StatusCallback with MessageSid, MessageStatus, ErrorCode,
 *   To, From, AccountSid, ApiVersion (and the legacy SmsSid/SmsStatus), signed X-Twilio-Signature
 *   https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
 * Anything Twilio would not accept (unknown field, wrong encoding) is refused with a 400 whose message
 * starts "twilio-fake:", so a client bug shows up as a failed test rather than a lenient pass.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { twilioSignature } from '../../../src/providers/twilio/signature.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: string;
  /** The body as form fields (last value of a repeated name). */
  form: Record<string, string>;
}

export interface FakeAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeTwilioMessage {
  sid: string;
  to: string;
  from: string | null;
  body: string;
  direction: string;
  status: string;
  dateCreated: number;
  dateSent: number | null;
  messagingServiceSid: string | null;
  statusCallback: string | undefined;
  validityPeriod: string | undefined;
}

export interface TwilioFakeOptions {
  accountSid?: string;
  authToken?: string;
  /**
   * Overrides the answer to a create request: a status and body (e.g. a 429), or 'hang' to never
   * answer. Return undefined to let the fake answer as Twilio would.
   */
  answerCreate?: (request: RecordedRequest) => FakeAnswer | 'hang' | undefined;
}

export interface StatusCallbackOptions {
  errorCode?: string;
  price?: string;
  /** Sign with this token instead of the account's (a forgery). */
  signWith?: string;
  /** Post here instead of the message's StatusCallback. */
  url?: string;
}

export interface SignedCallback {
  url: string;
  headers: Record<string, string>;
  rawBody: string;
  fields: Record<string, string>;
}

export interface TwilioFake {
  url: string;
  accountSid: string;
  authToken: string;
  requests: RecordedRequest[];
  /** Every message the fake holds, newest last; tests may push their own for lookups. */
  messages: FakeTwilioMessage[];
  /** A message as created by another sender (for lookup tests). */
  addMessage(message: Partial<FakeTwilioMessage> & { to: string }): FakeTwilioMessage;
  /** The status callback Twilio would post for a message, signed. */
  statusCallback(sid: string, status: string, options?: StatusCallbackOptions): SignedCallback;
  /** Posts that callback to the message's StatusCallback URL (e.g. the gateway's /api/webhooks/twilio). */
  postStatusCallback(sid: string, status: string, options?: StatusCallbackOptions): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

const CREATE_FIELDS = new Set(['To', 'From', 'MessagingServiceSid', 'Body', 'StatusCallback', 'ValidityPeriod']);
const E164 = /^\+[1-9]\d{1,14}$/;
const MAGIC_TO: Record<string, [number, string]> = {
  '+15005550001': [21211, "The 'To' number +15005550001 is not a valid phone number."],
  '+15005550002': [21612, "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone number via SMS."],
  '+15005550003': [21408, 'Permission to send an SMS has not been enabled for the region indicated by the \'To\' number: +15005550003.'],
  '+15005550004': [21610, 'Attempt to send to unsubscribed recipient'],
  '+15005550009': [21614, "'To' number is not a valid mobile number"],
};

export async function startTwilioFake(options: TwilioFakeOptions = {}): Promise<TwilioFake> {
  const accountSid = options.accountSid ?? 'AC' + 'a'.repeat(32);
  const authToken = options.authToken ?? 'twilio-fake-auth-token';
  const messagesPath = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
  const requests: RecordedRequest[] = [];
  const messages: FakeTwilioMessage[] = [];

  const newMessage = (m: Partial<FakeTwilioMessage> & { to: string }): FakeTwilioMessage => ({
    sid: 'SM' + randomBytes(16).toString('hex'),
    from: null, body: '', direction: 'outbound-api', status: 'queued', dateCreated: Date.now(), dateSent: null,
    messagingServiceSid: null, statusCallback: undefined, validityPeriod: undefined, ...m,
  });

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const recorded: RecordedRequest = {
        method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, rawBody: raw,
        form: Object.fromEntries(new URLSearchParams(raw)),
      };
      requests.push(recorded);
      if (req.headers.authorization !== 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64')) {
        return reply(res, { status: 401, body: twilioError(20003, 'Authenticate', 401) });
      }
      if (url.pathname !== messagesPath) {
        return reply(res, { status: 404, body: twilioError(20404, `The requested resource ${url.pathname} was not found`, 404) });
      }
      if (req.method === 'GET') return reply(res, listPage(url));
      if (req.method !== 'POST') return reply(res, { status: 405, body: twilioError(20004, 'Method not allowed', 405) });
      const override = options.answerCreate?.(recorded);
      if (override === 'hang') return; // never answered; close() drops the connection
      if (override) return reply(res, override);
      reply(res, create(req, raw));
    });
  });

  function create(req: IncomingMessage, raw: string): FakeAnswer {
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return fakeComplaint(`expected application/x-www-form-urlencoded, got ${req.headers['content-type']}`);
    }
    const form = new URLSearchParams(raw);
    for (const name of form.keys()) if (!CREATE_FIELDS.has(name)) return fakeComplaint(`unknown parameter ${name}`);
    const to = form.get('To');
    const body = form.get('Body');
    if (!to) return { status: 400, body: twilioError(21604, "A 'To' phone number is required.", 400) };
    if (!body) return { status: 400, body: twilioError(21602, 'Message body is required.', 400) };
    if (!form.get('From') && !form.get('MessagingServiceSid')) {
      return { status: 400, body: twilioError(21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.", 400) };
    }
    const validity = form.get('ValidityPeriod');
    if (validity !== null && !(/^\d+$/.test(validity) && Number(validity) >= 1 && Number(validity) <= 36_000)) {
      return { status: 400, body: twilioError(21624, "Validity period can only be set to integers between 1 and 36,000 seconds (10 hours max).", 400) };
    }
    const magic = MAGIC_TO[to];
    if (magic) return { status: 400, body: twilioError(magic[0], magic[1], 400) };
    if (!E164.test(to)) return { status: 400, body: twilioError(21211, `The 'To' number ${to} is not a valid phone number.`, 400) };
    const message = newMessage({
      to, from: form.get('From'), body, messagingServiceSid: form.get('MessagingServiceSid'),
      statusCallback: form.get('StatusCallback') ?? undefined, validityPeriod: validity ?? undefined,
    });
    messages.push(message);
    return { status: 201, body: resource(message) };
  }

  function listPage(url: URL): FakeAnswer {
    const to = url.searchParams.get('To');
    const pageSize = Math.min(1000, Number(url.searchParams.get('PageSize') ?? 50));
    const page = Number(url.searchParams.get('Page') ?? 0);
    const matching = messages.filter((m) => to === null || m.to === to).sort((a, b) => b.dateCreated - a.dateCreated);
    const items = matching.slice(page * pageSize, (page + 1) * pageSize);
    const next = (page + 1) * pageSize < matching.length
      ? `${messagesPath}?${new URLSearchParams({ ...(to ? { To: to } : {}), PageSize: String(pageSize), Page: String(page + 1), PageToken: `PASM${page + 1}` })}`
      : null;
    return {
      status: 200,
      body: {
        messages: items.map(resource), page, page_size: pageSize, start: page * pageSize, end: page * pageSize + items.length - 1,
        uri: `${url.pathname}${url.search}`, first_page_uri: `${messagesPath}?PageSize=${pageSize}&Page=0`, next_page_uri: next, previous_page_uri: null,
      },
    };
  }

  function resource(m: FakeTwilioMessage) {
    return {
      account_sid: accountSid, api_version: '2010-04-01', body: m.body,
      date_created: rfc2822(m.dateCreated), date_sent: m.dateSent === null ? null : rfc2822(m.dateSent), date_updated: rfc2822(m.dateCreated),
      direction: m.direction, error_code: null, error_message: null, from: m.from, messaging_service_sid: m.messagingServiceSid,
      num_media: '0', num_segments: '1', price: null, price_unit: 'USD', sid: m.sid, status: m.status,
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${m.sid}/Media.json` },
      to: m.to, uri: `/2010-04-01/Accounts/${accountSid}/Messages/${m.sid}.json`,
    };
  }

  function statusCallback(sid: string, status: string, callbackOptions: StatusCallbackOptions = {}): SignedCallback {
    const message = messages.find((m) => m.sid === sid);
    if (!message) throw new Error(`twilio-fake: no message ${sid}`);
    const url = callbackOptions.url ?? message.statusCallback;
    if (!url) throw new Error(`twilio-fake: message ${sid} has no StatusCallback`);
    const fields: Record<string, string> = {
      AccountSid: accountSid, ApiVersion: '2010-04-01', From: message.from ?? '+15005550006',
      MessageSid: sid, MessageStatus: status, SmsSid: sid, SmsStatus: status, To: message.to,
    };
    if (callbackOptions.errorCode) fields.ErrorCode = callbackOptions.errorCode;
    if (callbackOptions.price) Object.assign(fields, { Price: callbackOptions.price, PriceUnit: 'USD' });
    const signature = twilioSignature(callbackOptions.signWith ?? authToken, url, fields);
    return {
      url, fields, rawBody: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'user-agent': 'TwilioProxy/1.1' },
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`, accountSid, authToken, requests, messages,
    addMessage: (m) => {
      const message = newMessage(m);
      messages.push(message);
      return message;
    },
    statusCallback,
    postStatusCallback: async (sid, status, callbackOptions) => {
      const callback = statusCallback(sid, status, callbackOptions);
      const res = await fetch(callback.url, { method: 'POST', headers: callback.headers, body: callback.rawBody });
      return { status: res.status, body: await res.text() };
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function twilioError(code: number, message: string, status: number) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

function fakeComplaint(problem: string): FakeAnswer {
  return { status: 400, body: twilioError(0, `twilio-fake: ${problem}`, 400) };
}

function reply(res: ServerResponse, answer: FakeAnswer): void {
  const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', ...answer.headers }).end(text);
}

/** Twilio's date format: "Thu, 24 Aug 2023 05:01:45 +0000". */
function rfc2822(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}
