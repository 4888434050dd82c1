import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PriceTable } from './domain/pricing.js';
import type { EnvReader } from './providers/definition.js';
import type { PhoneValidationMode } from './domain/phone.js';

export const PROVIDER_NAMES = ['twilio', 'aws_sns', 'plivo', 'nexmo', 'clickatell', 'smpp', 'simulator'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
  }
}

export interface RateLimits {
  perSecond: number;
  perMinute: number;
  perHour: number;
}

export interface Config {
  port: number;
  host: string;
  logLevel: string;
  databaseUrl: string;
  sqliteDurability: 'full' | 'normal';
  /** PostgreSQL: DATABASE_POOL_SIZE connections per process, DATABASE_STATEMENT_TIMEOUT_MS per statement. */
  databasePool: { size: number; statementTimeoutMs: number };
  redisUrl: string | undefined;
  /** Starts every Redis key and channel of this gateway: several gateways (staging, production) can share one Redis. */
  redisPrefix: string;
  runWorker: boolean;
  /** With RUN_WORKER: the dispatch, callback and report loops run on a thread of their own (DISPATCH_THREAD), so the API and they use two cores. */
  dispatchThread: boolean;
  /** The variables this config was read from: a dispatch thread reads its own config from them. */
  env: Readonly<Record<string, string | undefined>>;
  publicUrl: string;
  apiKeyRequired: boolean;
  http: {
    /** Whole request (headers and body) must arrive within this. */
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    maxConnectionsPerClient: number;
  };
  allowedOrigins: string[];
  webhookSecret: string | undefined;
  defaultProvider: ProviderName | undefined;
  defaultFromNumber: string | undefined;
  maxMessageLength: number;
  maxRecipientsPerRequest: number;
  rateLimits: RateLimits;
  maxSmsPerNumberPerHour: number;
  allowedCountries: string[];
  blockedCountries: string[];
  /** `BLOCKED_PREFIXES`: E.164 prefixes refused whatever their country (premium-rate and other abused ranges). */
  blockedPrefixes: string[];
  phoneValidation: PhoneValidationMode;
  defaultCountry: string | undefined;
  messageEncryptionKey: Buffer | undefined;
  /** `MESSAGE_ENCRYPTION_PREVIOUS_KEYS`: keys replaced in configuration, still used to read what they sealed. */
  previousMessageEncryptionKeys: Buffer[];
  /** Where keys not given in configuration are generated and kept (never in the database). */
  keysFile: string;
  otp: {
    defaultLength: number;
    defaultExpirySeconds: number;
    maxAttempts: number;
    resendCooldownSeconds: number;
    maxResends: number;
    maxPerNumberPerHour: number;
    /** When a country's OTPs look like SMS pumping (many generated, few verified), and for how long they are then throttled. */
    pumping: { windowMs: number; minGenerates: number; minConversion: number; blockMs: number };
    /** Key of the codes' HMAC; from OTP_HASH_KEY (or the older OTP_HASH_SECRET), else the key file. */
    hashKey: Buffer | undefined;
  };
  webhooks: {
    timeoutSeconds: number;
    retryAttempts: number;
    retryDelaySeconds: number;
    allowPrivateNetworks: boolean;
  };
  /** How long SIGTERM waits for sends in flight before the process exits and leaves them to lease recovery. */
  shutdownTimeoutSeconds: number;
  /**
   * MESSAGE_RETENTION_DAYS and AUDIT_RETENTION_DAYS (unset: keep those rows for ever) and how the purge goes
   * about them; undefined when neither is set.
   */
  retention: { days: number | undefined; auditDays: number | undefined; batchSize: number; intervalMs: number } | undefined;
  dispatch: {
    batchSize: number;
    pollIntervalMs: number;
    leaseSeconds: number;
    providerTimeoutSeconds: number;
    maxAttempts: number;
    retryBaseMs: number;
    retryMaxMs: number;
  };
  simulator: {
    enabled: boolean;
    deliveryDelayMs: number;
    failureRate: number;
    transientErrorRate: number;
    latencyMs: number;
    /** SIMULATOR_OUTBOX_KEEP: how many of the newest entries the outbox keeps (0: all of them). */
    outboxKeep: number;
  };
  /** The SMPP server for ESMEs (src/smpp-server): off unless SMPP_SERVER_PORT is set. */
  smppServer: { port: number; host: string } | undefined;
  /** Where each provider reads its own settings from (see providers/registry.ts), checked at start. */
  providerEnv: EnvReader;
  /** `<PROVIDER>_MAX_PER_SECOND`: segments per second each provider is handed, where set. */
  providerBudgets: Partial<Record<ProviderName, number>>;
  /** `ROUTING_FILE`: routes by destination and sms_type, and budgets (JSON). */
  routingFile: string | undefined;
  /** Per provider: consecutive surely-not-taken failures that open its circuit, and how long it stays open. */
  circuit: { failureThreshold: number; coolDownMs: number };
  prices: PriceTable;
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = str(env, name);
  if (v === undefined) return fallback;
  if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `must be a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function num(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(name, `must be a number from ${min} to ${max}, got "${v}"`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = str(env, name)?.toLowerCase();
  if (v === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, `must be true or false, got "${v}"`);
}

function url(env: Env, name: string, fallback: string): string;
function url(env: Env, name: string, fallback?: undefined): string | undefined;
function url(env: Env, name: string, fallback?: string): string | undefined {
  const v = str(env, name) ?? fallback;
  if (v === undefined) return undefined;
  try {
    const u = new URL(v);
    if (!['http:', 'https:'].includes(u.protocol)) throw new Error();
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got "${v}"`);
  }
  return v.replace(/\/+$/, '');
}

