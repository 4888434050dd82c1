import { describe, expect, it } from 'vitest';
import type { ProviderName } from '../../../src/config.js';
import type { SmsProvider } from '../../../src/providers/provider.js';
import type { ProviderSetup } from '../../../src/providers/registry.js';
import { ProviderRouter, type RouterSettings } from '../../../src/providers/routing/provider-router.js';
import type { RoutingFile } from '../../../src/providers/routing/route-plan.js';

const enabled = (name: ProviderName, messageTypes: string[]): ProviderSetup =>
  ({ name, enabled: true, provider: { name, capabilities: { messageTypes } } as unknown as SmsProvider, defaultMaxPerSecond: 10 });

const settings = (routing?: RoutingFile): RouterSettings => ({
  defaultProvider: undefined, routing, prices: { currency: 'USD', providers: {} }, budgets: {}, circuit: { failureThreshold: 1, coolDownMs: 60_000 },
});

const dest = (messageType: string, e164 = '+14155552671') => ({ e164, country: 'US', smsType: 'transactional', messageType });

describe('ProviderRouter.route', () => {
  // Worked out once per requested provider and message type when there are no rules: the answers must stay each pair's own.
  it('without routing rules, answers each message type and requested provider for itself, however often asked', () => {
    const router = new ProviderRouter([enabled('twilio', ['text', 'unicode']), enabled('plivo', ['text', 'unicode', 'binary'])], settings());
    for (let i = 0; i < 2; i++) {
      expect(router.route(dest('text'), undefined)).toEqual(['twilio', 'plivo']);
      expect(router.route(dest('binary'), undefined)).toEqual(['plivo']);
      expect(router.route(dest('text'), 'plivo')).toEqual(['plivo']);
      expect(() => router.route(dest('binary'), 'twilio')).toThrow(/cannot send binary/);
    }
  });

  it('puts a provider whose circuit is open last, and first again once its cool-down is over', () => {
    const router = new ProviderRouter([enabled('twilio', ['text']), enabled('plivo', ['text'])], settings());
    const now = Date.now();
    expect(router.route(dest('text'), undefined, now)).toEqual(['twilio', 'plivo']);
    router.breaker('twilio').failure(now);
    expect(router.route(dest('text'), undefined, now)).toEqual(['plivo', 'twilio']);
    expect(router.route(dest('text'), undefined, now + 60_000)).toEqual(['twilio', 'plivo']);
  });

  it('with routing rules, follows them for each destination', () => {
    const routing: RoutingFile = {
      routes: [{ match: { prefix: ['+44'] }, providers: ['plivo', 'twilio'], strategy: 'priority' }],
      budgets: {},
    };
    const router = new ProviderRouter([enabled('twilio', ['text']), enabled('plivo', ['text'])], settings(routing));
    expect(router.route(dest('text', '+447911123456'), undefined)).toEqual(['plivo', 'twilio']);
    expect(router.route(dest('text'), undefined)).toEqual(['twilio', 'plivo']);
    expect(router.route(dest('text', '+447911123456'), undefined)).toEqual(['plivo', 'twilio']);
  });
});
