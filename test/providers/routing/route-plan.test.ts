import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/domain/errors.js';
import {
  planRoute, type Destination, type PriceOf, type ProviderDescription, type RoutingFile,
} from '../../../src/providers/routing/route-plan.js';

const ALL_TYPES = ['text', 'unicode', 'binary', 'flash'];
const PROVIDERS: ProviderDescription[] = [
  { name: 'twilio', enabled: true, messageTypes: ['text', 'unicode'] },
  { name: 'plivo', enabled: true, messageTypes: ['text', 'unicode'] },
  { name: 'nexmo', enabled: true, messageTypes: ALL_TYPES },
  { name: 'clickatell', enabled: false, messageTypes: ALL_TYPES },
  { name: 'simulator', enabled: true, messageTypes: ALL_TYPES },
];

const US_OTP: Destination = { e164: '+14155550100', country: 'US', smsType: 'otp', messageType: 'text' };
const UK_PROMO: Destination = { e164: '+447700900123', country: 'GB', smsType: 'promotional', messageType: 'text' };

const PRICES: Record<string, Record<string, number>> = {
  twilio: { US: 0.0079 },
  plivo: { US: 0.005 },
  nexmo: { US: 0.0068 },
};
const priceOf: PriceOf = (provider, country) => (country !== undefined ? PRICES[provider]?.[country] : undefined);

