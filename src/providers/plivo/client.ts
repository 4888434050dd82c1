import { basicAuth, httpErrorOutcome, providerRequest, type Fetch, type HttpAnswer } from '../http-outcome.js';
import type { InboundSms, LookupHint, OutgoingSms, SendOutcome, SmsProvider, StatusReport, WebhookRequest } from '../provider.js';
import { parsePlivoInbound } from './inbound.js';
import type { PlivoSettings } from './settings.js';
import { MESSAGE_ID_PARAMETER, parsePlivoStatusCallback } from './webhook.js';

/** Plivo's queue expiry, `message_expiry`, in seconds (Plivo changelog "Flexible Message Expiry Setting"). */
const MIN_EXPIRY_SECONDS = 5;
const MAX_EXPIRY_SECONDS = 10_799;

/** Lookup searches messages to the recipient initiated this long before and after the attempt. */
export const LOOKUP_BEFORE_MS = 60_000;
export const LOOKUP_AFTER_MS = 5 * 60_000;
/** Plivo lists 20 a page and allows 20 list requests a minute: a longer list is not read, lookup says it cannot tell. */
const LOOKUP_MAX_PAGES = 5;

interface PlivoRecord {
  message_uuid?: unknown;
  to_number?: unknown;
  message_direction?: unknown;
  message_time?: unknown;
}

/**
 * Plivo Message API. https://www.plivo.com/docs/messaging/api/message/send-a-message
 */
export class PlivoProvider implements SmsProvider {
  readonly name = 'plivo' as const;
  readonly capabilities = {
    // The Message API takes text (GSM or Unicode) only: no UDH (binary), no message class (flash).
    messageTypes: ['text', 'unicode'] as const,
    deliveryReports: true,
    unicode: true,
    // Text is at most 1600 GSM-7 or 737 UCS-2 characters; 10 parts always fit (1530 / 670).
    maxParts: 10,
    maxConcurrency: 20,
    lookup: `by recipient and time: the one outbound message to the number initiated within ${LOOKUP_BEFORE_MS / 1000} s before to ${LOOKUP_AFTER_MS / 1000} s after the attempt`,
  };

  private readonly authorization: string;
  private readonly messagesUrl: string;

  constructor(private readonly settings: PlivoSettings, private readonly fetchFn: Fetch) {
    this.authorization = basicAuth(settings.authId, settings.authToken);
    this.messagesUrl = `${settings.baseUrl}/v1/Account/${encodeURIComponent(settings.authId)}/Message/`;
  }

