import type { EnvReader } from '../definition.js';

export interface ClickatellSettings {
  /** The API key of a REST integration on the Clickatell Platform ("SMS Platform" integrations). */
  apiKey: string;
  baseUrl: string;
  /** Default sender (a two-way number of the integration); `OutgoingSms.from` overrides it. */
  from: string | undefined;
}

export const CLICKATELL_REQUIRED_VARIABLES = ['CLICKATELL_API_KEY'] as const;

export function readClickatellSettings(env: EnvReader): ClickatellSettings | undefined {
  const apiKey = env.str('CLICKATELL_API_KEY');
  if (!apiKey) return undefined;
  return { apiKey, baseUrl: env.url('CLICKATELL_BASE_URL', 'https://platform.clickatell.com'), from: env.str('CLICKATELL_FROM') };
}
