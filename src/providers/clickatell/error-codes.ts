import type { SendOutcome } from '../provider.js';

type Failure = Exclude<SendOutcome, { kind: 'accepted' }>;

/**
 * Clickatell Platform error codes (the `errorCode` of a refused request or message), as
 * enumerated in farrel/clickatell-rust-tools `clickatell-api/src/one_api/send_messages/gateway_error_code.rs`
 * (Clickatell's own pages list them under "Error codes"; we could not read a copy of the table for
 * the /messages integration, so codes not listed here fall to the HTTP status's meaning or to
 * "rejected"). Account, capacity and transient codes are `retry`; codes about the message or
 * the recipient are final.
 */
const ERROR_OUTCOMES: Record<number, { kind: 'retry' | 'rejected'; code: string }> = {
  1: { kind: 'retry', code: 'PROVIDER_AUTH' }, // Invalid or missing integration API key
  2: { kind: 'retry', code: 'PROVIDER_AUTH' }, // Account is not active
  3: { kind: 'retry', code: 'PROVIDER_AUTH' }, // Integration is not active
  7: { kind: 'retry', code: 'PROVIDER_AUTH' }, // Originating IP address is not approved in your account
  18: { kind: 'retry', code: 'PROVIDER_UNAVAILABLE' }, // Internal error
  19: { kind: 'retry', code: 'PROVIDER_UNAVAILABLE' }, // Internal error, please retry
  20: { kind: 'retry', code: 'PROVIDER_AUTH' }, // Insufficient account balance
  25: { kind: 'rejected', code: 'INVALID_NUMBER' }, // Invalid recipient address
  26: { kind: 'rejected', code: 'OPTED_OUT' }, // Recipient opted out
  43: { kind: 'retry', code: 'PROVIDER_THROTTLED' }, // Rate limit
  46: { kind: 'retry', code: 'PROVIDER_AUTH' }, // Demo access has expired
};

/** The outcome a known code implies; undefined for codes this table does not know. */
export function knownErrorOutcome(errorCode: number, message: string): Failure | undefined {
  const known = ERROR_OUTCOMES[errorCode];
  if (!known) return undefined;
  return { kind: known.kind, code: known.code, message, providerErrorCode: String(errorCode) };
}
