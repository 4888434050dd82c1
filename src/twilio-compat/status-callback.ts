import type { Kysely } from 'kysely';
import { accountSid } from '../domain/api-keys.js';
import type { FieldCipher } from '../domain/field-cipher.js';
import { twilioSignature } from '../providers/twilio/signature.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Database } from '../store/schema.js';
import { API_VERSION } from './message-view.js';
import { messageSid, OPERATOR_ACCOUNT_SID } from './sids.js';
import { twilioErrorCode, twilioStatus } from './statuses.js';

/**
 * Keeps the key a Twilio-API request presented, sealed, to sign its messages' callbacks later:
 * the application checks them with twilio.validateRequest(authToken, …), so they must be signed
 * with the auth token itself, which the gateway otherwise only keeps as a hash. Written again
 * only when missing or sealed under an older encryption key.
 */
export async function saveSigningToken(db: Kysely<Database>, commits: GroupCommit, cipher: FieldCipher, keyId: string, token: string): Promise<void> {
  const row = await db.selectFrom('twilio_auth_tokens').select('sealed_token').where('key_id', '=', keyId).executeTakeFirst();
  if (row && cipher.isCurrent(row.sealed_token) && cipher.open(row.sealed_token) === token) return;
  const now = Date.now();
  const sealed = cipher.seal(token);
  await commits.run((trx) => trx.insertInto('twilio_auth_tokens').values({ key_id: keyId, sealed_token: sealed, updated_at: now })
    .onConflict((oc) => oc.column('key_id').doUpdateSet({ sealed_token: sealed, updated_at: now })).execute());
}

/** The auth token of a key that is still valid; a revoked key's callbacks go out unsigned. */
async function signingToken(db: Kysely<Database>, cipher: FieldCipher, keyId: string): Promise<string | undefined> {
  const row = await db.selectFrom('twilio_auth_tokens').innerJoin('api_keys', 'api_keys.id', 'twilio_auth_tokens.key_id')
    .select('twilio_auth_tokens.sealed_token').where('twilio_auth_tokens.key_id', '=', keyId).where('api_keys.revoked_at', 'is', null).executeTakeFirst();
  return row ? cipher.open(row.sealed_token) : undefined;
}

export interface CallbackMessage {
  id: string;
  to_number: string;
  from_number: string | null;
  key_id: string | null;
}

/**
 * A status change as Twilio posts it to a StatusCallback: form fields MessageSid, SmsSid,
 * MessageStatus, SmsStatus, AccountSid, From, To, ApiVersion (+ ErrorCode when failed or
 * undelivered, MessagingServiceSid when one was given), with `X-Twilio-Signature` over the URL
 * and fields under the account's auth token (the key; WEBHOOK_SECRET for the keyless operator).
 * https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
 */
export async function twilioStatusCallback(
  db: Kysely<Database>, cipher: FieldCipher, webhookSecret: string | undefined, url: string,
  change: { status: string; error_code: string | null }, message: CallbackMessage,
): Promise<{ body: string; headers: Record<string, string> }> {
  const sid = messageSid(message.id);
  const status = twilioStatus(change.status);
  const fields: Record<string, string> = {
    AccountSid: message.key_id === null ? OPERATOR_ACCOUNT_SID : accountSid(message.key_id),
    ApiVersion: API_VERSION, MessageSid: sid, MessageStatus: status, SmsSid: sid, SmsStatus: status, To: message.to_number,
  };
  if (message.from_number) fields.From = message.from_number;
  const extra = await db.selectFrom('twilio_messages').select('messaging_service_sid').where('message_id', '=', message.id).executeTakeFirst();
  if (extra?.messaging_service_sid) fields.MessagingServiceSid = extra.messaging_service_sid;
  const errorCode = twilioErrorCode(change.status, change.error_code);
  if (errorCode !== null) fields.ErrorCode = String(errorCode);
  const token = message.key_id === null ? webhookSecret : await signingToken(db, cipher, message.key_id);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'sms-gateway-callbacks/1 (twilio-compatible)' };
  if (token) headers['x-twilio-signature'] = twilioSignature(token, url, fields);
  return { body: new URLSearchParams(fields).toString(), headers };
}
