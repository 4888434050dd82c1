/**
 * Our message statuses and error codes in Twilio's vocabulary.
 * https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
 */
const STATUS: Record<string, string> = {
  // A draft is held until released, like a Messaging Service's accepted message before it is queued.
  draft: 'accepted',
  scheduled: 'scheduled',
  queued: 'queued',
  sending: 'sending',
  sent: 'sent',
  delivered: 'delivered',
  undelivered: 'undelivered',
  failed: 'failed',
  // Twilio has no "expired": a message its ValidityPeriod ran out on is failed with 30036.
  expired: 'failed',
  canceled: 'canceled',
};

export function twilioStatus(status: string): string {
  return STATUS[status] ?? status;
}

/** Our error codes (src/providers/provider.ts and the worker) as Twilio's nearest. https://www.twilio.com/docs/api/errors */
const ERROR_CODE: Record<string, number> = {
  INVALID_NUMBER: 21211,
  OPTED_OUT: 21610,
  UNDELIVERABLE: 30003, // unreachable destination handset
  BLOCKED: 30004, // message blocked
  EXPIRED: 30036, // validity period expired
  PROVIDER_THROTTLED: 30001, // queue overflow: never taken within the retries
  LIMIT_EXCEEDED: 30001,
  INSUFFICIENT_CREDIT: 30002, // account suspended
};
const UNKNOWN_ERROR = 30008;

/** Twilio's integer error code for a message: null while nothing went wrong, and for a canceled message. */
export function twilioErrorCode(status: string, errorCode: string | null): number | null {
  if (status === 'expired') return ERROR_CODE.EXPIRED;
  if (status !== 'failed' && status !== 'undelivered') return null;
  if (errorCode === null) return UNKNOWN_ERROR;
  // A Twilio provider's own code passes through unchanged.
  if (/^\d{5}$/.test(errorCode)) return Number(errorCode);
  return ERROR_CODE[errorCode] ?? UNKNOWN_ERROR;
}

const PRICED = new Set(['sent', 'delivered', 'undelivered']);

/**
 * Twilio reports what a message cost the account as a negative decimal string, and only once it
 * went out. The provider's reported price when there is one, else the price table's estimate.
 */
export function twilioPrice(status: string, cost: number | null, estimated: number): string | null {
  if (cost === null && !PRICED.has(status)) return null;
  const value = cost ?? estimated;
  return value === 0 ? '0.00000' : (-Math.abs(value)).toFixed(5);
}
