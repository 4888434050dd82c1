import { UnauthorizedError, ValidationError } from '../../domain/errors.js';
import type { MessageStatus } from '../../domain/message-status.js';
import { safeEqual } from '../../domain/signature.js';
import type { StatusReport, WebhookRequest } from '../provider.js';
import { vonageSignature, type SignatureMethod } from './signature.js';

/**
 * Vonage SMS delivery receipts (https://developer.vonage.com/messaging/sms/guides/delivery-receipts;
 * `DeliveryReceipt` in vonage-sms-openapi.yml). One receipt per part of a long text, each with
 * the part's own `messageId`. They arrive as GET (query) or POST (JSON or form), as the account's
 * "HTTP method" setting says, so the fields are read from the query and the body alike.
 */
const STATUSES: Record<string, { status: MessageStatus; errorCode?: string }> = {
  delivered: { status: 'delivered' },
  // Intermediate receipts: the carrier has it. "unknown" says no more than that either.
  accepted: { status: 'sent' },
  buffered: { status: 'sent' },
  unknown: { status: 'sent' },
  // Final failures after the carrier took the message ("DLR Statuses",
  // https://api.support.vonage.com/hc/en-us/articles/360018438551): it never reached the handset.
  expired: { status: 'undelivered', errorCode: 'EXPIRED' },
  failed: { status: 'undelivered', errorCode: 'UNDELIVERABLE' },
  rejected: { status: 'undelivered', errorCode: 'REJECTED' },
};

/**
 * `err-code` values whose meaning is sharper than the status ("Vonage SMS Delivery Error Codes",
 * https://api.support.vonage.com/hc/en-us/articles/204014733). Others keep the status's code.
 */
const ERROR_CODES: Record<string, { code: string; text: string }> = {
  '1': { code: 'UNDELIVERABLE', text: 'Unknown' },
  '2': { code: 'UNDELIVERABLE', text: 'Absent subscriber (temporary)' },
  '3': { code: 'INVALID_NUMBER', text: 'Absent subscriber (permanent)' },
  '4': { code: 'BLOCKED', text: 'Call barred by user' },
  '5': { code: 'UNDELIVERABLE', text: 'Portability error' },
  '6': { code: 'BLOCKED', text: 'Anti-spam rejection' },
  '7': { code: 'UNDELIVERABLE', text: 'Handset busy' },
  '8': { code: 'UNDELIVERABLE', text: 'Network error' },
  '9': { code: 'OPTED_OUT', text: 'Illegal number: the user asked not to receive messages from this service' },
  '10': { code: 'REJECTED', text: 'Illegal message' },
  '11': { code: 'UNDELIVERABLE', text: 'Unroutable' },
  '12': { code: 'UNDELIVERABLE', text: 'Destination unreachable' },
  '13': { code: 'BLOCKED', text: 'Subscriber age restriction' },
  '14': { code: 'BLOCKED', text: 'Number blocked by carrier' },
};

export interface ReceiptSignature {
  secret: string;
  method: SignatureMethod;
}

export function parseDeliveryReceipt(request: WebhookRequest, signature: ReceiptSignature | undefined): StatusReport[] {
  const params = receiptParams(request);
  if (signature) verifySignature(params, signature);
  return [toStatusReport(params)];
}

/** Query and body together, as Vonage signs them; every value must be a plain string or number. */
function receiptParams(request: WebhookRequest): Record<string, string> {
  const body = request.body;
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw new ValidationError('not a Vonage delivery receipt', [{ field: 'body', message: 'must be a JSON object or form fields' }]);
  }
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...request.query, ...(body as Record<string, unknown> | undefined) })) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ValidationError('not a Vonage delivery receipt', [{ field: name, message: 'must be a single value' }]);
    }
    params[name] = String(value);
  }
  return params;
}

/**
 * Signed receipts carry `sig`, `timestamp` and `nonce`; the signature covers every other
 * parameter. The timestamp is not held to a window: a replayed receipt cannot move a message
 * (statuses only go forward), and Vonage's retries of an unacknowledged receipt must still pass.
 */
function verifySignature(params: Record<string, string>, signature: ReceiptSignature): void {
  const given = params.sig;
  if (!given) throw new UnauthorizedError('Vonage receipt without `sig` while NEXMO_SIGNATURE_SECRET is set');
  if (!params.timestamp) throw new UnauthorizedError('signed Vonage receipt without `timestamp`');
  const expected = vonageSignature(params, signature.secret, signature.method);
  if (!safeEqual(given.toLowerCase(), expected)) throw new UnauthorizedError('Vonage `sig` does not match the receipt');
}

function toStatusReport(params: Record<string, string>): StatusReport {
  const messageId = params.messageId;
  if (!messageId) throw new ValidationError('not a Vonage delivery receipt', [{ field: 'messageId', message: 'required' }]);
  const mapped = STATUSES[params.status ?? ''];
  if (!mapped) {
    throw new ValidationError('not a Vonage delivery receipt', [{ field: 'status', message: `must be one of ${Object.keys(STATUSES).join(', ')}` }]);
  }
  const errCode = params['err-code'];
  const failed = mapped.status === 'undelivered';
  const known = errCode !== undefined ? ERROR_CODES[errCode] : undefined;
  const price = Number(params.price);
  return {
    providerMessageId: messageId,
    messageId: params['client-ref'] || undefined,
    status: mapped.status,
    errorCode: failed ? (mapped.errorCode === 'EXPIRED' ? 'EXPIRED' : known?.code ?? mapped.errorCode) : undefined,
    providerErrorCode: errCode !== undefined && errCode !== '0' ? errCode : undefined,
    errorMessage: failed ? `${params.status}${known ? `: ${known.text}` : ''}` : undefined,
    timestamp: carrierTime(params.scts) ?? pushTime(params['message-timestamp']),
    cost: params.price !== undefined && Number.isFinite(price) ? price : undefined,
    // Each part is reported on its own; the receipt does not say how many parts there are.
    part: { id: messageId },
  };
}

/** `scts`: when the carrier reported the status, `YYMMDDHHMM` (UTC). */
function carrierTime(scts: string | undefined): number | undefined {
  const m = scts ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(scts) : null;
  if (!m) return undefined;
  const [, yy, mo, dd, hh, mi] = m.map(Number);
  return Date.UTC(2000 + yy, mo - 1, dd, hh, mi);
}

/** `message-timestamp`: when Vonage started pushing the receipt, `YYYY-MM-DD HH:MM:SS` (UTC). */
function pushTime(value: string | undefined): number | undefined {
  if (!value || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value)) return undefined;
  const at = Date.parse(`${value.replace(' ', 'T')}Z`);
  return Number.isNaN(at) ? undefined : at;
}
