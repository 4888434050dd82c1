import { memoryCounters, SlidingWindow, type CounterFactory } from '../sliding-window.js';
import type { RecipientCheck, RecipientPolicy, RecipientRejection } from '../recipient-policy.js';

const HOUR_MS = 3_600_000;

/**
 * MAX_SMS_PER_NUMBER_PER_HOUR against SMS bombing: at most that many messages to one number in
 * any hour (a sliding window, so not twice as many around the turn of an hour), whatever their
 * type or key. Last of the policies: it counts, and a recipient another policy refused must not
 * use up its number's hour.
 */
export class PerNumberCap implements RecipientPolicy {
  private readonly window: SlidingWindow;

  constructor(private readonly limit: number, counters: CounterFactory = memoryCounters) {
    this.window = new SlidingWindow('sms_per_number', limit, HOUR_MS, counters);
  }

  async check(recipients: readonly RecipientCheck[], now: number): Promise<Map<string, RecipientRejection>> {
    const rejected = new Map<string, RecipientRejection>();
    await Promise.all(recipients.map(async (r) => {
      const count = await this.window.count(r.e164, now);
      if (count.allowed) return;
      await this.window.takeBack(count);
      const retryAfterSeconds = Math.max(1, Math.ceil(count.resetMs / 1000));
      rejected.set(r.e164, {
        reason: 'rate_limited',
        message: `has had ${this.limit} messages in the last hour (MAX_SMS_PER_NUMBER_PER_HOUR); retry in ${retryAfterSeconds} s`,
        retryAfterSeconds,
      });
    }));
    return rejected;
  }
}
