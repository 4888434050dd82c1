import { basicAuth, httpErrorOutcome, providerRequest, retryAfterMs, type Fetch, type HttpAnswer } from '../http-outcome.js';
import type { InboundSms, LookupHint, OutgoingSms, SendOutcome, SmsProvider, StatusReport, WebhookRequest } from '../provider.js';
import { parseTwilioInbound } from './inbound.js';
import type { TwilioSettings } from './settings.js';
import { MESSAGE_ID_PARAMETER, parseTwilioStatusCallback } from './webhook.js';

/** Twilio error codes that are the message's own, final fault. https://www.twilio.com/docs/api/errors */
const PERMANENT_ERRORS: Record<string, string> = {
  '21211': 'INVALID_NUMBER', // invalid 'To' number
  '21614': 'INVALID_NUMBER', // 'To' is not a mobile number
  '21610': 'OPTED_OUT', // recipient replied STOP
  '21408': 'BLOCKED', // no permission to send to that region
  '21612': 'BLOCKED', // Twilio cannot route to that number
};
const TOO_MANY_REQUESTS = '20429';
const MAX_VALIDITY_SECONDS = 36_000;

/** Lookup searches messages to the recipient created this long before and after the attempt (clock skew, slow answers). */
export const LOOKUP_BEFORE_MS = 60_000;
export const LOOKUP_AFTER_MS = 5 * 60_000;
/** Pages of 1000 read before lookup gives up rather than guess. */
const LOOKUP_MAX_PAGES = 5;

interface TwilioMessage {
  sid?: unknown;
  to?: unknown;
  direction?: unknown;
  date_created?: unknown;
  price?: unknown;
}

/**
 * Twilio Programmable Messaging, Messages resource (API 2010-04-01).
 * https://www.twilio.com/docs/messaging/api/message-resource
 */
export class TwilioProvider implements SmsProvider {
  readonly name = 'twilio' as const;
  readonly capabilities = {
    // The Messages API takes text only: no UDH (binary) and no message class (flash).
    messageTypes: ['text', 'unicode'] as const,
    deliveryReports: true,
    unicode: true,
    // Body is at most 1600 characters; 10 parts always fit (1530 GSM-7 or 670 UCS-2 characters).
    maxParts: 10,
    maxConcurrency: 25,
    lookup: `by recipient and time: the one outbound message to the number created within ${LOOKUP_BEFORE_MS / 1000} s before to ${LOOKUP_AFTER_MS / 1000} s after the attempt`,
  };

  private readonly authorization: string;
  private readonly messagesUrl: string;

  constructor(private readonly settings: TwilioSettings, private readonly fetchFn: Fetch) {
    this.authorization = basicAuth(settings.accountSid, settings.authToken);
    this.messagesUrl = `${settings.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(settings.accountSid)}/Messages.json`;
  }

