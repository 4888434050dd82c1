import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decideSendOutcome, type DecisionInput } from '../../src/domain/send-decision.js';
import type { SendOutcome } from '../../src/providers/provider.js';

const NOW = 1_700_000_000_000;

function input(outcome: SendOutcome, over: Partial<DecisionInput> = {}): DecisionInput {
  return {
    outcome,
    provider: 'twilio',
    route: ['twilio', 'plivo', 'nexmo'],
    attempts: 1,
    maxAttempts: 5,
    retryBaseMs: 1000,
    retryMaxMs: 60_000,
    now: NOW,
    unavailable: new Set(),
    random: () => 1,
    ...over,
  };
}

const down: SendOutcome = { kind: 'retry', code: 'PROVIDER_UNAVAILABLE', message: 'HTTP 503' };

describe('decideSendOutcome', () => {
  it('accepted → sent, keeping part ids and cost', () => {
    expect(decideSendOutcome(input({ kind: 'accepted', providerMessageId: 'SM1' }))).toEqual({ action: 'sent', providerMessageId: 'SM1' });
    expect(decideSendOutcome(input({ kind: 'accepted', providerMessageId: 'a', partIds: ['a', 'b'], cost: 0.015 }))).toEqual({
      action: 'sent', providerMessageId: 'a', partIds: ['a', 'b'], cost: 0.015,
    });
  });

  it('rejected → fail, whatever is left of the route', () => {
    expect(decideSendOutcome(input({ kind: 'rejected', code: 'INVALID_NUMBER', message: 'bad number' }))).toEqual({
      action: 'fail', code: 'INVALID_NUMBER', message: 'bad number',
    });
  });

  it('unknown → unknown, never another provider', () => {
    expect(decideSendOutcome(input({ kind: 'unknown', code: 'PROVIDER_TIMEOUT', message: 'timed out' }))).toEqual({
      action: 'unknown', code: 'PROVIDER_TIMEOUT', message: 'timed out',
    });
  });

  it('surely not taken → the next provider of the route, now', () => {
    expect(decideSendOutcome(input(down))).toEqual({ action: 'failover', to: 'plivo', code: 'PROVIDER_UNAVAILABLE', message: 'HTTP 503' });
    expect(decideSendOutcome(input(down, { provider: 'plivo', attempts: 2 }))).toMatchObject({ action: 'failover', to: 'nexmo' });
  });

  it('failover skips providers whose circuit is open', () => {
    expect(decideSendOutcome(input(down, { unavailable: new Set(['plivo']) }))).toMatchObject({ action: 'failover', to: 'nexmo' });
  });

  it('after the last provider, starts the route over from its first available provider with backoff', () => {
    const d = decideSendOutcome(input(down, { provider: 'nexmo', attempts: 3 }));
    // attempt 3, base 1000: ceiling 4000, random 1 → 4000.
    expect(d).toEqual({ action: 'retry', to: 'twilio', dueAt: NOW + 4000, code: 'PROVIDER_UNAVAILABLE', message: 'HTTP 503' });
    expect(decideSendOutcome(input(down, { provider: 'nexmo', attempts: 3, unavailable: new Set(['twilio']) }))).toMatchObject({ action: 'retry', to: 'plivo' });
  });

  it('when every later provider is unavailable, retries the route rather than failing over to one', () => {
    expect(decideSendOutcome(input(down, { unavailable: new Set(['plivo', 'nexmo']) }))).toMatchObject({ action: 'retry', to: 'twilio', dueAt: NOW + 1000 });
  });

  it('a single-provider route retries the same provider with backoff, no sooner than its Retry-After', () => {
    const single = { route: ['twilio'], attempts: 2 };
    expect(decideSendOutcome(input(down, single))).toMatchObject({ action: 'retry', to: 'twilio', dueAt: NOW + 2000 });
    expect(decideSendOutcome(input({ ...down, retryAfterMs: 30_000 }, single))).toMatchObject({ action: 'retry', to: 'twilio', dueAt: NOW + 30_000 });
  });

  it('a short Retry-After on a throttle waits for the same provider instead of failing over', () => {
    const throttled: SendOutcome = { kind: 'retry', code: 'PROVIDER_THROTTLED', message: 'HTTP 429', retryAfterMs: 5000 };
    expect(decideSendOutcome(input(throttled))).toEqual({ action: 'retry', to: 'twilio', dueAt: NOW + 5000, code: 'PROVIDER_THROTTLED', message: 'HTTP 429' });
    expect(decideSendOutcome(input({ ...throttled, retryAfterMs: 60_000 }))).toMatchObject({ action: 'retry', to: 'twilio', dueAt: NOW + 60_000 });
  });

  it('a long Retry-After, or a throttle without one, fails over', () => {
    const throttled: SendOutcome = { kind: 'retry', code: 'PROVIDER_THROTTLED', message: 'HTTP 429' };
    expect(decideSendOutcome(input({ ...throttled, retryAfterMs: 60_001 }))).toMatchObject({ action: 'failover', to: 'plivo' });
    expect(decideSendOutcome(input(throttled))).toMatchObject({ action: 'failover', to: 'plivo' });
  });

  it('gives up at maxAttempts, saying how many', () => {
    const d = decideSendOutcome(input(down, { attempts: 5 }));
    expect(d).toEqual({ action: 'fail', code: 'PROVIDER_UNAVAILABLE', message: 'gave up after 5 attempts: HTTP 503' });
    expect(decideSendOutcome(input({ ...down, code: 'PROVIDER_THROTTLED', retryAfterMs: 1000 }, { attempts: 5 }))).toMatchObject({ action: 'fail' });
  });

  describe('properties', () => {
    const names = ['twilio', 'aws_sns', 'plivo', 'nexmo', 'clickatell', 'simulator'];
    const scenario = fc
      .record({
        route: fc.uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: 6 }),
        pick: fc.nat(),
        unavailable: fc.subarray(names),
        attempts: fc.integer({ min: 1, max: 10 }),
        maxAttempts: fc.integer({ min: 1, max: 10 }),
        outcome: fc.oneof(
          fc.record({ kind: fc.constant('accepted' as const), providerMessageId: fc.string({ minLength: 1 }) }),
          fc.record({ kind: fc.constant('rejected' as const), code: fc.string(), message: fc.string() }),
          fc.record({ kind: fc.constant('unknown' as const), code: fc.string(), message: fc.string() }),
          fc.record(
            {
              kind: fc.constant('retry' as const),
              code: fc.constantFrom('PROVIDER_THROTTLED', 'PROVIDER_UNAVAILABLE', 'NETWORK_ERROR'),
              message: fc.string(),
              retryAfterMs: fc.integer({ min: 0, max: 300_000 }),
            },
            { requiredKeys: ['kind', 'code', 'message'] },
          ),
        ),
        random: fc.double({ min: 0, max: 1, noNaN: true }),
      })
      .map((s): DecisionInput => ({
        outcome: s.outcome,
        provider: s.route[s.pick % s.route.length],
        route: s.route,
        attempts: s.attempts,
        maxAttempts: s.maxAttempts,
        retryBaseMs: 500,
        retryMaxMs: 30_000,
        now: NOW,
        unavailable: new Set(s.unavailable),
        random: () => s.random,
      }));

    it('an unknown outcome never yields failover or retry', () => {
      fc.assert(fc.property(scenario, (i) => {
        fc.pre(i.outcome.kind === 'unknown');
        expect(decideSendOutcome(i).action).toBe('unknown');
      }));
    });

    it('a failover target is in the route, is not the tried provider, and is available', () => {
      fc.assert(fc.property(scenario, (i) => {
        const d = decideSendOutcome(i);
        if (d.action !== 'failover') return;
        expect(i.route).toContain(d.to);
        expect(d.to).not.toBe(i.provider);
        expect(i.unavailable.has(d.to)).toBe(false);
      }));
    });

    it('a retry goes to a provider of the route, no earlier than now', () => {
      fc.assert(fc.property(scenario, (i) => {
        const d = decideSendOutcome(i);
        if (d.action !== 'retry') return;
        expect(i.route).toContain(d.to);
        expect(d.dueAt).toBeGreaterThanOrEqual(i.now);
      }));
    });

    it('at or past maxAttempts there is neither retry nor failover', () => {
      fc.assert(fc.property(scenario, (i) => {
        fc.pre(i.attempts >= i.maxAttempts);
        expect(['retry', 'failover']).not.toContain(decideSendOutcome(i).action);
      }));
    });
  });
});
