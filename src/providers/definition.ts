import type { ProviderName } from '../config.js';
import type { Fetch } from './http-outcome.js';
import type { ProviderEvents } from './provider-events.js';
import type { SmsProvider } from './provider.js';

/** Reads environment variables for a provider's settings; a bad value throws ConfigError naming it. */
export interface EnvReader {
  /** Trimmed value, or undefined when unset or blank. */
  str(name: string): string | undefined;
  /** An http(s) URL without a trailing slash. */
  url(name: string, fallback: string): string;
}

export interface ProviderContext {
  fetch: Fetch;
  /** Where a provider that hears reports and inbound messages on its own connection (SMPP) hands them. */
  events?: ProviderEvents;
}

/**
 * One provider as the registry knows it: which variables it reads, whether it is enabled,
 * and how to build its client. Config, wiring, `GET /api/providers` and the webhook route
 * all loop over these, so a new provider is one folder plus one line in the registry.
 */
export interface ProviderDefinition<S = any> {
  name: ProviderName;
  /** The variables it needs to be enabled, for the "disabled: set X" message. */
  requiredVariables: readonly string[];
  /** Sending budget in segments per second when neither the routing file nor `<NAME>_MAX_PER_SECOND` sets one. */
  defaultMaxPerSecond: number;
  /** Its settings, or undefined when a required variable is missing (the provider is then disabled). */
  readSettings(env: EnvReader): S | undefined;
  create(settings: S, context: ProviderContext): SmsProvider;
}
