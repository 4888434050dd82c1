import { describe, expect, it } from 'vitest';
import { SegmentBudget } from '../../src/domain/rate-limit.js';
import { canAdvance } from '../../src/domain/message-status.js';
import { backoffDelayMs } from '../../src/domain/backoff.js';

describe('SegmentBudget', () => {
  it('counts segments and says how long to wait', () => {
    const b = new SegmentBudget({ perSecond: 10, perMinute: 1000, perHour: 10000 }, 0);
    expect(b.available(0)).toBe(10);
    b.take(8, 0);
    expect(b.waitMs(4, 0)).toBe(200);
    expect(b.waitMs(2, 0)).toBe(0);
    // A message larger than the bucket waits for a full bucket, not forever.
    expect(b.waitMs(25, 0)).toBe(800);
  });
});

describe('status machine', () => {
  it('only moves forward', () => {
    expect(canAdvance('sent', 'delivered')).toBe(true);
    expect(canAdvance('delivered', 'sent')).toBe(false);
    expect(canAdvance('undelivered', 'delivered')).toBe(false);
    expect(canAdvance('queued', 'queued')).toBe(false);
    expect(canAdvance('sending', 'failed')).toBe(true);
  });
});

describe('backoffDelayMs', () => {
  it('grows exponentially with jitter and a ceiling', () => {
    expect(backoffDelayMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffDelayMs(3, 1000, 60_000, () => 1)).toBe(4000);
    expect(backoffDelayMs(20, 1000, 60_000, () => 1)).toBe(60_000);
  });
});
