import type { EnvReader } from '../definition.js';

export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  /** Default sender; `OutgoingSms.from` overrides it. */
  phoneNumber: string | undefined;
  /** When set and no sender is given, Twilio picks the sender from the service's pool. */
  messagingServiceSid: string | undefined;
  baseUrl: string;
}

export const TWILIO_REQUIRED_VARIABLES = ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_PHONE_NUMBER'] as const;

/** Enabled with credentials and a way to pick a sender: a phone number or a Messaging Service. */
export function readTwilioSettings(env: EnvReader): TwilioSettings | undefined {
  const accountSid = env.str('TWILIO_ACCOUNT_SID');
  const authToken = env.str('TWILIO_AUTH_TOKEN');
  const phoneNumber = env.str('TWILIO_PHONE_NUMBER');
  const messagingServiceSid = env.str('TWILIO_MESSAGING_SERVICE_SID');
  if (!accountSid || !authToken || (!phoneNumber && !messagingServiceSid)) return undefined;
  return { accountSid, authToken, phoneNumber, messagingServiceSid, baseUrl: env.url('TWILIO_BASE_URL', 'https://api.twilio.com') };
}