  async send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome> {
    if (sms.messageType === 'binary' || sms.messageType === 'flash') {
      return { kind: 'rejected', code: 'UNSUPPORTED', message: `Twilio cannot send ${sms.messageType} messages` };
    }
    const form = new URLSearchParams({ To: sms.to, Body: sms.body });
    // An explicit sender wins; otherwise a Messaging Service picks from its pool, else the default number.
    const from = sms.from ?? (this.settings.messagingServiceSid ? undefined : this.settings.phoneNumber);
    if (from) form.set('From', from);
    if (this.settings.messagingServiceSid) form.set('MessagingServiceSid', this.settings.messagingServiceSid);
    form.set('StatusCallback', withMessageId(sms.statusCallbackUrl, sms.id));
    if (sms.validitySeconds !== undefined) {
      form.set('ValidityPeriod', String(Math.min(MAX_VALIDITY_SECONDS, Math.max(1, Math.floor(sms.validitySeconds)))));
    }
    const result = await providerRequest(this.fetchFn, this.messagesUrl, {
      method: 'POST',
      headers: { authorization: this.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    }, signal);
    if (!result.ok) return result.outcome;
    return sendOutcome(result.answer);
  }

  /**
   * Lists every message to the recipient (newest first, 1000 a page) and keeps the outbound ones
   * created in the window around the attempt. No date filter: Twilio's only one is on `date_sent`,
   * which is empty while a message waits in Twilio's queue, and that message must be found.
   */
  async lookup(hint: LookupHint, signal: AbortSignal): Promise<{ providerMessageId: string } | null> {
    const earliest = hint.attemptedAt - LOOKUP_BEFORE_MS;
    const latest = hint.attemptedAt + LOOKUP_AFTER_MS;
    const matches: string[] = [];
    let url: string | undefined = `${this.messagesUrl}?${new URLSearchParams({ To: hint.to, PageSize: '1000' })}`;
    for (let page = 0; url !== undefined; page++) {
      if (page === LOOKUP_MAX_PAGES) {
        throw new Error(`Twilio lookup: more than ${LOOKUP_MAX_PAGES} pages of messages to ${hint.to}; cannot tell whether ${hint.messageId} was taken`);
      }
      const list = await this.listPage(url, signal);
      for (const m of list.messages) {
        const created = typeof m.date_created === 'string' ? Date.parse(m.date_created) : NaN;
        const outbound = typeof m.direction === 'string' && m.direction.startsWith('outbound');
        if (outbound && m.to === hint.to && typeof m.sid === 'string' && created >= earliest && created <= latest) matches.push(m.sid);
      }
      url = list.nextPageUri ? `${this.settings.baseUrl}${list.nextPageUri}` : undefined;
    }
    if (matches.length === 1) return { providerMessageId: matches[0] };
    if (matches.length === 0) return null;
    throw new Error(`Twilio lookup: ${matches.length} messages to ${hint.to} around the attempt (${matches.join(', ')}); cannot tell which is ${hint.messageId}`);
  }

  parseWebhook(request: WebhookRequest): StatusReport[] {
    return parseTwilioStatusCallback(request, this.settings.authToken);
  }

  parseInbound(request: WebhookRequest): InboundSms[] {
    return parseTwilioInbound(request, this.settings.authToken);
  }

  private async listPage(url: string, signal: AbortSignal): Promise<{ messages: TwilioMessage[]; nextPageUri: string | undefined }> {
    const result = await providerRequest(this.fetchFn, url, { method: 'GET', headers: { authorization: this.authorization, accept: 'application/json' } }, signal);
    if (!result.ok) throw new Error(`Twilio lookup failed: ${result.outcome.kind === 'accepted' ? 'no answer' : result.outcome.message}`);
    const { status, json, text } = result.answer;
    const body = json as { messages?: unknown; next_page_uri?: unknown } | undefined;
    if (status !== 200 || !Array.isArray(body?.messages)) throw new Error(`Twilio lookup failed: HTTP ${status} ${text.slice(0, 200)}`);
    return {
      messages: body.messages as TwilioMessage[],
      nextPageUri: typeof body.next_page_uri === 'string' && body.next_page_uri !== '' ? body.next_page_uri : undefined,
    };
  }
}

function sendOutcome(answer: HttpAnswer): SendOutcome {
  const body = answer.json as (TwilioMessage & { code?: unknown; message?: unknown }) | undefined;
  if (answer.status >= 200 && answer.status < 300) {
    if (typeof body?.sid !== 'string' || body.sid === '') {
      return { kind: 'unknown', code: 'PROVIDER_BAD_ANSWER', message: `Twilio answered ${answer.status} without a message sid: ${answer.text.slice(0, 200)}` };
    }
    // Twilio reports a charge as a negative amount ("-0.00750"), usually only once the message is sent.
    const price = typeof body.price === 'string' ? Number(body.price) : NaN;
    return { kind: 'accepted', providerMessageId: body.sid, ...(Number.isFinite(price) ? { cost: Math.abs(price) } : {}) };
  }
  const providerErrorCode = body?.code !== undefined && body.code !== null ? String(body.code) : undefined;
  const message = typeof body?.message === 'string' ? body.message : undefined;
  const permanent = providerErrorCode ? PERMANENT_ERRORS[providerErrorCode] : undefined;
  if (permanent) return { kind: 'rejected', code: permanent, message: message ?? `Twilio error ${providerErrorCode}`, providerErrorCode };
  if (providerErrorCode === TOO_MANY_REQUESTS) {
    return { kind: 'retry', code: 'PROVIDER_THROTTLED', message: message ?? 'Too Many Requests', retryAfterMs: retryAfterMs(answer.headers), providerErrorCode };
  }
  return httpErrorOutcome(answer, { message, providerErrorCode });
}

/** Our id rides in the StatusCallback query (which Twilio signs), so a report names our message even when the send answer was lost. */
function withMessageId(callbackUrl: string, messageId: string): string {
  return `${callbackUrl}${callbackUrl.includes('?') ? '&' : '?'}${MESSAGE_ID_PARAMETER}=${encodeURIComponent(messageId)}`;
}
