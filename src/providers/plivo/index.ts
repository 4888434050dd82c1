import type { ProviderDefinition } from '../definition.js';
import { PlivoProvider } from './client.js';
import { PLIVO_REQUIRED_VARIABLES, readPlivoSettings, type PlivoSettings } from './settings.js';

export const plivoProvider: ProviderDefinition<PlivoSettings> = {
  name: 'plivo',
  requiredVariables: PLIVO_REQUIRED_VARIABLES,
  // A new Plivo account dispatches 5 SMS a second; Plivo queues the excess rather than refusing it.
  defaultMaxPerSecond: 5,
  readSettings: readPlivoSettings,
  create: (settings, context) => new PlivoProvider(settings, context.fetch),
};
