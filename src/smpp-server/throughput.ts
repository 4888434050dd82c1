/**
 * Submits per second for one SMPP account, over all its binds in this process: a token bucket
 * holding at most one second's worth, so a burst after a pause is one second's throughput.
 */
export class AccountThroughput {
  private tokens: number;
  private refilledAt: number;

  constructor(private readonly perSecond: number, now = Date.now()) {
    this.tokens = perSecond;
    this.refilledAt = now;
  }

  /** Takes one submit's token; false means the account is over its throughput (ESME_RTHROTTLED). */
  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
