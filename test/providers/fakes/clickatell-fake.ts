/**
 * A loopback stand-in for the Clickatell Platform "SMS API" of a REST integration, strict about
 * what its reference documents (https://help.clickatell.com/developers-api-reference/sms-api):
 * POST /messages, the integration API key as the whole `Authorization` header (no "Bearer"),
 * a JSON `SendMessageRequest` (`content`, `to[]`, `from`, `binary`, `clientMessageId`,
 * `scheduledDeliveryTime`, `userDataHeader`, `validityPeriod`, `charset`; nothing else), answered
 * with 202 `{messages: [{apiMessageId, accepted, to, errorCode, error, errorDescription}],
 * errorCode, error, errorDescription}`.
 * Status callbacks as "SMS Client Callbacks" documents them
 * (https://help.clickatell.com/developers-api-reference/sms-client-callbacks): GET with query
 * parameters or POST JSON with `integrationName, messageId, requestId, clientMessageId, to, from,
 * statusCode, status, statusDescription, timestamp`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ClickatellFakeRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  json: Record<string, unknown> | undefined;
}

/** An answer to send, or `hang` to hold the request open (for timeouts). */
export type ClickatellFakeAnswer = { status: number; body: unknown; headers?: Record<string, string> } | 'hang';

export interface ClickatellFakeOptions {
  apiKey?: string;
  integrationName?: string;
  /** Answer to a well-formed, authenticated request; undefined gives the documented 202. */
  respond?: (request: ClickatellFakeRequest) => ClickatellFakeAnswer | undefined;
}

export interface ClickatellAcceptedMessage {
  apiMessageId: string;
  to: string;
  from: string | undefined;
  clientMessageId: string | undefined;
}

export interface ClickatellCallbackDelivery {
  /** GET with query parameters or POST with a JSON body, as the integration's callback setting says. */
  transport?: 'get' | 'json';
  /** How the callback proves itself: `?token=<key>` in the URL (default), an `apiKey` field, or none. */
  credential?: 'token' | 'apiKey' | 'none';
}

export interface ClickatellFake {
  url: string;
  apiKey: string;
  requests: ClickatellFakeRequest[];
  accepted: ClickatellAcceptedMessage[];
  close(): Promise<void>;
  /** The callback Clickatell sends for an accepted message reaching `statusCode` (e.g. 4 = received by recipient). */
  callbackFor(message: ClickatellAcceptedMessage, statusCode: number, overrides?: Record<string, unknown>): Record<string, unknown>;
  postStatusCallback(targetUrl: string, callback: Record<string, unknown>, delivery?: ClickatellCallbackDelivery): Promise<Response>;
}

/**
 * Descriptions from Clickatell's message status table (codes 1–14, the older APIs' "001"–"014");
 * the `status` names are illustrative: the provider reads `statusCode` only.
 */
const STATUS_TEXT: Record<number, [string, string]> = {
  1: ['MESSAGE_NOT_FOUND', 'Message unknown'],
  2: ['QUEUED', 'Message queued'],
  3: ['DELIVERED_TO_GATEWAY', 'Delivered to gateway'],
  4: ['RECEIVED_BY_RECIPIENT', 'Received by recipient'],
  5: ['ERROR_WITH_MESSAGE', 'Error with message'],
  6: ['USER_CANCELLED_MESSAGE_DELIVERY', 'User cancelled message delivery'],
  7: ['ERROR_DELIVERING_MESSAGE', 'Error delivering message'],
  9: ['ROUTING_ERROR', 'Routing error'],
  10: ['MESSAGE_EXPIRED', 'Message expired'],
  12: ['OUT_OF_CREDIT', 'Out of credit'],
};

const REQUEST_FIELDS = new Set(['content', 'to', 'from', 'binary', 'clientMessageId', 'scheduledDeliveryTime', 'userDataHeader', 'validityPeriod', 'charset']);

