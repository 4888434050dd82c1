import type { ProviderDefinition } from '../definition.js';
import { ClickatellProvider } from './client.js';
import { CLICKATELL_REQUIRED_VARIABLES, readClickatellSettings, type ClickatellSettings } from './settings.js';

export const clickatellProvider: ProviderDefinition<ClickatellSettings> = {
  name: 'clickatell',
  requiredVariables: CLICKATELL_REQUIRED_VARIABLES,
  // Clickatell publishes no default throughput per integration; error 43 tells when we exceed it.
  defaultMaxPerSecond: 20,
  readSettings: readClickatellSettings,
  create: (settings, { fetch }) => new ClickatellProvider(settings, fetch),
};
