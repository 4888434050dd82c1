import type { ProviderDefinition } from '../definition.js';
import { AwsSnsProvider } from './client.js';
import { readAwsSnsSettings, type AwsSnsSettings } from './settings.js';

export const awsSnsProvider: ProviderDefinition<AwsSnsSettings> = {
  name: 'aws_sns',
  requiredVariables: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  // A cautious start: the account's real rate depends on its origination identities.
  defaultMaxPerSecond: 20,
  readSettings: readAwsSnsSettings,
  create: (settings, context) => new AwsSnsProvider(settings, context.fetch),
};
