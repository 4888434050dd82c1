import { ValidationError } from '../../domain/errors.js';
import type { InboundSms, WebhookRequest } from '../provider.js';
import { formParams, type CallbackParams } from './signature.js';
import { verifySignature as verifyPlivoSignature } from './webhook.js';

/**
 * Plivo's incoming message request to the application's `message_url` ("Handling incoming
 * messages", https://www.plivo.com/docs/sms/api/message/handling-incoming/ and the Message XML
 * request reference, https://www.plivo.com/docs/messaging/xml/request/messages): From, To, Type
 * (sms | mms), Text (SMS; Body for MMS), MessageUUID, Units, TotalRate, TotalAmount, MessageIntent,
 * PowerpackUUID, form-POSTed or, per the application's `message_method`, in a GET query. Plivo
 * joins a long message's parts before calling, so one request is one whole message. Numbers come
 * in international form without the `+`. Signed like status callbacks (V3, else V2); the
 * signature is checked before any field is read.
 *
 * MessageIntent (Plivo's own STOP/START detection) is not used: the gateway applies the
 * contract's keywords to every provider alike.
 */
export function parsePlivoInbound(request: WebhookRequest, authToken: string): InboundSms[] {
  const params = request.method === 'POST' ? formParams(request.rawBody) : {};
  verifyPlivoSignature(request, params, authToken);
  const all: CallbackParams = { ...request.query, ...params };
  const from = field(all, 'From');
  if (!from) throw notInbound('From', 'required');
  const sms: InboundSms = { from: international(from), text: field(all, 'Text') ?? field(all, 'Body') ?? '' };
  const to = field(all, 'To');
  if (to) sms.to = international(to);
  const uuid = field(all, 'MessageUUID');
  if (uuid) sms.providerMessageId = uuid;
  return [sms];
}

/** Plivo drops the `+`; a short code (too few digits for E.164) is left as it is. */
function international(number: string): string {
  return /^[1-9]\d{6,14}$/.test(number) ? `+${number}` : number;
}

function field(params: CallbackParams, name: string): string | undefined {
  const value = params[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function notInbound(name: string, message: string): ValidationError {
  return new ValidationError('not a Plivo incoming message', [{ field: name, message }]);
}
