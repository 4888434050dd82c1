import { httpErrorOutcome, providerRequest, type Fetch, type HttpAnswer } from '../http-outcome.js';
import type { OutgoingSms, ProviderCapabilities, SendOutcome, SmsProvider, StatusReport, WebhookRequest } from '../provider.js';
import { knownErrorOutcome } from './error-codes.js';
import type { ClickatellSettings } from './settings.js';
import { parseStatusCallback } from './webhook.js';

/** One SMS carries 140 octets; a longer binary payload would need our own concatenation headers. */
const MAX_BINARY_OCTETS = 140;

/** A refused request or message: the Platform API's `errorCode`/`error`/`errorDescription`, or One API's `error: {code, description}`. */
interface Refusal {
  errorCode?: unknown;
  error?: unknown;
  errorDescription?: unknown;
}

interface MessageAnswer extends Refusal {
  apiMessageId?: unknown;
  accepted?: unknown;
}

/**
 * Clickatell Platform "SMS API" of a REST integration: POST {base}/messages with the
 * integration's API key as the whole `Authorization` header (no scheme) and a JSON body
 * (https://help.clickatell.com/developers-api-reference/sms-api, `SendMessageRequest`).
 * One recipient per request, so the answer's `messages[0]` is ours.
 */
export class ClickatellProvider implements SmsProvider {
  readonly name = 'clickatell' as const;
  readonly capabilities: ProviderCapabilities = {
    // The /messages API has no message-class field, so no flash messages.
    messageTypes: ['text', 'unicode', 'binary'],
    deliveryReports: true,
    unicode: true,
    // The integration's own "maximum message parts" setting may be lower (error 100).
    maxParts: 10,
    maxConcurrency: 20,
    lookup: 'cannot: GET /messages/{id} needs Clickatell\'s id and nothing searches by clientMessageId, so a lost answer stays unknown',
  };

  constructor(
    private readonly settings: ClickatellSettings,
    private readonly fetchFn: Fetch,
  ) {}

  async send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome> {
    if (sms.messageType === 'flash') return { kind: 'rejected', code: 'UNSUPPORTED', message: 'Clickatell\'s /messages API cannot send flash (class 0) messages' };
    if (sms.messageType === 'binary' && sms.body.replace(/\s+/g, '').length / 2 > MAX_BINARY_OCTETS) {
      return { kind: 'rejected', code: 'UNSUPPORTED', message: `binary payloads over ${MAX_BINARY_OCTETS} octets are not sent through Clickatell` };
    }
    const result = await providerRequest(this.fetchFn, `${this.settings.baseUrl}/messages`, {
      method: 'POST',
      headers: { authorization: this.settings.apiKey, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(messageRequest(sms, sms.from ?? this.settings.from)),
    }, signal);
    if (!result.ok) return result.outcome;
    return interpretAnswer(result.answer);
  }

  parseWebhook(request: WebhookRequest): StatusReport[] {
    return parseStatusCallback(request, this.settings.apiKey);
  }
}

function messageRequest(sms: OutgoingSms, from: string | undefined): Record<string, unknown> {
  const binary = sms.messageType === 'binary';
  return {
    // JSON is UTF-8, and `charset` names the encoding of `content`: the platform itself picks
    // GSM-7 or UCS-2 for the air, so a UCS-2 text goes as the same text.
    content: binary ? sms.body.replace(/\s+/g, '') : sms.body,
    to: [sms.to.replace(/^\+/, '')],
    ...(from ? { from: from.replace(/^\+(?=\d+$)/, '') } : {}),
    clientMessageId: sms.id,
    ...(binary ? { binary: true } : { charset: 'UTF-8' }),
    // Minutes; rounded down so the message never outlives its expiry.
    ...(sms.validitySeconds !== undefined ? { validityPeriod: Math.max(1, Math.floor(sms.validitySeconds / 60)) } : {}),
  };
}

function interpretAnswer(answer: HttpAnswer): SendOutcome {
  const body = answer.json as ({ messages?: unknown } & Refusal) | undefined;
  const message = Array.isArray(body?.messages) && typeof body.messages[0] === 'object' && body.messages[0] !== null
    ? body.messages[0] as MessageAnswer
    : undefined;
  const ok = answer.status >= 200 && answer.status < 300;
  if (ok && message?.accepted === true && typeof message.apiMessageId === 'string' && message.apiMessageId.length > 0) {
    return { kind: 'accepted', providerMessageId: message.apiMessageId };
  }
  const refusal: Refusal | undefined = message?.accepted === false ? message : body;
  const code = errorCode(refusal);
  const text = errorText(refusal);
  if (ok) {
    if (message?.accepted !== false && code === undefined) {
      return { kind: 'unknown', code: 'PROVIDER_BAD_ANSWER', message: `unreadable answer: ${answer.text.slice(0, 200)}` };
    }
    const known = code !== undefined ? knownErrorOutcome(code, text ?? `Clickatell error ${code}`) : undefined;
    return known ?? { kind: 'rejected', code: 'PROVIDER_REJECTED', message: text ?? 'not accepted', providerErrorCode: code?.toString() };
  }
  const known = code !== undefined ? knownErrorOutcome(code, text ?? `HTTP ${answer.status}`) : undefined;
  return known ?? httpErrorOutcome(answer, { message: text, providerErrorCode: code?.toString() });
}

function errorCode(refusal: Refusal | undefined): number | undefined {
  const nested = refusal?.error as { code?: unknown } | undefined;
  const raw = refusal?.errorCode ?? (typeof nested === 'object' && nested !== null ? nested.code : undefined);
  const code = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

function errorText(refusal: Refusal | undefined): string | undefined {
  const error = refusal?.error;
  if (typeof error === 'object' && error !== null) {
    const description = (error as { description?: unknown }).description;
    return typeof description === 'string' ? description : undefined;
  }
  const parts = [error, refusal?.errorDescription].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return parts.length > 0 ? parts.join(': ') : undefined;
}
