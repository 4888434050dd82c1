import { UnauthorizedError, ValidationError } from '../../domain/errors.js';
import type { MessageStatus } from '../../domain/message-status.js';
import type { StatusReport, WebhookRequest } from '../provider.js';
import { formFields, isValidTwilioSignature, type FormFields } from './signature.js';

/**
 * Twilio's MessageStatus in our terms. Before `sent` Twilio still holds the message, which is what
 * `sent` means to us; a report of any of them proves Twilio took it (useful after a lost answer).
 * https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
 */
const STATUS: Record<string, MessageStatus | null> = {
  accepted: 'sent', scheduled: 'sent', queued: 'sent', sending: 'sent', sent: 'sent', partially_delivered: 'sent',
  delivered: 'delivered', read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed', canceled: 'failed',
  // Inbound states: nothing about an outbound message.
  receiving: null, received: null,
};

/** Twilio error codes seen on failed/undelivered messages. https://www.twilio.com/docs/api/errors */
const ERROR_CODE: Record<string, string> = {
  '30003': 'UNDELIVERABLE', // unreachable handset
  '30005': 'UNDELIVERABLE', // unknown or inactive number
  '30006': 'UNDELIVERABLE', // landline or unreachable carrier
  '30004': 'BLOCKED', // message blocked
  '30007': 'BLOCKED', // filtered by carrier
  '21610': 'OPTED_OUT', // recipient replied STOP
  '30036': 'EXPIRED', // ValidityPeriod elapsed in Twilio's queue
  '30008': 'UNKNOWN',
};

/** The query parameter our StatusCallback URL carries our message id in (see client.ts). */
export const MESSAGE_ID_PARAMETER = 'message_id';

/**
 * A status callback: signature first (nothing is read from an unsigned body), then the form
 * fields MessageSid, MessageStatus, ErrorCode and, when Twilio adds it, Price.
 */
export function parseTwilioStatusCallback(request: WebhookRequest, authToken: string): StatusReport[] {
  const signature = headerValue(request.headers['x-twilio-signature']);
  if (!signature) throw new UnauthorizedError('X-Twilio-Signature header is missing');
  // GET callbacks carry their fields in the query, which the signed URL already includes.
  const fields = request.method === 'POST' ? formFields(request.rawBody) : {};
  if (!isValidTwilioSignature(authToken, signature, request.url, fields)) {
    throw new UnauthorizedError('X-Twilio-Signature does not match this URL and body');
  }
  const all = { ...request.query, ...fields };
  const sid = field(all, 'MessageSid') ?? field(all, 'SmsSid');
  const twilioStatus = field(all, 'MessageStatus') ?? field(all, 'SmsStatus');
  if (!sid) throw notAReport('MessageSid', 'required');
  if (!twilioStatus) throw notAReport('MessageStatus', 'required');
  if (!(twilioStatus in STATUS)) throw notAReport('MessageStatus', `unknown status "${twilioStatus}"`);
  const status = STATUS[twilioStatus];
  if (status === null) return [];

  const report: StatusReport = { providerMessageId: sid, status };
  const messageId = field(request.query, MESSAGE_ID_PARAMETER);
  if (messageId) report.messageId = messageId;
  const errorCode = field(all, 'ErrorCode');
  if (errorCode && errorCode !== '0' && status !== 'sent' && status !== 'delivered') {
    report.providerErrorCode = errorCode;
    report.errorCode = ERROR_CODE[errorCode] ?? (status === 'undelivered' ? 'UNDELIVERABLE' : 'REJECTED');
    report.errorMessage = field(all, 'ErrorMessage') ?? `Twilio error ${errorCode}`;
  } else if (status === 'undelivered' || status === 'failed') {
    report.errorCode = status === 'undelivered' ? 'UNDELIVERABLE' : 'REJECTED';
    report.errorMessage = `Twilio status ${twilioStatus}`;
  }
  const price = Number(field(all, 'Price'));
  if (field(all, 'Price') && Number.isFinite(price)) report.cost = Math.abs(price);
  return [report];
}

function field(fields: FormFields | Record<string, string>, name: string): string | undefined {
  const value = fields[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function notAReport(name: string, message: string): ValidationError {
  return new ValidationError('not a Twilio status callback', [{ field: name, message }]);
}
