import type { ProviderName } from '../config.js';
import { awsSnsProvider } from './aws_sns/index.js';
import { clickatellProvider } from './clickatell/index.js';
import type { EnvReader, ProviderContext, ProviderDefinition } from './definition.js';
import { nexmoProvider } from './nexmo/index.js';
import { plivoProvider } from './plivo/index.js';
import { smppProvider } from './smpp/index.js';
import type { SmsProvider } from './provider.js';
import { twilioProvider } from './twilio/index.js';

/** Every real provider the gateway can speak; a new one is a folder and a line here. */
export const PROVIDER_DEFINITIONS: readonly ProviderDefinition[] = [twilioProvider, awsSnsProvider, plivoProvider, nexmoProvider, clickatellProvider, smppProvider];

export type ProviderSetup =
  | { name: ProviderName; enabled: true; provider: SmsProvider; defaultMaxPerSecond: number }
  | { name: ProviderName; enabled: false; missing: readonly string[]; defaultMaxPerSecond: number };

/** Reads each provider's settings: credentials make it enabled; a bad value throws ConfigError naming it. */
export function setUpProviders(env: EnvReader, context: ProviderContext): ProviderSetup[] {
  return PROVIDER_DEFINITIONS.map((definition) => {
    const settings = definition.readSettings(env);
    if (settings === undefined) {
      return { name: definition.name, enabled: false, missing: definition.requiredVariables.filter((v) => env.str(v) === undefined), defaultMaxPerSecond: definition.defaultMaxPerSecond };
    }
    return { name: definition.name, enabled: true, provider: definition.create(settings, context), defaultMaxPerSecond: definition.defaultMaxPerSecond };
  });
}
