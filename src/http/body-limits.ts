/**
 * Largest body each kind of route legitimately needs; Fastify refuses a larger one with 413
 * from its Content-Length before reading it (or as soon as a chunked body passes the limit).
 */
export const BODY_LIMITS = {
  /** Anything without a limit of its own: OTP, verify, cancel, render. */
  default: 64 * 1024,
  /** Templates: content up to MAX_MESSAGE_LENGTH characters of up to 4 UTF-8 bytes, plus fields. */
  template: 512 * 1024,
  /** Provider delivery reports, which may come in batches. */
  webhook: 1024 * 1024,
} as const;

/** Per recipient of send / send-batch: number, country, name and personal variables. */
const PER_RECIPIENT_BYTES = 2 * 1024;

/** send and send-batch: the shared fields (text, metadata, variables) plus every allowed recipient. */
export function sendBodyLimit(maxRecipients: number): number {
  return 256 * 1024 + maxRecipients * PER_RECIPIENT_BYTES;
}
