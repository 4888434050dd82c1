import type { ProviderDefinition } from '../definition.js';
import { TwilioProvider } from './client.js';
import { readTwilioSettings, TWILIO_REQUIRED_VARIABLES, type TwilioSettings } from './settings.js';

export const twilioProvider: ProviderDefinition<TwilioSettings> = {
  name: 'twilio',
  requiredVariables: TWILIO_REQUIRED_VARIABLES,
  // Twilio queues what exceeds a sender's own throughput (1/s for a US long code), so this caps API load, not delivery.
  defaultMaxPerSecond: 10,
  readSettings: readTwilioSettings,
  create: (settings, context) => new TwilioProvider(settings, context.fetch),
};
