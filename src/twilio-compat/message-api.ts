import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import { accountSid, type Caller } from '../domain/api-keys.js';
import { AppError, ConflictError } from '../domain/errors.js';
import type { FieldCipher } from '../domain/field-cipher.js';
import { FINAL_STATUSES, type MessageStatus } from '../domain/message-status.js';
import { normalisePhone } from '../domain/phone.js';
import type { MessageService } from '../services/message-service.js';
import { OptOutPolicy } from '../services/policies/opt-out-policy.js';
import type { SendService } from '../services/send-service.js';
import type { GroupCommit } from '../store/group-commit.js';
import { findMessage, type MessageRow } from '../store/message-store.js';
import type { Database } from '../store/schema.js';
import { sentRange } from './dates.js';
import { notFound, TwilioError } from './errors.js';
import { messagesUri, twilioMessageView } from './message-view.js';
import { ACCOUNT_SID, messageIdFromSid, messageSid, SID } from './sids.js';
import { twilioStatus } from './statuses.js';
import { saveSigningToken } from './status-callback.js';

/** Who a request to /2010-04-01/Accounts/{AccountSid} speaks for. */
export interface TwilioAccount {
  /** The AC… SID in the path. */
  sid: string;
  /** The key whose messages the account holds; null: the operator (keys off, no credentials), who sees every message. */
  keyId: string | null;
  caller: Caller;
}

/**
 * An account is one API key: its SID is derived from the key (accountSid), and another
 * account's path is a resource this key cannot see (404, as Twilio answers it). The operator
 * has no key and so no SID of its own: any well-formed SID in the path is taken as its.
 */
export function resolveAccount(caller: Caller, pathSid: string, path: string): TwilioAccount {
  if (caller.keyId === null) {
    if (!ACCOUNT_SID.test(pathSid)) throw notFound(path);
    return { sid: pathSid, keyId: null, caller };
  }
  if (pathSid !== accountSid(caller.keyId)) throw notFound(path);
  return { sid: pathSid, keyId: caller.keyId, caller };
}

export type Form = Record<string, unknown>;

