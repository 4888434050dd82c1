import type { FieldCipher } from '../domain/field-cipher.js';
import type { MessageRow } from '../store/message-store.js';
import { rfc2822 } from './dates.js';
import { messageSid } from './sids.js';
import { twilioErrorCode, twilioPrice, twilioStatus } from './statuses.js';

export const API_VERSION = '2010-04-01';

export function messagesUri(accountSid: string): string {
  return `/${API_VERSION}/Accounts/${accountSid}/Messages.json`;
}

/** A stored message as Twilio's Message resource. https://www.twilio.com/docs/messaging/api/message-resource */
export function twilioMessageView(m: MessageRow, accountSid: string, messagingServiceSid: string | null, cipher: FieldCipher) {
  const sid = messageSid(m.id);
  const uri = `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}.json`;
  const errorCode = twilioErrorCode(m.status, m.error_code);
  return {
    account_sid: accountSid,
    api_version: API_VERSION,
    body: cipher.open(m.body),
    date_created: rfc2822(m.created_at),
    date_sent: rfc2822(m.sent_at),
    date_updated: rfc2822(m.updated_at),
    direction: 'outbound-api',
    error_code: errorCode,
    error_message: errorCode === null ? null : m.error_message,
    from: m.from_number,
    messaging_service_sid: messagingServiceSid,
    // Twilio writes both counts as strings.
    num_media: '0',
    num_segments: String(m.segments),
    price: twilioPrice(m.status, m.cost, m.estimated_cost),
    price_unit: m.currency,
    sid,
    status: twilioStatus(m.status),
    subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') },
    to: m.to_number,
    uri,
  };
}