function countries(env: Env, name: string): string[] {
  const v = str(env, name);
  if (v === undefined) return [];
  const list = v.split(',').map((c) => c.trim().toUpperCase()).filter(Boolean);
  for (const c of list) if (!/^[A-Z]{2}$/.test(c)) throw new ConfigError(name, `must list ISO 3166 alpha-2 codes, got "${c}"`);
  return list;
}

function decodeKey(v: string, name: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length !== 32) throw new ConfigError(name, 'must be 32 bytes, as 64 hex characters or base64');
  return key;
}

function prefixes(env: Env, name: string): string[] {
  const v = str(env, name);
  if (v === undefined) return [];
  const list = v.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of list) if (!/^\+\d{1,15}$/.test(p)) throw new ConfigError(name, `must list E.164 prefixes (+ and 1 to 15 digits), got "${p}"`);
  return list;
}

function encryptionKey(env: Env, name: string): Buffer | undefined {
  const v = str(env, name);
  return v === undefined ? undefined : decodeKey(v, name);
}

function otpHashKey(env: Env): Buffer | undefined {
  const name = str(env, 'OTP_HASH_KEY') !== undefined ? 'OTP_HASH_KEY' : 'OTP_HASH_SECRET';
  const v = str(env, name);
  if (v === undefined) return undefined;
  if (v.length < 16) throw new ConfigError(name, 'must be at least 16 characters: it is all that protects the stored code hashes');
  return Buffer.from(v, 'utf8');
}

const EXAMPLE_PRICES = fileURLToPath(new URL('../config/prices.example.json', import.meta.url));

function priceTable(env: Env): PriceTable {
  const path = str(env, 'PRICE_TABLE_PATH') ?? EXAMPLE_PRICES;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('PRICE_TABLE_PATH', `cannot be read as JSON (${path}): ${(err as Error).message}`);
  }
  const table = parsed as PriceTable;
  if (typeof table?.currency !== 'string' || typeof table.providers !== 'object' || table.providers === null) {
    throw new ConfigError('PRICE_TABLE_PATH', 'must hold {"currency": "...", "providers": {"<provider>": {"<country>|default": price}}}');
  }
  for (const [provider, prices] of Object.entries(table.providers)) {
    for (const [country, price] of Object.entries(prices)) {
      if (typeof price !== 'number' || price < 0) throw new ConfigError('PRICE_TABLE_PATH', `has a bad price for ${provider}/${country}`);
    }
  }
  return table;
}

