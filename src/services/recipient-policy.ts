import type { SmsType } from '../domain/message-status.js';

/** One recipient as the policies see it, after its number was normalised. */
export interface RecipientCheck {
  e164: string;
  country: string | undefined;
  smsType: SmsType;
  keyId: string | null;
}

export type RejectionReason = 'rate_limited' | 'country_blocked' | 'prefix_blocked' | 'opted_out';

export interface RecipientRejection {
  reason: RejectionReason;
  message: string;
  /** For `rate_limited`: when the recipient may be sent to again. */
  retryAfterSeconds?: number;
}

/**
 * A rule about who may be sent to (country lists, blocked prefixes, opt-outs, per-number caps).
 * Checked for every recipient before a request is stored; a rejected recipient fails `send`
 * (422, or 429 when every reason is `rate_limited`) and is listed in `send-batch`.
 */
export interface RecipientPolicy {
  check(recipients: readonly RecipientCheck[], now: number): Promise<Map<string, RecipientRejection>>;
}

/**
 * The policies in order; the first to reject a recipient names the reason, and later ones do not
 * see it (so a counting policy placed last counts only recipients the others let through).
 */
export class RecipientPolicies implements RecipientPolicy {
  constructor(private readonly policies: readonly RecipientPolicy[]) {}

  async check(recipients: readonly RecipientCheck[], now: number): Promise<Map<string, RecipientRejection>> {
    const rejected = new Map<string, RecipientRejection>();
    let remaining = recipients;
    for (const policy of this.policies) {
      if (remaining.length === 0) break;
      for (const [e164, rejection] of await policy.check(remaining, now)) rejected.set(e164, rejection);
      remaining = remaining.filter((r) => !rejected.has(r.e164));
    }
    return rejected;
  }
}
