import type { ProviderDefinition } from '../definition.js';
import { ProviderEventRelay } from '../provider-events.js';
import { SmppProvider } from './client.js';
import { readSmppSettings, SMPP_REQUIRED_VARIABLES, type SmppSettings } from './settings.js';

export const smppProvider: ProviderDefinition<SmppSettings> = {
  name: 'smpp',
  requiredVariables: SMPP_REQUIRED_VARIABLES,
  // SMSC accounts are commonly sold at tens of messages per second; SMPP_MAX_PER_SECOND sets the contracted rate.
  defaultMaxPerSecond: 50,
  readSettings: readSmppSettings,
  // Without the gateway's events (a provider built alone) receipts are answered "try again later", never lost.
  create: (settings, { events }) => new SmppProvider(settings, events ?? new ProviderEventRelay()),
};