  async send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome> {
    if (sms.messageType === 'binary' || sms.messageType === 'flash') {
      return { kind: 'rejected', code: 'UNSUPPORTED', message: `Plivo cannot send ${sms.messageType} messages` };
    }
    const dst = withoutPlus(sms.to);
    const payload: Record<string, unknown> = {
      src: sms.from ?? this.settings.phoneNumber,
      dst,
      text: sms.body,
      type: 'sms',
      url: withMessageId(sms.statusCallbackUrl, sms.id),
      method: 'POST',
    };
    if (sms.validitySeconds !== undefined) {
      payload.message_expiry = Math.min(MAX_EXPIRY_SECONDS, Math.max(MIN_EXPIRY_SECONDS, Math.floor(sms.validitySeconds)));
    }
    const result = await providerRequest(this.fetchFn, this.messagesUrl, {
      method: 'POST',
      headers: { authorization: this.authorization, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(payload),
    }, signal);
    if (!result.ok) return result.outcome;
    return sendOutcome(result.answer, dst);
  }

  /**
   * Lists outbound messages to the recipient initiated in the window around the attempt
   * (`to_number`, `message_time__gte/__lte`, newest first, 20 a page).
   */
  async lookup(hint: LookupHint, signal: AbortSignal): Promise<{ providerMessageId: string } | null> {
    const earliest = hint.attemptedAt - LOOKUP_BEFORE_MS;
    const latest = hint.attemptedAt + LOOKUP_AFTER_MS;
    const query = new URLSearchParams({
      message_direction: 'outbound', to_number: hint.to,
      message_time__gte: plivoTime(earliest), message_time__lte: plivoTime(latest), limit: '20', offset: '0',
    });
    const matches: string[] = [];
    let url: string | undefined = `${this.messagesUrl}?${query}`;
    for (let page = 0; url !== undefined; page++) {
      if (page === LOOKUP_MAX_PAGES) {
        throw new Error(`Plivo lookup: more than ${LOOKUP_MAX_PAGES * 20} messages to ${hint.to} around the attempt; cannot tell whether ${hint.messageId} was taken`);
      }
      const list = await this.listPage(url, signal);
      for (const m of list.objects) {
        const at = typeof m.message_time === 'string' ? parsePlivoTime(m.message_time) : NaN;
        const toRecipient = typeof m.to_number === 'string' && withoutPlus(m.to_number) === withoutPlus(hint.to);
        // The filter already applied; the checks guard against a filter silently ignored.
        const inWindow = Number.isNaN(at) || (at >= earliest && at <= latest);
        if (m.message_direction === 'outbound' && toRecipient && inWindow && typeof m.message_uuid === 'string') matches.push(m.message_uuid);
      }
      url = list.next ? `${this.settings.baseUrl}${list.next}` : undefined;
    }
    if (matches.length === 1) return { providerMessageId: matches[0] };
    if (matches.length === 0) return null;
    throw new Error(`Plivo lookup: ${matches.length} messages to ${hint.to} around the attempt (${matches.join(', ')}); cannot tell which is ${hint.messageId}`);
  }

  parseWebhook(request: WebhookRequest): StatusReport[] {
    return parsePlivoStatusCallback(request, this.settings.authToken);
  }

  parseInbound(request: WebhookRequest): InboundSms[] {
    return parsePlivoInbound(request, this.settings.authToken);
  }

  private async listPage(url: string, signal: AbortSignal): Promise<{ objects: PlivoRecord[]; next: string | undefined }> {
    const result = await providerRequest(this.fetchFn, url, { method: 'GET', headers: { authorization: this.authorization, accept: 'application/json' } }, signal);
    if (!result.ok) throw new Error(`Plivo lookup failed: ${result.outcome.kind === 'accepted' ? 'no answer' : result.outcome.message}`);
    const { status, json, text } = result.answer;
    const body = json as { objects?: unknown; meta?: { next?: unknown } } | undefined;
    if (status !== 200 || !Array.isArray(body?.objects)) throw new Error(`Plivo lookup failed: HTTP ${status} ${text.slice(0, 200)}`);
    const next = body.meta?.next;
    return { objects: body.objects as PlivoRecord[], next: typeof next === 'string' && next !== '' ? next : undefined };
  }
}

function sendOutcome(answer: HttpAnswer, dst: string): SendOutcome {
  const body = answer.json as { message_uuid?: unknown; invalid_number?: unknown; error?: unknown } | undefined;
  if (answer.status >= 200 && answer.status < 300) {
    const uuids = Array.isArray(body?.message_uuid) ? body.message_uuid.filter((u): u is string => typeof u === 'string' && u !== '') : [];
    if (uuids.length > 0) return { kind: 'accepted', providerMessageId: uuids[0] };
    // A request with no valid destination is answered with the number listed as invalid.
    if (Array.isArray(body?.invalid_number) && body.invalid_number.map(String).map(withoutPlus).includes(dst)) {
      return { kind: 'rejected', code: 'INVALID_NUMBER', message: `Plivo lists ${dst} as an invalid number` };
    }
    return { kind: 'unknown', code: 'PROVIDER_BAD_ANSWER', message: `Plivo answered ${answer.status} without a message_uuid: ${answer.text.slice(0, 200)}` };
  }
  // Plivo's errors are {api_id, error} with a sentence, no code.
  const message = typeof body?.error === 'string' ? body.error : undefined;
  if (answer.status === 400 && message && /\b(dst|destination)\b/i.test(message)) {
    return { kind: 'rejected', code: 'INVALID_NUMBER', message };
  }
  return httpErrorOutcome(answer, { message });
}

function withoutPlus(number: string): string {
  return number.replace(/^\+/, '');
}

/** Records carry "2017-05-22 21:36:14+05:30" (the account's zone); a time without a zone is taken as UTC, like the filters. */
function parsePlivoTime(text: string): number {
  const iso = text.trim().replace(' ', 'T');
  return Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(iso) ? iso : `${iso}Z`);
}

/** "YYYY-MM-DD HH:MM:SS" in UTC, the form the list filters take. */
function plivoTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** Our id rides in the callback URL's query (signed by V3), so a report names our message even when the send answer was lost. */
function withMessageId(callbackUrl: string, messageId: string): string {
  return `${callbackUrl}${callbackUrl.includes('?') ? '&' : '?'}${MESSAGE_ID_PARAMETER}=${encodeURIComponent(messageId)}`;
}
