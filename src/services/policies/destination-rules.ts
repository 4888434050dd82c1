import type { RecipientCheck, RecipientPolicy, RecipientRejection } from '../recipient-policy.js';

export interface DestinationRulesConfig {
  /** ISO 3166 alpha-2; when any is listed, only these countries are sent to. */
  allowedCountries: readonly string[];
  blockedCountries: readonly string[];
  /** E.164 prefixes (`+882`, `+4470`), refused whatever their country. */
  blockedPrefixes: readonly string[];
}

/**
 * Where messages may go (ALLOWED_COUNTRIES, BLOCKED_COUNTRIES, BLOCKED_PREFIXES): the first guard
 * against SMS pumping, which sends to expensive destinations nobody meant to reach. Applies to
 * every sms_type, OTP included.
 */
export class DestinationRules implements RecipientPolicy {
  private readonly allowed: ReadonlySet<string>;
  private readonly blocked: ReadonlySet<string>;

  constructor(private readonly rules: DestinationRulesConfig) {
    this.allowed = new Set(rules.allowedCountries);
    this.blocked = new Set(rules.blockedCountries);
  }

  async check(recipients: readonly RecipientCheck[], _now: number): Promise<Map<string, RecipientRejection>> {
    const rejected = new Map<string, RecipientRejection>();
    for (const r of recipients) {
      const refusal = this.refusal(r);
      if (refusal) rejected.set(r.e164, refusal);
    }
    return rejected;
  }

  private refusal(r: RecipientCheck): RecipientRejection | undefined {
    if (r.country !== undefined && this.blocked.has(r.country)) {
      return { reason: 'country_blocked', message: `is in ${r.country}, which BLOCKED_COUNTRIES refuses` };
    }
    if (this.allowed.size > 0 && (r.country === undefined || !this.allowed.has(r.country))) {
      // A number whose country cannot be told is not known to be in an allowed one.
      const where = r.country === undefined ? 'has no known country' : `is in ${r.country}`;
      return { reason: 'country_blocked', message: `${where}; ALLOWED_COUNTRIES admits only ${[...this.allowed].join(', ')}` };
    }
    const prefix = this.rules.blockedPrefixes.find((p) => r.e164.startsWith(p));
    if (prefix !== undefined) return { reason: 'prefix_blocked', message: `starts with ${prefix}, a prefix BLOCKED_PREFIXES refuses` };
    return undefined;
  }
}
