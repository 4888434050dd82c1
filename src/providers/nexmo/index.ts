import type { ProviderDefinition } from '../definition.js';
import { NexmoProvider } from './client.js';
import { NEXMO_REQUIRED_VARIABLES, readNexmoSettings, type NexmoSettings } from './settings.js';

export const nexmoProvider: ProviderDefinition<NexmoSettings> = {
  name: 'nexmo',
  requiredVariables: NEXMO_REQUIRED_VARIABLES,
  // The SMS API's default account throughput: 30 API requests per second.
  defaultMaxPerSecond: 30,
  readSettings: readNexmoSettings,
  create: (settings, { fetch }) => new NexmoProvider(settings, fetch),
};