function file(...routes: RoutingFile['routes']): RoutingFile {
  return { routes, budgets: {} };
}

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('planRoute', () => {
  it('uses the requested provider alone', () => {
    const routes = file({ match: {}, providers: ['plivo'], strategy: 'priority' });
    expect(planRoute(US_OTP, 'nexmo', routes, PROVIDERS, 'twilio', priceOf)).toEqual({ providers: ['nexmo'] });
  });

  it('refuses a requested provider that is not enabled, naming it', () => {
    const err = validationError(() => planRoute(US_OTP, 'clickatell', undefined, PROVIDERS, undefined, priceOf));
    expect(err.message).toContain('clickatell');
    expect(err.errors[0].field).toBe('provider');
    expect(err.errors[0].message).toContain('clickatell');
    expect(validationError(() => planRoute(US_OTP, 'carrier-pigeon', undefined, PROVIDERS, undefined, priceOf)).errors[0].field).toBe('provider');
  });

  it('refuses a requested provider that cannot send the message type', () => {
    const err = validationError(() => planRoute({ ...US_OTP, messageType: 'binary' }, 'twilio', undefined, PROVIDERS, undefined, priceOf));
    expect(err.errors[0].field).toBe('message_type');
    expect(err.message).toContain('twilio');
  });

  it('takes the first rule whose present criteria all match', () => {
    const routes = file(
      { match: { country: ['US'], sms_type: ['promotional'] }, providers: ['nexmo'], strategy: 'priority' },
      { match: { country: ['US', 'CA'], prefix: ['+1415'], sms_type: ['otp'] }, providers: ['twilio', 'plivo'], strategy: 'priority' },
      { match: {}, providers: ['simulator'], strategy: 'priority' },
    );
    expect(planRoute(US_OTP, undefined, routes, PROVIDERS, undefined, priceOf)).toEqual({ providers: ['twilio', 'plivo'], rule: 1 });
    expect(planRoute({ ...US_OTP, e164: '+12125550100' }, undefined, routes, PROVIDERS, undefined, priceOf)).toEqual({ providers: ['simulator'], rule: 2 });
    expect(planRoute(UK_PROMO, undefined, routes, PROVIDERS, undefined, priceOf)).toEqual({ providers: ['simulator'], rule: 2 });
  });

  it('a country criterion never matches a destination of unknown country', () => {
    const routes = file({ match: { country: ['US'] }, providers: ['plivo'], strategy: 'priority' });
    expect(planRoute({ ...US_OTP, country: undefined }, undefined, routes, PROVIDERS, 'twilio', priceOf)).toEqual({ providers: ['twilio'] });
  });

  it('filters a rule to enabled providers that support the type, keeping its order', () => {
    const routes = file({ match: {}, providers: ['clickatell', 'twilio', 'nexmo'], strategy: 'priority' });
    expect(planRoute(US_OTP, undefined, routes, PROVIDERS, undefined, priceOf)).toEqual({ providers: ['twilio', 'nexmo'], rule: 0 });
    expect(planRoute({ ...US_OTP, messageType: 'flash' }, undefined, routes, PROVIDERS, undefined, priceOf)).toEqual({ providers: ['nexmo'], rule: 0 });
  });

  it('least_cost orders by price, unknown prices last, ties in file order', () => {
    const routes = file({ match: {}, providers: ['simulator', 'twilio', 'nexmo', 'plivo'], strategy: 'least_cost' });
    expect(planRoute(US_OTP, undefined, routes, PROVIDERS, undefined, priceOf).providers).toEqual(['plivo', 'nexmo', 'twilio', 'simulator']);
    const flat: PriceOf = (p) => (p === 'simulator' ? undefined : 0.01);
    expect(planRoute(US_OTP, undefined, file({ match: {}, providers: ['simulator', 'nexmo', 'twilio'], strategy: 'least_cost' }), PROVIDERS, undefined, flat).providers)
      .toEqual(['nexmo', 'twilio', 'simulator']);
  });

  it('falls through a matching rule with no eligible provider to the next matching rule, then the default', () => {
    const routes = file(
      { match: { country: ['US'] }, providers: ['clickatell'], strategy: 'priority' },
      { match: { sms_type: ['otp'] }, providers: ['twilio', 'plivo'], strategy: 'priority' },
    );
    expect(planRoute({ ...US_OTP, messageType: 'text' }, undefined, routes, PROVIDERS, undefined, priceOf)).toEqual({ providers: ['twilio', 'plivo'], rule: 1 });
    expect(planRoute({ ...US_OTP, messageType: 'binary' }, undefined, routes, PROVIDERS, 'nexmo', priceOf)).toEqual({ providers: ['nexmo'] });
  });

  it('without a matching rule, uses the default provider', () => {
    expect(planRoute(UK_PROMO, undefined, undefined, PROVIDERS, 'plivo', priceOf)).toEqual({ providers: ['plivo'] });
  });

  it('without a default, offers every eligible provider, real ones before the simulator', () => {
    const providers = [PROVIDERS[4], ...PROVIDERS.slice(0, 4)];
    expect(planRoute(UK_PROMO, undefined, undefined, providers, undefined, priceOf)).toEqual({ providers: ['twilio', 'plivo', 'nexmo', 'simulator'] });
    expect(planRoute({ ...UK_PROMO, messageType: 'binary' }, undefined, undefined, providers, undefined, priceOf)).toEqual({ providers: ['nexmo', 'simulator'] });
  });

  it('a default that cannot send the type gives way to the eligible providers', () => {
    expect(planRoute({ ...UK_PROMO, messageType: 'flash' }, undefined, undefined, PROVIDERS, 'twilio', priceOf)).toEqual({ providers: ['nexmo', 'simulator'] });
  });

  it('throws on message_type when nothing can send it', () => {
    const textOnly: ProviderDescription[] = [{ name: 'twilio', enabled: true, messageTypes: ['text'] }, { name: 'nexmo', enabled: false, messageTypes: ALL_TYPES }];
    const err = validationError(() => planRoute({ ...US_OTP, messageType: 'binary' }, undefined, undefined, textOnly, 'twilio', priceOf));
    expect(err.errors[0]).toMatchObject({ field: 'message_type' });
    expect(err.errors[0].message).toContain('binary');
    expect(validationError(() => planRoute(US_OTP, undefined, undefined, [], undefined, priceOf)).errors[0].message).toContain('no provider is enabled');
  });
});
