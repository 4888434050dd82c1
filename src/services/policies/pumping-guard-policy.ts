import type { PumpingGuard } from '../../domain/pumping-guard.js';
import type { GatewayMetrics } from '../../metrics.js';
import type { RecipientCheck, RecipientPolicy, RecipientRejection } from '../recipient-policy.js';

/**
 * Refuses new OTPs to a country the pumping guard throttles (reason `rate_limited`); other types
 * are left alone, since only codes come with a verify rate to judge them by. OtpService feeds the
 * guard; this only asks it.
 */
export class PumpingGuardPolicy implements RecipientPolicy {
  constructor(
    private readonly guard: PumpingGuard,
    private readonly metrics: GatewayMetrics,
    private readonly warn: (message: string) => void = (message) => console.warn(message),
  ) {
    metrics.throttledCountries = () => guard.throttled(Date.now()).length;
  }

  async check(recipients: readonly RecipientCheck[], now: number): Promise<Map<string, RecipientRejection>> {
    const rejected = new Map<string, RecipientRejection>();
    for (const r of recipients) {
      if (r.smsType !== 'otp') continue;
      const decision = this.guard.decide(r.country, now);
      if (decision.allowed) continue;
      const { country, generated, verified } = decision.figures;
      const minutes = Math.round(this.guard.rules.windowMs / 60_000);
      if (decision.started) {
        // Once per throttle, not per refused code: an attack would otherwise flood the log.
        this.warn(`OTP pumping guard: throttling codes to ${country} until ${new Date(decision.until).toISOString()} (${generated} generated, ${verified} verified in ${minutes} min)`);
      }
      this.metrics.otpPumpingThrottled.inc({ country });
      const retryAfterSeconds = Math.max(1, Math.ceil((decision.until - now) / 1000));
      rejected.set(r.e164, {
        reason: 'rate_limited',
        message: `one-time passcodes to ${country} are throttled for suspected SMS pumping (${generated} sent, ${verified} verified in ${minutes} min); retry in ${retryAfterSeconds} s`,
        retryAfterSeconds,
      });
    }
    return rejected;
  }
}
