import { UnauthorizedError, ValidationError } from '../../domain/errors.js';
import type { MessageStatus } from '../../domain/message-status.js';
import type { StatusReport, WebhookRequest } from '../provider.js';
import { formParams, isValidPlivoSignature, plivoSignatureV2, plivoSignatureV3, type CallbackParams } from './signature.js';

/**
 * Plivo's Status in our terms; `queued` means Plivo holds the message, which is our `sent`.
 * https://www.plivo.com/docs/messaging/api/message/message-status-callbacks
 */
const STATUS: Record<string, MessageStatus | null> = {
  queued: 'sent', sent: 'sent',
  delivered: 'delivered', read: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed', rejected: 'failed',
  received: null, // inbound: nothing about an outbound message
};

/** https://www.plivo.com/docs/messaging/troubleshooting/error-codes and the messaging FAQ (420). */
const ERROR_CODE: Record<string, string> = {
  '10': 'REJECTED', // invalid message, refused by a carrier
  '20': 'UNDELIVERABLE', // carrier network error
  '30': 'BLOCKED', // spam filter
  '40': 'REJECTED', // invalid source number
  '50': 'INVALID_NUMBER', // invalid destination number
  '420': 'EXPIRED', // three hours in Plivo's queue
};

/** The query parameter our callback URL carries our message id in (see client.ts). */
export const MESSAGE_ID_PARAMETER = 'message_id';

/**
 * A message status callback: signature first (V3 when the request has it, else V2), then the
 * fields MessageUUID, Status, ErrorCode, TotalAmount, ParentMessageUUID, PartInfo.
 */
export function parsePlivoStatusCallback(request: WebhookRequest, authToken: string): StatusReport[] {
  const params = request.method === 'POST' ? formParams(request.rawBody) : {};
  verifySignature(request, params, authToken);
  const all: CallbackParams = { ...request.query, ...params };
  const uuid = field(all, 'MessageUUID');
  const plivoStatus = field(all, 'Status');
  if (!uuid) throw notAReport('MessageUUID', 'required');
  if (!plivoStatus) throw notAReport('Status', 'required');
  if (!(plivoStatus in STATUS)) throw notAReport('Status', `unknown status "${plivoStatus}"`);
  const status = STATUS[plivoStatus];
  if (status === null) return [];

  // Today Plivo sends one callback per message and documents ParentMessageUUID as equal to
  // MessageUUID; a part's own callback would name its parent, the id send() returned.
  const parent = field(all, 'ParentMessageUUID');
  const report: StatusReport = { providerMessageId: parent ?? uuid, status };
  if (parent && parent !== uuid) {
    const count = /(\d+)\s*(?:of|\/)\s*(\d+)/i.exec(field(all, 'PartInfo') ?? '');
    report.part = count ? { id: uuid, count: Number(count[2]) } : { id: uuid };
  }
  const messageId = field(request.query, MESSAGE_ID_PARAMETER);
  if (messageId) report.messageId = messageId;
  const errorCode = field(all, 'ErrorCode');
  if (status === 'undelivered' || status === 'failed') {
    if (errorCode && !/^0+$/.test(errorCode)) {
      report.providerErrorCode = errorCode;
      report.errorCode = ERROR_CODE[errorCode] ?? (status === 'undelivered' ? 'UNDELIVERABLE' : 'REJECTED');
      report.errorMessage = `Plivo error ${errorCode}`;
    } else {
      report.errorCode = status === 'undelivered' ? 'UNDELIVERABLE' : 'REJECTED';
      report.errorMessage = `Plivo status ${plivoStatus}`;
    }
  }
  // Plivo sends TotalAmount on every callback, 0 until the message is rated.
  const amount = Number(field(all, 'TotalAmount'));
  if (Number.isFinite(amount) && amount > 0) report.cost = amount;
  return [report];
}

/** V3 when the request carries it, else V2; shared with inbound messages, which Plivo signs the same way. */
export function verifySignature(request: WebhookRequest, params: CallbackParams, authToken: string): void {
  const v3 = header(request, 'x-plivo-signature-v3') ?? header(request, 'x-plivo-signature-ma-v3');
  const v3Nonce = header(request, 'x-plivo-signature-v3-nonce');
  if (v3 && v3Nonce) {
    if (!isValidPlivoSignature(v3, plivoSignatureV3(authToken, request.method, request.url, v3Nonce, params))) {
      throw new UnauthorizedError('X-Plivo-Signature-V3 does not match this URL and body');
    }
    return;
  }
  // Plivo's messaging pages document V2 for message callbacks; it covers only the URL path and the nonce.
  const v2 = header(request, 'x-plivo-signature-v2') ?? header(request, 'x-plivo-signature-ma-v2');
  const v2Nonce = header(request, 'x-plivo-signature-v2-nonce');
  if (v2 && v2Nonce) {
    if (!isValidPlivoSignature(v2, plivoSignatureV2(authToken, request.url, v2Nonce))) {
      throw new UnauthorizedError('X-Plivo-Signature-V2 does not match this URL');
    }
    return;
  }
  throw new UnauthorizedError('X-Plivo-Signature-V3 (or -V2) and its nonce are missing');
}

function field(params: CallbackParams, name: string): string | undefined {
  const value = params[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function header(request: WebhookRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function notAReport(name: string, message: string): ValidationError {
  return new ValidationError('not a Plivo status callback', [{ field: name, message }]);
}
