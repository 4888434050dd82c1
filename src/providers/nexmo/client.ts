import { basicAuth, httpErrorOutcome, providerRequest, type Fetch, type HttpAnswer } from '../http-outcome.js';
import type { InboundSms, OutgoingSms, ProviderCapabilities, SendOutcome, SmsProvider, StatusReport, WebhookRequest } from '../provider.js';
import { parseVonageInbound } from './inbound.js';
import { statusOutcome } from './send-status.js';
import type { NexmoSettings } from './settings.js';
import { parseDeliveryReceipt } from './webhook.js';

/** The SMS API refuses longer `callback` values (error 23); the dashboard's URL is used instead. */
const MAX_CALLBACK_LENGTH = 100;
/** `ttl` bounds in ms from the SMS API reference. */
const MIN_TTL_MS = 20_000;
const MAX_TTL_MS = 604_800_000;
/** One SMS carries 140 octets; a longer binary payload would need our own concatenation headers. */
const MAX_BINARY_OCTETS = 140;

interface VonageMessage {
  status?: unknown;
  'message-id'?: unknown;
  'message-price'?: unknown;
  'error-text'?: unknown;
}

/**
 * Vonage (formerly Nexmo) legacy SMS API: POST {base}/sms/json, HTTP Basic key:secret with a
 * form body, as the API reference documents it (vonage-sms-openapi.yml: `basicAuth`,
 * `application/x-www-form-urlencoded`; https://developer.vonage.com/en/api/sms).
 * The answer is HTTP 200 even when the message was refused: each part has its own `status`.
 */
export class NexmoProvider implements SmsProvider {
  readonly name = 'nexmo' as const;
  readonly capabilities: ProviderCapabilities = {
    messageTypes: ['text', 'unicode', 'binary', 'flash'],
    deliveryReports: true,
    unicode: true,
    // Vonage splits long texts itself up to its own length limit (status 12 above it).
    maxParts: 20,
    // The SMS API's default throughput is 30 requests per second per API key.
    maxConcurrency: 30,
    lookup: 'cannot: the SMS API has no search by client-ref, so a lost answer stays unknown (receipts still carry our id)',
  };

  constructor(
    private readonly settings: NexmoSettings,
    private readonly fetchFn: Fetch,
  ) {}

  async send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome> {
    const from = sms.from ?? this.settings.phoneNumber;
    if (!from) return { kind: 'rejected', code: 'PROVIDER_REJECTED', message: 'no sender: give `from` or set NEXMO_PHONE_NUMBER' };
    if (sms.messageType === 'binary' && sms.body.replace(/\s+/g, '').length / 2 > MAX_BINARY_OCTETS) {
      return { kind: 'rejected', code: 'UNSUPPORTED', message: `binary payloads over ${MAX_BINARY_OCTETS} octets are not sent through Vonage` };
    }
    const result = await providerRequest(this.fetchFn, `${this.settings.baseUrl}/sms/json`, {
      method: 'POST',
      headers: {
        authorization: basicAuth(this.settings.apiKey, this.settings.apiSecret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: smsForm(sms, from).toString(),
    }, signal);
    if (!result.ok) return result.outcome;
    return interpretAnswer(result.answer);
  }

  parseWebhook(request: WebhookRequest): StatusReport[] {
    const { signatureSecret, signatureMethod } = this.settings;
    return parseDeliveryReceipt(request, signatureSecret === undefined ? undefined : { secret: signatureSecret, method: signatureMethod });
  }

  parseInbound(request: WebhookRequest): InboundSms[] {
    const { signatureSecret, signatureMethod } = this.settings;
    return parseVonageInbound(request, signatureSecret === undefined ? undefined : { secret: signatureSecret, method: signatureMethod });
  }
}

function smsForm(sms: OutgoingSms, from: string): URLSearchParams {
  const form = new URLSearchParams();
  // Numbers go without the `+`; an alphanumeric sender goes as it is.
  form.set('from', /^\+\d+$/.test(from) ? from.slice(1) : from);
  form.set('to', sms.to.replace(/^\+/, ''));
  if (sms.messageType === 'binary') {
    // A single binary SMS needs no UDH (`udh` is optional in the reference and the SDK).
    form.set('type', 'binary');
    form.set('body', sms.body.replace(/\s+/g, ''));
  } else {
    form.set('text', sms.body);
    if (sms.encoding === 'UCS-2') form.set('type', 'unicode');
  }
  if (sms.messageType === 'flash') form.set('message-class', '0');
  if (sms.statusCallbackUrl && sms.statusCallbackUrl.length <= MAX_CALLBACK_LENGTH) form.set('callback', sms.statusCallbackUrl);
  form.set('client-ref', sms.id);
  if (sms.validitySeconds !== undefined) {
    form.set('ttl', String(Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, Math.floor(sms.validitySeconds * 1000)))));
  }
  return form;
}

/**
 * Success only when every part has status "0". When some parts were taken and others not,
 * the recipient may already see a fragment: resending would repeat the taken parts and
 * "accepted" would later read as delivered, so it is a final `rejected` naming the parts taken.
 */
function interpretAnswer(answer: HttpAnswer): SendOutcome {
  if (answer.status < 200 || answer.status >= 300) return httpErrorOutcome(answer, { message: problemText(answer.json) });
  const messages = (answer.json as { messages?: unknown } | undefined)?.messages;
  if (!Array.isArray(messages) || messages.length === 0 || !messages.every((m) => typeof m === 'object' && m !== null)) {
    return { kind: 'unknown', code: 'PROVIDER_BAD_ANSWER', message: `unreadable answer: ${answer.text.slice(0, 200)}` };
  }
  const parts = messages as VonageMessage[];
  const taken = parts.filter((m) => String(m.status) === '0');
  const refused = parts.filter((m) => String(m.status) !== '0');
  if (refused.length === 0) {
    const partIds = taken.map((m) => m['message-id']);
    if (!partIds.every((id): id is string => typeof id === 'string' && id.length > 0)) {
      return { kind: 'unknown', code: 'PROVIDER_BAD_ANSWER', message: 'status 0 without a message-id' };
    }
    const prices = taken.map((m) => Number(m['message-price'])).filter((p) => isPrice(p));
    return {
      kind: 'accepted',
      providerMessageId: partIds[0],
      partIds: partIds.length > 1 ? partIds : undefined,
      cost: prices.length > 0 ? roundPrice(prices.reduce((a, b) => a + b, 0)) : undefined,
    };
  }
  const first = refused[0];
  const status = String(first.status);
  const errorText = typeof first['error-text'] === 'string' ? first['error-text'] : '';
  if (taken.length === 0) return statusOutcome(status, errorText);
  const takenIds = taken.map((m) => String(m['message-id'])).join(', ');
  return {
    kind: 'rejected',
    code: 'PROVIDER_REJECTED',
    message: `only ${taken.length} of ${parts.length} parts were accepted (${takenIds}); the rest: ${errorText || `status ${status}`}`,
    providerErrorCode: status,
  };
}

/** Vonage's HTTP-level errors are RFC 7807 documents (`title`, `detail`). */
function problemText(json: unknown): string | undefined {
  const p = json as { title?: unknown; detail?: unknown } | undefined;
  if (typeof p?.title !== 'string') return undefined;
  return typeof p.detail === 'string' ? `${p.title}: ${p.detail}` : p.title;
}

function isPrice(p: number): boolean {
  return Number.isFinite(p) && p >= 0;
}

/** Prices come as decimal strings ("0.03330000"); summing floats must not invent digits. */
function roundPrice(n: number): number {
  return Math.round(n * 1e8) / 1e8;
}
