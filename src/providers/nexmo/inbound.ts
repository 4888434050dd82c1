import { UnauthorizedError, ValidationError } from '../../domain/errors.js';
import { safeEqual } from '../../domain/signature.js';
import type { InboundSms, WebhookRequest } from '../provider.js';
import { vonageSignature } from './signature.js';
import type { ReceiptSignature } from './webhook.js';

/**
 * Vonage SMS API inbound messages ("Inbound SMS", https://developer.vonage.com/messaging/sms/guides/inbound-sms):
 * `type` (text | unicode | binary), `to` (our number), `msisdn` (the sender), `messageId`,
 * `message-timestamp` (UTC "YYYY-MM-DD HH:MM:SS"), `text` and `keyword` for text, `data`/`udh` for
 * binary, and `concat`, `concat-ref`, `concat-total`, `concat-part` when a long text arrives part by
 * part; plus `timestamp`, `nonce`, `sig` when signed. Sent as GET (query) or POST (JSON or form),
 * as the account's setting says, so the query and the body are read alike. Numbers come without `+`.
 *
 * Signed like delivery receipts ("Signing requests",
 * https://developer.vonage.com/getting-started/concepts/signing-messages): with
 * NEXMO_SIGNATURE_SECRET set, `sig` must match every other parameter. No freshness window, as for
 * receipts: a replayed message has the same `messageId` and is recorded once.
 */
export function parseVonageInbound(request: WebhookRequest, signature: ReceiptSignature | undefined): InboundSms[] {
  const params = inboundParams(request);
  if (signature) verifySignature(params, signature);
  // Binary messages (WAP push, SIM data) carry no text to record or to read a keyword from.
  if (params.type === 'binary') return [];
  const from = params.msisdn;
  if (!from) throw notInbound('msisdn', 'required');
  const sms: InboundSms = { from: international(from), text: params.text ?? '' };
  if (params.to) sms.to = international(params.to);
  if (params.messageId) sms.providerMessageId = params.messageId;
  const receivedAt = pushTime(params['message-timestamp']);
  if (receivedAt !== undefined) sms.receivedAt = receivedAt;
  if (params.concat === 'true') {
    sms.part = { ref: params['concat-ref'] ?? '', index: Number(params['concat-part']) || 0, total: Number(params['concat-total']) || 0 };
  }
  return [sms];
}

/** Query and body together, as Vonage signs them; every value must be a plain string or number. */
function inboundParams(request: WebhookRequest): Record<string, string> {
  const body = request.body;
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
    throw notInbound('body', 'must be a JSON object or form fields');
  }
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...request.query, ...(body as Record<string, unknown> | undefined) })) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw notInbound(name, 'must be a single value');
    params[name] = String(value);
  }
  return params;
}

function verifySignature(params: Record<string, string>, signature: ReceiptSignature): void {
  const given = params.sig;
  if (!given) throw new UnauthorizedError('Vonage inbound message without `sig` while NEXMO_SIGNATURE_SECRET is set');
  if (!params.timestamp) throw new UnauthorizedError('signed Vonage inbound message without `timestamp`');
  // Vonage sends the HMAC variants in upper case.
  if (!safeEqual(given.toLowerCase(), vonageSignature(params, signature.secret, signature.method))) {
    throw new UnauthorizedError('Vonage `sig` does not match the inbound message');
  }
}

/** Vonage drops the `+`; a short code (too few digits for E.164) is left as it is. */
function international(number: string): string {
  return /^[1-9]\d{6,14}$/.test(number) ? `+${number}` : number;
}

/** `message-timestamp`: when Vonage started pushing the message, `YYYY-MM-DD HH:MM:SS` (UTC). */
function pushTime(value: string | undefined): number | undefined {
  if (!value || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value)) return undefined;
  const at = Date.parse(`${value.replace(' ', 'T')}Z`);
  return Number.isNaN(at) ? undefined : at;
}

function notInbound(name: string, message: string): ValidationError {
  return new ValidationError('not a Vonage inbound message', [{ field: name, message }]);
}
