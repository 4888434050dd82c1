import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { setUpProviders } from '../src/providers/registry.js';

describe('loadConfig', () => {
  it('uses the seed\'s defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8000, databaseUrl: 'sqlite:./data/gateway.db', maxMessageLength: 1600, maxRecipientsPerRequest: 1000,
      rateLimits: { perSecond: 10, perMinute: 100, perHour: 1000 }, phoneValidation: 'strict', apiKeyRequired: false,
      otp: { defaultLength: 6, defaultExpirySeconds: 300, maxAttempts: 3, resendCooldownSeconds: 60, maxResends: 3, maxPerNumberPerHour: 5 },
      webhooks: { timeoutSeconds: 30, retryAttempts: 3, retryDelaySeconds: 5, allowPrivateNetworks: false },
      maxSmsPerNumberPerHour: 10,
    });
    expect(c.prices.currency).toBe('USD');
  });

  it('runs the dispatch loops on a thread by default, but not for an in-memory database, which a thread cannot open', () => {
    expect(loadConfig({}).dispatchThread).toBe(true);
    expect(loadConfig({ DISPATCH_THREAD: 'false' }).dispatchThread).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).dispatchThread).toBe(false);
    expect(() => loadConfig({ DATABASE_URL: 'sqlite::memory:', DISPATCH_THREAD: 'true' })).toThrow(/DISPATCH_THREAD/);
  });

  it.each([
    ['PORT', 'eighty'],
    ['RATE_LIMIT_PER_SECOND', '0'],
    ['PHONE_VALIDATION', 'loose'],
    ['DATABASE_URL', 'mysql://x'],
    ['DEFAULT_PROVIDER', 'pigeon'],
    ['MESSAGE_ENCRYPTION_KEY', 'short'],
    ['API_KEY_REQUIRED', 'maybe'],
    ['OTP_DEFAULT_LENGTH', '12'],
    ['ALLOWED_COUNTRIES', 'USA'],
    ['SIMULATOR_FAILURE_RATE', '2'],
    ['PRICE_TABLE_PATH', '/nonexistent.json'],
    ['SQLITE_SYNCHRONOUS', 'OFF'],
  ])('names a bad %s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });

  it('reads VONAGE_* as twins of NEXMO_*, and provider settings through the registry', () => {
    const fetchNever = (() => { throw new Error('no request expected'); }) as unknown as typeof fetch;
    const setups = setUpProviders(loadConfig({ VONAGE_API_KEY: 'k', VONAGE_API_SECRET: 's' }).providerEnv, { fetch: fetchNever });
    expect(setups.find((s) => s.name === 'nexmo')?.enabled).toBe(true);
    expect(setups.find((s) => s.name === 'twilio')).toMatchObject({ enabled: false, missing: expect.arrayContaining(['TWILIO_ACCOUNT_SID']) });
    const bad = loadConfig({ TWILIO_ACCOUNT_SID: 'AC1', TWILIO_AUTH_TOKEN: 't', TWILIO_PHONE_NUMBER: '+14155550100', TWILIO_BASE_URL: 'not a url' });
    expect(() => setUpProviders(bad.providerEnv, { fetch: fetchNever })).toThrow('TWILIO_BASE_URL');
  });
});
