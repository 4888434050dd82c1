import { UnauthorizedError, ValidationError } from '../../domain/errors.js';
import type { InboundSms, WebhookRequest } from '../provider.js';
import { formFields, isValidTwilioSignature, type FormFields } from './signature.js';

/**
 * Twilio's incoming-message webhook ("Twilio's request to your incoming message Webhook URL",
 * https://www.twilio.com/docs/messaging/guides/webhook-request): form fields MessageSid (and the
 * legacy SmsSid), AccountSid, MessagingServiceSid, From, To, Body, NumMedia, NumSegments, …, as a
 * POST body or, when the number is configured for GET, in the query
 * (https://www.twilio.com/docs/usage/webhooks/messaging-webhooks). Signed X-Twilio-Signature like
 * status callbacks; the signature is checked before any field is read. Twilio reassembles long
 * inbound texts itself, so one request is one whole message.
 */
export function parseTwilioInbound(request: WebhookRequest, authToken: string): InboundSms[] {
  const signature = headerValue(request.headers['x-twilio-signature']);
  if (!signature) throw new UnauthorizedError('X-Twilio-Signature header is missing');
  // A GET request's fields are in the query, which the signed URL already covers.
  const fields = request.method === 'POST' ? formFields(request.rawBody) : {};
  if (!isValidTwilioSignature(authToken, signature, request.url, fields)) {
    throw new UnauthorizedError('X-Twilio-Signature does not match this URL and body');
  }
  const all: FormFields = { ...request.query, ...fields };
  const from = field(all, 'From');
  if (!from) throw notInbound('From', 'required');
  const sms: InboundSms = { from, text: field(all, 'Body') ?? '' };
  const to = field(all, 'To');
  if (to) sms.to = to;
  const sid = field(all, 'MessageSid') ?? field(all, 'SmsSid');
  if (sid) sms.providerMessageId = sid;
  return [sms];
}

function field(fields: FormFields, name: string): string | undefined {
  const value = fields[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function notInbound(name: string, message: string): ValidationError {
  return new ValidationError('not a Twilio incoming message', [{ field: name, message }]);
}
