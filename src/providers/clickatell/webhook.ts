import { UnauthorizedError, ValidationError } from '../../domain/errors.js';
import type { MessageStatus } from '../../domain/message-status.js';
import { safeEqual } from '../../domain/signature.js';
import type { StatusReport, WebhookRequest } from '../provider.js';

/**
 * Clickatell Platform SMS status callbacks ("SMS Client Callbacks",
 * https://help.clickatell.com/developers-api-reference/sms-client-callbacks): GET with query
 * parameters or POST with a JSON body, fields `integrationName, messageId, requestId,
 * clientMessageId, to, from, statusCode, status, statusDescription, timestamp`. The URL is set
 * once per integration in Clickatell's portal, not per message.
 *
 * Message status codes 1–14 (Clickatell's message status table, the same numbering as the
 * older APIs' "001"–"014"). `[]` for "message unknown": it says nothing about our message.
 */
const STATUS_CODES: Record<number, { status: MessageStatus; errorCode?: string } | null> = {
  1: null, // Message unknown: wrong id or reporting delayed
  2: { status: 'sent' }, // Message queued (for redelivery)
  3: { status: 'sent' }, // Delivered to gateway / upstream network
  4: { status: 'delivered' }, // Received by recipient
  5: { status: 'failed', errorCode: 'REJECTED' }, // Error with message (its content)
  6: { status: 'failed', errorCode: 'CANCELED' }, // User cancelled message delivery
  7: { status: 'undelivered', errorCode: 'UNDELIVERABLE' }, // Error delivering message to the handset
  8: { status: 'sent' }, // Message received by gateway
  9: { status: 'failed', errorCode: 'UNDELIVERABLE' }, // Routing error
  10: { status: 'undelivered', errorCode: 'EXPIRED' }, // Message expired
  11: { status: 'sent' }, // Queued for later delivery
  12: { status: 'failed', errorCode: 'INSUFFICIENT_CREDIT' }, // Out of credit
  13: { status: 'failed', errorCode: 'CANCELED' }, // Clickatell cancelled message delivery
  14: { status: 'failed', errorCode: 'LIMIT_EXCEEDED' }, // Maximum MT limit exceeded
};

/**
 * Clickatell signs nothing, so a callback is authentic when it carries the integration's API
 * key: in an `apiKey` field (older Platform callbacks include it), in the `Authorization`
 * header, or as `?token=` in the callback URL configured in the portal. At least one must be
 * present and every one present must match.
 */
export function parseStatusCallback(request: WebhookRequest, apiKey: string): StatusReport[] {
  const fields = callbackFields(request);
  authenticate(request, fields, apiKey);
  const report = toStatusReport(fields);
  return report ? [report] : [];
}

function callbackFields(request: WebhookRequest): Record<string, unknown> {
  const body = request.body;
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw new ValidationError('not a Clickatell status callback', [{ field: 'body', message: 'must be a JSON object' }]);
  }
  return { ...request.query, ...(body as Record<string, unknown> | undefined) };
}

function authenticate(request: WebhookRequest, fields: Record<string, unknown>, apiKey: string): void {
  const header = request.headers.authorization;
  const presented = [
    fields.apiKey,
    Array.isArray(header) ? header[0] : header,
    request.query.token,
  ].filter((v) => v !== undefined && v !== null && v !== '');
  if (presented.length === 0) {
    throw new UnauthorizedError('Clickatell callback without credentials: put ?token=<CLICKATELL_API_KEY> in the callback URL');
  }
  for (const value of presented) {
    if (typeof value !== 'string' || !safeEqual(value, apiKey)) throw new UnauthorizedError('Clickatell callback credentials do not match CLICKATELL_API_KEY');
  }
}

function toStatusReport(fields: Record<string, unknown>): StatusReport | undefined {
  const messageId = fields.messageId;
  if (typeof messageId !== 'string' || messageId === '') {
    throw new ValidationError('not a Clickatell status callback', [{ field: 'messageId', message: 'required' }]);
  }
  const code = statusCode(fields.statusCode);
  if (code === undefined || !(code in STATUS_CODES)) {
    throw new ValidationError('not a Clickatell status callback', [{ field: 'statusCode', message: 'must be a message status code from 1 to 14' }]);
  }
  const mapped = STATUS_CODES[code];
  if (!mapped) return undefined;
  const clientMessageId = fields.clientMessageId;
  const failed = mapped.status === 'failed' || mapped.status === 'undelivered';
  const description = [fields.status, fields.statusDescription].filter((v): v is string => typeof v === 'string' && v !== '').join(': ');
  return {
    providerMessageId: messageId,
    messageId: typeof clientMessageId === 'string' && clientMessageId !== '' ? clientMessageId : undefined,
    status: mapped.status,
    errorCode: mapped.errorCode,
    providerErrorCode: failed ? String(code).padStart(3, '0') : undefined,
    errorMessage: failed ? description || undefined : undefined,
    timestamp: callbackTime(fields.timestamp),
  };
}

/** A number, or a string such as "004" (GET callbacks carry every value as text). */
function statusCode(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\d{1,3}$/.test(value)) return Number(value);
  return undefined;
}

/** Epoch milliseconds or seconds, or a date string. */
function callbackTime(value: unknown): number | undefined {
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    const n = Number(value);
    return n > 1e12 ? n : n * 1000;
  }
  if (typeof value !== 'string') return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}