/** A form field as text (a JSON body may carry numbers); absent when not given. */
function param(form: Form, name: string): string | undefined {
  const value = form[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** `whatsapp:+1…`, `messenger:…`: channels other than SMS. */
const CHANNEL_ADDRESS = /^[a-z]+:/i;
const SHORT_CODE = /^\d{3,8}$/;
/** Twilio's alphanumeric sender IDs: up to 11 characters, at least one letter. */
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}$/;
const PHONE_LIKE = /^\+?[\d\s().-]+$/;
const MESSAGING_SERVICE_SID = SID('MG');
const MAX_VALIDITY_SECONDS = 36_000;
/** Twilio's scheduling window: more than 5 minutes ahead, at most 35 days. */
const SCHEDULE_MIN_MS = 300_000;
const SCHEDULE_MAX_MS = 35 * 86_400_000;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

const unsupported = (what: string) => new TwilioError(400, 60701, `${what} is not supported by this gateway (SMS only)`);

/**
 * The 2010-04-01 Messages resource over the gateway's own services: a message is created by
 * SendService (routing, failover, limits, opt-outs, encryption, analytics all apply), canceled
 * by MessageService, and read from the same rows the native API reads.
 */
export class TwilioMessageApi {
  private readonly optOuts: OptOutPolicy;

  constructor(
    private readonly config: Config,
    private readonly db: Kysely<Database>,
    private readonly commits: GroupCommit,
    private readonly send: SendService,
    private readonly messages: MessageService,
    private readonly cipher: FieldCipher,
  ) {
    this.optOuts = new OptOutPolicy(db);
  }

  /** `authToken`: the key the request presented, kept (sealed) to sign this account's status callbacks. */
  async create(account: TwilioAccount, form: Form, authToken: string | undefined) {
    const to = param(form, 'To');
    if (to === undefined || to.trim() === '') throw new TwilioError(400, 21604, "A 'To' phone number is required.");
    if (CHANNEL_ADDRESS.test(to)) throw unsupported(`The channel of 'To' ${to.split(':')[0]}:`);
    if (param(form, 'MediaUrl') !== undefined || param(form, 'SendAsMms') === 'true') throw unsupported('MMS (MediaUrl, SendAsMms)');
    if (param(form, 'ContentSid') !== undefined) throw unsupported('Content templates (ContentSid)');
    const from = param(form, 'From');
    const messagingServiceSid = param(form, 'MessagingServiceSid');
    if (!from && !messagingServiceSid) throw new TwilioError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.");
    if (messagingServiceSid !== undefined && !MESSAGING_SERVICE_SID.test(messagingServiceSid)) {
      throw new TwilioError(400, 21705, `The Messaging Service Sid ${messagingServiceSid} is invalid.`);
    }
    const body = param(form, 'Body');
    if (body === undefined || body === '') throw new TwilioError(400, 21602, 'Message body is required.');
    const phone = normalisePhone(to, this.config.defaultCountry, this.config.phoneValidation);
    if (!phone.ok) throw new TwilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    const fromNumber = from ? this.sender(from) : undefined;
    const now = Date.now();
    const { scheduleAt, expireAt } = this.timing(form, now);
    const statusCallback = param(form, 'StatusCallback') || undefined;

    // Twilio blocks every message to a number that replied STOP, whatever it is about; the
    // gateway's opt-out rule is asked as for the traffic it always guards.
    const refused = await this.optOuts.check([{ e164: phone.phone.e164, country: phone.phone.country, smsType: 'marketing', keyId: account.keyId }], now);
    if (refused.size > 0) throw new TwilioError(400, 21610, 'Attempt to send to unsubscribed recipient');

    // Before the message exists: its first callback may go out before this request is answered.
    if (statusCallback && account.keyId !== null && authToken !== undefined) await saveSigningToken(this.db, this.commits, this.cipher, account.keyId, authToken);
    let messageId: string;
    try {
      const result = await this.send.send({
        to: [{ number: phone.phone.e164 }],
        message: body,
        from_number: fromNumber,
        callback_url: statusCallback,
        schedule_at: scheduleAt === undefined ? undefined : new Date(scheduleAt).toISOString(),
        expire_at: expireAt === undefined ? undefined : new Date(expireAt).toISOString(),
      }, undefined, account.caller, { callbackFormat: statusCallback ? 'twilio' : undefined, literal: true });
      messageId = (result.body as { messages: Array<{ id: string }> }).messages[0].id;
    } catch (err) {
      throw sendRefusal(err, to, statusCallback);
    }
    if (messagingServiceSid) {
      await this.commits.run((trx) => trx.insertInto('twilio_messages').values({ message_id: messageId, messaging_service_sid: messagingServiceSid, deleted_at: null, created_at: now }).execute());
    }
    return this.view(account, (await findMessage(this.db, messageId))!, messagingServiceSid ?? null);
  }

  async fetch(account: TwilioAccount, sid: string) {
    const { message, extra } = await this.find(account, sid);
    return this.view(account, message, extra?.messaging_service_sid ?? null);
  }

  /**
   * `Status=canceled` cancels a scheduled message (Twilio cancels nothing else: 30409);
   * `Body=` (empty) redacts the text of a finished one.
   */
  async update(account: TwilioAccount, sid: string, form: Form) {
    const { message, extra } = await this.find(account, sid);
    const status = param(form, 'Status');
    const body = param(form, 'Body');
    if (status === undefined && body === undefined) throw new TwilioError(400, 60701, 'Nothing to update: give Status=canceled or Body= (empty, to redact)');
    if (status !== undefined) {
      if (status !== 'canceled') throw new TwilioError(400, 60701, `Status can only be set to canceled, not ${status}`);
      if (message.status !== 'canceled') {
        if (message.status !== 'scheduled') throw new TwilioError(400, 30409, `Message ${sid} cannot be canceled: it is ${message.status}, and only a scheduled message can be`);
        try {
          await this.messages.cancel(message.id, account.caller);
        } catch (err) {
          // The scheduler released it in the meantime.
          if (err instanceof ConflictError) throw new TwilioError(400, 30409, `Message ${sid} cannot be canceled: it is no longer scheduled`);
          throw err;
        }
      }
    }
    if (body !== undefined) {
      if (body !== '') throw new TwilioError(400, 60701, 'Body can only be set to an empty string, to redact the message');
      const current = (await findMessage(this.db, message.id))!;
      if (!FINAL_STATUSES.includes(current.status as MessageStatus)) throw new TwilioError(400, 60701, `Message ${sid} can be redacted once it is final; it is ${current.status}`);
      await this.commits.run((trx) => this.redact(trx, message.id));
    }
    return this.view(account, (await findMessage(this.db, message.id))!, extra?.messaging_service_sid ?? null);
  }

  /**
   * Twilio deletes the record; here it leaves the Twilio API and its text is erased, while the
   * delivery record (status, cost, events) stays for analytics and the native API.
   */
  async remove(account: TwilioAccount, sid: string): Promise<void> {
    const { message } = await this.find(account, sid);
    if (!FINAL_STATUSES.includes(message.status as MessageStatus)) {
      throw new TwilioError(409, 20009, `Cannot delete message ${sid} before it is complete: it is ${twilioStatus(message.status)}`);
    }
    const now = Date.now();
    await this.commits.run(async (trx) => {
      await trx.insertInto('twilio_messages').values({ message_id: message.id, messaging_service_sid: null, deleted_at: now, created_at: now })
        .onConflict((oc) => oc.column('message_id').doUpdateSet({ deleted_at: now })).execute();
      await this.redact(trx, message.id);
    });
  }

  /**
   * Newest first, with Twilio's filters and paging. A page token names the message a page
   * starts after (`PA`, older) or before (`PB`, newer), so paging stays put while new messages arrive.
   */
  async list(account: TwilioAccount, query: Record<string, unknown>) {
    const q = (name: string) => param(query, name);
    const pageSize = this.integer(q('PageSize'), 'PageSize', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
    const page = this.integer(q('Page'), 'Page', 0, 0, Number.MAX_SAFE_INTEGER);
    const range = sentRange({ on: q('DateSent'), before: q('DateSent<'), after: q('DateSent>') });
    if ('invalid' in range) throw new TwilioError(400, 60701, `${range.invalid} must be a date (YYYY-MM-DD) or an ISO 8601 date-time`);
    const filters: Record<string, string> = {};
    let toFilter: string | undefined;
    let fromFilter: string | undefined;
    if (q('To')) {
      filters.To = q('To')!;
      const p = normalisePhone(filters.To, this.config.defaultCountry, 'format');
      toFilter = p.ok ? p.phone.e164 : filters.To;
    }
    if (q('From')) {
      filters.From = q('From')!;
      const p = PHONE_LIKE.test(filters.From) ? normalisePhone(filters.From, this.config.defaultCountry, 'format') : undefined;
      fromFilter = p?.ok ? p.phone.e164 : filters.From;
    }
    for (const name of ['DateSent', 'DateSent<', 'DateSent>']) if (q(name)) filters[name] = q(name)!;

    const token = q('PageToken');
    const anchor = token ? messageIdFromSid(token.slice(2)) : undefined;
    if (token && (!anchor || !/^P[AB]/.test(token))) throw new TwilioError(400, 60701, 'PageToken is not one this API gave');

    let selected = this.db.selectFrom('messages').leftJoin('twilio_messages', 'twilio_messages.message_id', 'messages.id')
      .selectAll('messages').select('twilio_messages.messaging_service_sid').where('twilio_messages.deleted_at', 'is', null);
    if (account.keyId !== null) selected = selected.where('messages.key_id', '=', account.keyId);
    if (toFilter) selected = selected.where('messages.to_number', '=', toFilter);
    if (fromFilter) selected = selected.where('messages.from_number', '=', fromFilter);
    if (range.from !== undefined) selected = selected.where('messages.sent_at', '>=', range.from);
    if (range.to !== undefined) selected = selected.where('messages.sent_at', '<=', range.to);

    let rows;
    let more: boolean;
    if (token?.startsWith('PB')) {
      // A page before (newer than) the anchor: read upwards, then show newest first.
      rows = (await selected.where('messages.id', '>', anchor!).orderBy('messages.id', 'asc').limit(pageSize).execute()).reverse();
      more = true;
    } else {
      let forward = selected.orderBy('messages.id', 'desc').limit(pageSize + 1);
      forward = anchor ? forward.where('messages.id', '<', anchor) : forward.offset(page * pageSize);
      rows = await forward.execute();
      more = rows.length > pageSize;
      rows = rows.slice(0, pageSize);
    }

    const base = messagesUri(account.sid);
    const uri = (pageNumber: number, pageToken?: string) => {
      const params = new URLSearchParams({ ...filters, PageSize: String(pageSize), Page: String(pageNumber) });
      if (pageToken) params.set('PageToken', pageToken);
      return `${base}?${params.toString()}`;
    };
    const first = rows[0];
    const last = rows[rows.length - 1];
    return {
      messages: rows.map((r) => this.view(account, r, r.messaging_service_sid)),
      page,
      page_size: pageSize,
      start: page * pageSize,
      end: page * pageSize + Math.max(rows.length - 1, 0),
      uri: uri(page, token),
      first_page_uri: uri(0),
      next_page_uri: more && last ? uri(page + 1, `PA${messageSid(last.id)}`) : null,
      previous_page_uri: page > 0 && first ? uri(page - 1, `PB${messageSid(first.id)}`) : null,
    };
  }

  private async find(account: TwilioAccount, sid: string): Promise<{ message: MessageRow; extra: { messaging_service_sid: string | null } | undefined }> {
    const path = `${messagesUri(account.sid).replace(/\.json$/, '')}/${sid}.json`;
    const id = messageIdFromSid(sid);
    if (!id) throw notFound(path);
    const message = await findMessage(this.db, id);
    if (!message || (account.keyId !== null && message.key_id !== account.keyId)) throw notFound(path);
    const extra = await this.db.selectFrom('twilio_messages').select(['messaging_service_sid', 'deleted_at']).where('message_id', '=', id).executeTakeFirst();
    if (extra?.deleted_at != null) throw notFound(path);
    return { message, extra };
  }

  private view(account: TwilioAccount, message: MessageRow, messagingServiceSid: string | null) {
    return twilioMessageView(message, account.sid, messagingServiceSid, this.cipher);
  }

  /** Erases a finished message's text (the stored one, and any sealed copy still waiting for a provider). */
  private async redact(trx: Kysely<Database>, id: string): Promise<void> {
    await trx.updateTable('messages').set({ body: this.cipher.seal(''), sealed_body: null }).where('id', '=', id).execute();
  }

  /** A phone number (to E.164), a short code or an alphanumeric sender ID. */
  private sender(from: string): string {
    if (CHANNEL_ADDRESS.test(from)) throw unsupported(`The channel of 'From' ${from.split(':')[0]}:`);
    if (SHORT_CODE.test(from) || ALPHANUMERIC_SENDER.test(from)) return from;
    if (PHONE_LIKE.test(from)) {
      const phone = normalisePhone(from, this.config.defaultCountry, this.config.phoneValidation);
      if (phone.ok) return phone.phone.e164;
      throw new TwilioError(400, 21606, `The From phone number ${from} is not a valid, SMS-capable phone number or short code.`);
    }
    throw new TwilioError(400, 21212, `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`);
  }

  /** ValidityPeriod (seconds in the queue), SendAt with ScheduleType=fixed. */
  private timing(form: Form, now: number): { scheduleAt?: number; expireAt?: number } {
    const scheduleType = param(form, 'ScheduleType');
    const sendAt = param(form, 'SendAt');
    if (scheduleType !== undefined && scheduleType !== 'fixed') throw new TwilioError(400, 35126, `ScheduleType ${scheduleType} is not supported: only fixed`);
    if (scheduleType === 'fixed' && !sendAt) throw new TwilioError(400, 35111, "SendAt is required when ScheduleType is 'fixed'.");
    let scheduleAt: number | undefined;
    if (sendAt) {
      // Twilio needs ScheduleType=fixed beside SendAt; a SendAt alone is taken as meant, never sent at once.
      scheduleAt = Date.parse(sendAt);
      if (Number.isNaN(scheduleAt) || scheduleAt - now <= SCHEDULE_MIN_MS || scheduleAt - now > SCHEDULE_MAX_MS) {
        throw new TwilioError(400, 35115, 'SendAt must be an ISO 8601 time more than 5 minutes and at most 35 days in the future.');
      }
    }
    const validity = param(form, 'ValidityPeriod');
    let expireAt: number | undefined;
    if (validity !== undefined) {
      const seconds = /^\d+$/.test(validity) ? Number(validity) : NaN;
      if (!(seconds >= 1 && seconds <= MAX_VALIDITY_SECONDS)) throw new TwilioError(400, 21624, 'Validity period can only be set to integers between 1 and 36,000 seconds.');
      expireAt = (scheduleAt ?? now) + seconds * 1000;
    }
    return { scheduleAt, expireAt };
  }

  private integer(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) throw new TwilioError(400, 60701, `${name} must be an integer from ${min} to ${max}`);
    return n;
  }
}

/** SendService's refusals, named by the field and reason it gives, as Twilio's codes. */
function sendRefusal(err: unknown, to: string, statusCallback: string | undefined): unknown {
  if (!(err instanceof AppError) || err instanceof TwilioError) return err;
  if (err.status === 429) return new TwilioError(429, 20429, `Too Many Requests - ${err.message}`, err.headers);
  for (const e of err.errors) {
    if (e.field.startsWith('to[')) {
      if (e.reason === 'opted_out') return new TwilioError(400, 21610, 'Attempt to send to unsubscribed recipient');
      if (e.reason === 'country_blocked' || e.reason === 'prefix_blocked') {
        return new TwilioError(400, 21408, `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}.`);
      }
      if (e.reason === 'rate_limited') return new TwilioError(429, 20429, `Too Many Requests - ${e.message}`, err.headers);
      return new TwilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    }
    if (e.field === 'message') {
      if (e.reason === 'message_too_long') return new TwilioError(400, 21617, `The concatenated message body exceeds the character limit: Body ${e.message}`);
      return new TwilioError(400, 21602, 'Message body is required.');
    }
    if (e.field === 'callback_url') return new TwilioError(400, 21609, `The StatusCallback URL ${statusCallback} is not a valid URL: ${e.message}`);
    if (e.field === 'expire_at') return new TwilioError(400, 21624, `ValidityPeriod ${e.message}`);
    if (e.field === 'schedule_at') return new TwilioError(400, 35115, `SendAt ${e.message}`);
    if (e.field === 'provider' || e.field === 'message_type') return new TwilioError(400, 21612, `The 'To' phone number ${to} is not currently reachable via SMS: ${e.message}`);
  }
  return new TwilioError(400, 60701, err.message);
}