function sqliteDurability(env: Env): 'full' | 'normal' {
  const v = (str(env, 'SQLITE_SYNCHRONOUS') ?? 'FULL').toUpperCase();
  if (v !== 'FULL' && v !== 'NORMAL') throw new ConfigError('SQLITE_SYNCHRONOUS', 'must be FULL or NORMAL');
  return v === 'FULL' ? 'full' : 'normal';
}

/**
 * On by default: measured as users run it, the loops on their own thread gave more sends per second
 * and shorter batch latency than on the API's loop (bench/RESULTS.md). Off for an in-memory
 * SQLite database, which another thread cannot open.
 */
function dispatchThread(env: Env, databaseUrl: string): boolean {
  const inMemory = databaseUrl === 'sqlite::memory:';
  const on = bool(env, 'DISPATCH_THREAD', !inMemory);
  if (on && inMemory) throw new ConfigError('DISPATCH_THREAD', 'needs a database file or PostgreSQL: a thread cannot open the API\'s sqlite::memory: database');
  return on;
}

function httpLimits(env: Env): Config['http'] {
  const requestTimeoutMs = int(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 600_000);
  const headersTimeoutMs = int(env, 'HEADERS_TIMEOUT_MS', Math.min(10_000, requestTimeoutMs), 100, 600_000);
  // Node refuses a headers timeout longer than the whole request's.
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('HEADERS_TIMEOUT_MS', `must not exceed REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  return { requestTimeoutMs, headersTimeoutMs, maxConnectionsPerClient: int(env, 'MAX_CONNECTIONS_PER_CLIENT', 256, 1, 1_000_000) };
}

/** What provider settings read: the same trimming and URL checks as every other variable. */
export function envReader(env: Env): EnvReader {
  return { str: (name) => str(env, name), url: (name, fallback) => url(env, name, fallback) };
}

/** Reads and checks every variable once, at start; a bad one stops the start with its name. */
function redisPrefix(env: Env): string {
  const prefix = str(env, 'REDIS_PREFIX') ?? 'smsgw:';
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) throw new ConfigError('REDIS_PREFIX', 'must be 1-64 letters, digits or : _ . -');
  return prefix;
}

export function loadConfig(env: Env = process.env): Config {
  const perSecond = int(env, 'RATE_LIMIT_PER_SECOND', 10, 1);
  const databaseUrl = str(env, 'DATABASE_URL') ?? 'sqlite:./data/gateway.db';
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must start with sqlite: or postgres://');
  }
  const phoneValidation = str(env, 'PHONE_VALIDATION') ?? 'strict';
  if (phoneValidation !== 'strict' && phoneValidation !== 'format') throw new ConfigError('PHONE_VALIDATION', 'must be strict or format');
  const defaultCountry = str(env, 'DEFAULT_COUNTRY')?.toUpperCase();
  if (defaultCountry !== undefined && !/^[A-Z]{2}$/.test(defaultCountry)) throw new ConfigError('DEFAULT_COUNTRY', 'must be an ISO 3166 alpha-2 code');
  const defaultProvider = str(env, 'DEFAULT_PROVIDER') as ProviderName | undefined;
  if (defaultProvider !== undefined && !PROVIDER_NAMES.includes(defaultProvider)) {
    throw new ConfigError('DEFAULT_PROVIDER', `must be one of ${PROVIDER_NAMES.join(', ')}`);
  }
  const providerTimeoutSeconds = int(env, 'PROVIDER_TIMEOUT', 10, 1, 300);
  const leaseSeconds = int(env, 'DISPATCH_LEASE_SECONDS', providerTimeoutSeconds + 20, 1, 3600);
  if (leaseSeconds <= providerTimeoutSeconds) {
    // A lease shorter than a send could hand a live send to recovery, which could send it again.
    throw new ConfigError('DISPATCH_LEASE_SECONDS', `must be longer than PROVIDER_TIMEOUT (${providerTimeoutSeconds})`);
  }
  return {
    port: int(env, 'PORT', 8000, 0, 65535),
    host: str(env, 'HOST') ?? '0.0.0.0',
    logLevel: str(env, 'LOG_LEVEL') ?? 'info',
    databaseUrl,
    sqliteDurability: sqliteDurability(env),
    databasePool: { size: int(env, 'DATABASE_POOL_SIZE', 10, 1, 1000), statementTimeoutMs: int(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000) },
    redisUrl: str(env, 'REDIS_URL'),
    redisPrefix: redisPrefix(env),
    runWorker: bool(env, 'RUN_WORKER', true),
    dispatchThread: dispatchThread(env, databaseUrl),
    env: { ...env },
    publicUrl: url(env, 'PUBLIC_URL', `http://localhost:${int(env, 'PORT', 8000, 0, 65535)}`),
    apiKeyRequired: bool(env, 'API_KEY_REQUIRED', false),
    http: httpLimits(env),
    allowedOrigins: (str(env, 'ALLOWED_ORIGINS') ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    webhookSecret: str(env, 'WEBHOOK_SECRET'),
    defaultProvider,
    defaultFromNumber: str(env, 'DEFAULT_FROM_NUMBER'),
    maxMessageLength: int(env, 'MAX_MESSAGE_LENGTH', 1600, 1, 100_000),
    maxRecipientsPerRequest: int(env, 'MAX_RECIPIENTS_PER_REQUEST', 1000, 1, 100_000),
    rateLimits: {
      perSecond,
      perMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 100, 1),
      perHour: int(env, 'RATE_LIMIT_PER_HOUR', 1000, 1),
    },
    maxSmsPerNumberPerHour: int(env, 'MAX_SMS_PER_NUMBER_PER_HOUR', 10, 1),
    allowedCountries: countries(env, 'ALLOWED_COUNTRIES'),
    blockedCountries: countries(env, 'BLOCKED_COUNTRIES'),
    blockedPrefixes: prefixes(env, 'BLOCKED_PREFIXES'),
    phoneValidation,
    defaultCountry,
    messageEncryptionKey: encryptionKey(env, 'MESSAGE_ENCRYPTION_KEY'),
    previousMessageEncryptionKeys: (str(env, 'MESSAGE_ENCRYPTION_PREVIOUS_KEYS') ?? '').split(',').map((k) => k.trim()).filter(Boolean)
      .map((k) => decodeKey(k, 'MESSAGE_ENCRYPTION_PREVIOUS_KEYS')),
    keysFile: str(env, 'KEYS_FILE') ?? (databaseUrl.startsWith('sqlite:') && databaseUrl !== 'sqlite::memory:'
      ? join(dirname(databaseUrl.slice('sqlite:'.length)), 'keys.json') : './data/keys.json'),
    otp: {
      defaultLength: int(env, 'OTP_DEFAULT_LENGTH', 6, 4, 10),
      defaultExpirySeconds: int(env, 'OTP_DEFAULT_EXPIRY', 300, 60, 3600),
      maxAttempts: int(env, 'OTP_MAX_ATTEMPTS', 3, 1, 100),
      resendCooldownSeconds: int(env, 'OTP_RESEND_COOLDOWN', 60, 0, 3600),
      maxResends: int(env, 'OTP_MAX_RESENDS', 3, 0, 100),
      maxPerNumberPerHour: int(env, 'OTP_MAX_PER_NUMBER_PER_HOUR', 5, 1),
      pumping: {
        windowMs: int(env, 'OTP_PUMPING_WINDOW_MINUTES', 10, 1, 1440) * 60_000,
        minGenerates: int(env, 'OTP_PUMPING_MIN_GENERATES', 20, 1),
        // 0 turns the guard off: no conversion is below it.
        minConversion: num(env, 'OTP_PUMPING_MIN_CONVERSION', 0.2, 0, 1),
        blockMs: int(env, 'OTP_PUMPING_BLOCK_MINUTES', 30, 1, 10_080) * 60_000,
      },
      hashKey: otpHashKey(env),
    },
    webhooks: {
      timeoutSeconds: num(env, 'WEBHOOK_TIMEOUT', 30, 0.1, 300),
      retryAttempts: int(env, 'WEBHOOK_RETRY_ATTEMPTS', 3, 0, 100),
      retryDelaySeconds: num(env, 'WEBHOOK_RETRY_DELAY', 5, 0, 3600),
      allowPrivateNetworks: bool(env, 'CALLBACK_ALLOW_PRIVATE_NETWORKS', false),
    },
    shutdownTimeoutSeconds: int(env, 'SHUTDOWN_TIMEOUT_SECONDS', providerTimeoutSeconds + 5, 1, 3600),
    retention: str(env, 'MESSAGE_RETENTION_DAYS') === undefined && str(env, 'AUDIT_RETENTION_DAYS') === undefined ? undefined : {
      days: str(env, 'MESSAGE_RETENTION_DAYS') === undefined ? undefined : int(env, 'MESSAGE_RETENTION_DAYS', 0, 1, 36_500),
      auditDays: str(env, 'AUDIT_RETENTION_DAYS') === undefined ? undefined : int(env, 'AUDIT_RETENTION_DAYS', 0, 1, 36_500),
      batchSize: int(env, 'RETENTION_BATCH_SIZE', 500, 1, 10_000),
      intervalMs: int(env, 'RETENTION_INTERVAL_SECONDS', 60, 1, 86_400) * 1000,
    },
    dispatch: {
      // A round's claim and its outcomes are one write transaction each: 200 keeps them short enough that sends
      // accepted during a drain wait ≤ 50 ms p99 for the write lock (500: 45–50 ms), and still drains > 9,000 msg/s.
      batchSize: int(env, 'DISPATCH_BATCH_SIZE', 200, 1, 5000),
      pollIntervalMs: int(env, 'DISPATCH_POLL_INTERVAL_MS', 50, 1, 60_000),
      leaseSeconds,
      providerTimeoutSeconds,
      maxAttempts: int(env, 'SEND_MAX_ATTEMPTS', 5, 1, 100),
      retryBaseMs: int(env, 'SEND_RETRY_BASE_MS', 1000, 1),
      retryMaxMs: int(env, 'SEND_RETRY_MAX_MS', 300_000, 1),
    },
    simulator: {
      enabled: bool(env, 'SIMULATOR_ENABLED', true),
      deliveryDelayMs: int(env, 'SIMULATOR_DELIVERY_DELAY_MS', 1000, 0),
      failureRate: num(env, 'SIMULATOR_FAILURE_RATE', 0, 0, 1),
      transientErrorRate: num(env, 'SIMULATOR_TRANSIENT_ERROR_RATE', 0, 0, 1),
      latencyMs: int(env, 'SIMULATOR_LATENCY_MS', 0, 0, 60_000),
      outboxKeep: int(env, 'SIMULATOR_OUTBOX_KEEP', 10_000, 0),
    },
    smppServer: str(env, 'SMPP_SERVER_PORT') === undefined ? undefined
      : { port: int(env, 'SMPP_SERVER_PORT', 2775, 0, 65535), host: str(env, 'SMPP_SERVER_HOST') ?? '0.0.0.0' },
    providerEnv: envReader(env),
    providerBudgets: Object.fromEntries(PROVIDER_NAMES.flatMap((name) => {
      const variable = `${name.toUpperCase()}_MAX_PER_SECOND`;
      return str(env, variable) === undefined ? [] : [[name, num(env, variable, 0, 0.001, 1_000_000)]];
    })),
    routingFile: str(env, 'ROUTING_FILE'),
    circuit: {
      failureThreshold: int(env, 'CIRCUIT_FAILURE_THRESHOLD', 5, 1, 1000),
      coolDownMs: int(env, 'CIRCUIT_COOL_DOWN_MS', 30_000, 0, 3_600_000),
    },
    prices: priceTable(env),
  };
}

/**
 * For the entry points: a bad variable ends the process with its name, not a stack trace,
 * whether `loadConfig` finds it or a later step at start (provider settings, ROUTING_FILE).
 */
export async function exitOnConfigError<T>(start: () => T | Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(78);
    }
    throw err;
  }
}
