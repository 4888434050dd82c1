import type { EnvReader } from '../definition.js';

export interface PlivoSettings {
  authId: string;
  authToken: string;
  /** Default sender (`src`); `OutgoingSms.from` overrides it. */
  phoneNumber: string;
  baseUrl: string;
}

export const PLIVO_REQUIRED_VARIABLES = ['PLIVO_AUTH_ID', 'PLIVO_AUTH_TOKEN', 'PLIVO_PHONE_NUMBER'] as const;

/** Plivo needs a `src` on every message (we do not use Powerpacks), so the number is required. */
export function readPlivoSettings(env: EnvReader): PlivoSettings | undefined {
  const authId = env.str('PLIVO_AUTH_ID');
  const authToken = env.str('PLIVO_AUTH_TOKEN');
  const phoneNumber = env.str('PLIVO_PHONE_NUMBER');
  if (!authId || !authToken || !phoneNumber) return undefined;
  return { authId, authToken, phoneNumber, baseUrl: env.url('PLIVO_BASE_URL', 'https://api.plivo.com') };
}