export async function startClickatellFake(options: ClickatellFakeOptions = {}): Promise<ClickatellFake> {
  const apiKey = options.apiKey ?? 'lPe91jCqTwGbErZ6OFeXjQ==';
  const integrationName = options.integrationName ?? 'sms-gateway';
  const requests: ClickatellFakeRequest[] = [];
  const accepted: ClickatellAcceptedMessage[] = [];

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(rawBody);
      } catch {
        json = undefined;
      }
      const request: ClickatellFakeRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0], headers: req.headers, rawBody, json };
      requests.push(request);
      const answer = answerFor(request);
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });

  function requestError(status: number, errorCode: number, error: string, errorDescription: string): ClickatellFakeAnswer {
    return { status, body: { messages: [], errorCode, error, errorDescription } };
  }

  function answerFor(request: ClickatellFakeRequest): ClickatellFakeAnswer {
    if (request.method !== 'POST' || request.path !== '/messages') return requestError(404, 41, 'Resource does not exist', `${request.method} ${request.path}`);
    if (request.headers.authorization !== apiKey) {
      return requestError(401, 1, 'Invalid or missing Integration API Key', 'Invalid or missing Integration API Key');
    }
    if (!String(request.headers['content-type'] ?? '').startsWith('application/json') || typeof request.json !== 'object' || request.json === null || Array.isArray(request.json)) {
      return requestError(400, 21, 'Payload data is malformed', 'fake: expected a JSON object');
    }
    const body = request.json;
    const unknown = Object.keys(body).find((name) => !REQUEST_FIELDS.has(name));
    if (unknown) return requestError(400, 21, 'Payload data is malformed', `fake: undocumented field ${unknown}`);
    if (typeof body.content !== 'string' || body.content === '') return requestError(400, 23, 'Invalid or missing parameter', 'content');
    if (!Array.isArray(body.to) || body.to.length === 0 || !body.to.every((n) => typeof n === 'string')) {
      return requestError(400, 23, 'Invalid or missing parameter', 'to');
    }
    if (body.validityPeriod !== undefined && !Number.isInteger(body.validityPeriod)) return requestError(400, 23, 'Invalid or missing parameter', 'validityPeriod');
    if (body.binary !== undefined && typeof body.binary !== 'boolean') return requestError(400, 23, 'Invalid or missing parameter', 'binary');
    if (body.binary === true && !/^([0-9a-fA-F]{2})+$/.test(body.content)) return requestError(400, 23, 'Invalid or missing parameter', 'content');
    const custom = options.respond?.(request);
    if (custom) return custom;
    const messages = (body.to as string[]).map((to) => {
      if (!/^\d{7,15}$/.test(to)) {
        return { accepted: false, to, errorCode: 25, error: 'Invalid recipient address', errorDescription: 'Invalid destination address' };
      }
      const message: ClickatellAcceptedMessage = {
        apiMessageId: randomBytes(16).toString('hex'), to,
        from: typeof body.from === 'string' ? body.from : undefined,
        clientMessageId: typeof body.clientMessageId === 'string' ? body.clientMessageId : undefined,
      };
      accepted.push(message);
      return { apiMessageId: message.apiMessageId, accepted: true, to, errorCode: null, error: null, errorDescription: null };
    });
    return { status: 202, body: { messages, errorCode: null, error: null, errorDescription: null } };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    accepted,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
    callbackFor(message, statusCode, overrides = {}) {
      const [status, statusDescription] = STATUS_TEXT[statusCode] ?? ['UNKNOWN', 'Unknown'];
      return {
        integrationName,
        messageId: message.apiMessageId,
        requestId: randomUUID(),
        clientMessageId: message.clientMessageId ?? '',
        to: message.to,
        from: message.from ?? '',
        statusCode,
        status,
        statusDescription,
        timestamp: 1506607698000,
        ...overrides,
      };
    },
    async postStatusCallback(targetUrl, callback, delivery = {}) {
      const credential = delivery.credential ?? 'token';
      const fields = credential === 'apiKey' ? { ...callback, apiKey } : callback;
      const url = new URL(targetUrl);
      if (credential === 'token') url.searchParams.set('token', apiKey);
      if ((delivery.transport ?? 'json') === 'get') {
        for (const [name, value] of Object.entries(fields)) url.searchParams.set(name, String(value));
        return fetch(url);
      }
      return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) });
    },
  };
}
