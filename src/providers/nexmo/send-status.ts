import type { SendOutcome } from '../provider.js';

type Failure = Exclude<SendOutcome, { kind: 'accepted' }>;

/**
 * What a non-zero `messages[i].status` of POST /sms/json means for the message. Codes and
 * meanings from the SMS API reference's error table
 * (https://developer.vonage.com/messaging/sms/guides/troubleshooting-sms, the `x-errors` of
 * vonage-sms-openapi.yml). Account and capacity problems are `retry` (another provider, or
 * later, can still send it); problems with the message or the number are final.
 */
const STATUS_OUTCOMES: Record<string, { kind: 'retry' | 'rejected'; code: string }> = {
  '1': { kind: 'retry', code: 'PROVIDER_THROTTLED' }, // Throttled
  '2': { kind: 'rejected', code: 'PROVIDER_REJECTED' }, // Missing parameters
  '3': { kind: 'rejected', code: 'PROVIDER_REJECTED' }, // Invalid parameters
  '4': { kind: 'retry', code: 'PROVIDER_AUTH' }, // Invalid credentials
  '5': { kind: 'retry', code: 'PROVIDER_UNAVAILABLE' }, // Internal error
  '6': { kind: 'rejected', code: 'INVALID_NUMBER' }, // Invalid message: e.g. an unrecognised number prefix
  '7': { kind: 'rejected', code: 'BLOCKED' }, // Number barred
  '8': { kind: 'retry', code: 'PROVIDER_AUTH' }, // Partner account barred
  '9': { kind: 'retry', code: 'PROVIDER_AUTH' }, // Partner quota violation: no credit
  '10': { kind: 'retry', code: 'PROVIDER_THROTTLED' }, // Too many existing binds
  '11': { kind: 'retry', code: 'PROVIDER_AUTH' }, // Account not enabled for HTTP
  '12': { kind: 'rejected', code: 'PROVIDER_REJECTED' }, // Message too long
  '14': { kind: 'retry', code: 'PROVIDER_AUTH' }, // Invalid signature: the account demands signed requests
  '15': { kind: 'rejected', code: 'PROVIDER_REJECTED' }, // Invalid sender address for this destination
  '17': { kind: 'rejected', code: 'BLOCKED' }, // Message blocked by provider
  '22': { kind: 'rejected', code: 'PROVIDER_REJECTED' }, // Invalid network code
  '23': { kind: 'rejected', code: 'PROVIDER_REJECTED' }, // Invalid callback URL
  '29': { kind: 'rejected', code: 'PROVIDER_REJECTED' }, // Non-whitelisted destination (demo account)
  '32': { kind: 'retry', code: 'PROVIDER_AUTH' }, // Signature and API secret disallowed
  '33': { kind: 'rejected', code: 'INVALID_NUMBER' }, // Number de-activated
};

/** A status Vonage may add later is a refusal of this message: nothing says it was taken. */
export function statusOutcome(status: string, errorText: string): Failure {
  const known = STATUS_OUTCOMES[status] ?? { kind: 'rejected', code: 'PROVIDER_REJECTED' };
  return { kind: known.kind, code: known.code, message: errorText || `Vonage status ${status}`, providerErrorCode: status };
}
