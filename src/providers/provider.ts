import type { ProviderName } from '../config.js';
import type { Encoding, MessageType } from '../domain/encoding.js';
import type { MessageStatus, SmsType } from '../domain/message-status.js';

/** What a provider is asked to send: one message to one recipient. */
export interface OutgoingSms {
  /** Our message id; providers that carry a client reference get it, so a lost answer can be looked up. */
  id: string;
  /** E.164 with its `+`; a provider that wants it without strips it itself. */
  to: string;
  from: string | undefined;
  /** The text; for `binary` messages, the payload in hex. */
  body: string;
  messageType: MessageType;
  encoding: Encoding;
  segments: number;
  smsType: SmsType;
  /** Where the provider should post its delivery reports for this message. */
  statusCallbackUrl: string;
  validitySeconds: number | undefined;
}

/**
 * `accepted`: the provider took it. `rejected`: it never will (bad number, blocked): final.
 * `retry`: it certainly did not take it and may later (throttled, down). `unknown`: it may or
 * may not have taken it (timeout after the request went out): never resent blindly, never failed over.
 * `providerErrorCode` is the provider's own code, kept beside our normalised `code`.
 */
export type SendOutcome =
  | {
    kind: 'accepted';
    providerMessageId: string;
    /** One id per part when the provider splits a long text and reports each part on its own (Vonage). */
    partIds?: string[];
    /** The provider's own price for the message, when its answer carries one. */
    cost?: number;
  }
  | { kind: 'rejected'; code: string; message: string; providerErrorCode?: string }
  | { kind: 'retry'; code: string; message: string; retryAfterMs?: number; providerErrorCode?: string }
  | { kind: 'unknown'; code: string; message: string; providerErrorCode?: string };

/** Most reports one webhook request may carry; a provider batching more sends more requests. */
export const MAX_REPORTS_PER_REQUEST = 1000;

/** A delivery report in our terms. */
export interface StatusReport {
  /** The provider's id of the message, or of the part this report is about. */
  providerMessageId: string;
  /** Our id, when the provider echoes a client reference. */
  messageId?: string;
  status: MessageStatus;
  /** Our normalised code (e.g. UNDELIVERABLE, EXPIRED, REJECTED). */
  errorCode?: string;
  /** The provider's own error code, as it sent it. */
  providerErrorCode?: string;
  errorMessage?: string;
  timestamp?: number;
  /** The provider's reported price, when the report carries one. */
  cost?: number;
  /**
   * Set when the report is about one part of a long text the provider sent as several:
   * the part's own id and, when the report says it, how many parts there are. The message's
   * status is then built from every part's (delivered once all are, failed once one is).
   */
  part?: { id: string; count?: number };
}

export interface WebhookRequest {
  /** The full URL the provider called, as it signed it (PUBLIC_URL + path + query). */
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  /** Parsed body: an object for JSON and form bodies. */
  body: unknown;
  query: Record<string, string>;
}

/** A message a phone sent to one of our numbers, as the provider's inbound webhook reported it. */
export interface InboundSms {
  /** The sender as the provider wrote it, with a `+` added where the provider leaves it out. */
  from: string;
  /** Our number it was sent to. */
  to?: string;
  text: string;
  providerMessageId?: string;
  /** When the provider says it received the message (epoch ms), if it says. */
  receivedAt?: number;
  /**
   * Set when the provider passes a long text on part by part (Vonage): this is one part, so its
   * text is never taken for a keyword (a long message may well end in a part reading "stop").
   */
  part?: { ref: string; index: number; total: number };
}

export interface ProviderCapabilities {
  messageTypes: readonly MessageType[];
  /** Whether the provider posts delivery reports; without them `sent` is as far as we can know. */
  deliveryReports: boolean;
  /** Whether texts outside GSM 03.38 arrive intact. */
  unicode: boolean;
  /** Most parts the provider sends one long text as. */
  maxParts: number;
  /** Sends in flight at once: HTTP providers cap concurrent requests per account. */
  maxConcurrency: number;
  /** Whether `lookup` can find a message whose send answer was lost, and how (for GET /api/providers and README). */
  lookup: string;
}

export interface LookupHint {
  /** Our message id (client reference, where the provider stores one). */
  messageId: string;
  to: string;
  /** When the send was attempted: providers that can only search by recipient and time use it. */
  attemptedAt: number;
}

/** The state of a provider that keeps connections open (SMPP binds), for GET /api/providers and /metrics. */
export interface ProviderConnections {
  connections: Array<{
    state: 'connecting' | 'bound' | 'waiting' | 'closed';
    since: number;
    lastError: string | null;
    /** While `waiting`: when the next bind attempt is due. */
    nextAttemptAt: number | null;
  }>;
  /** Binds lost or refused since start, each followed by a new attempt. */
  reconnects: number;
}

export interface SmsProvider {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  /** Providers that hold connections open them here (with the dispatcher) and close them in `stop`. */
  start?(): void;
  stop?(): Promise<void>;
  /** Undefined where it was not started: that process holds none of the connections (the API beside a dispatch thread). */
  connections?(): ProviderConnections | undefined;
  send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome>;
  /**
   * Finds a message after a send whose answer was lost. `null` means the provider is
   * certain it never took it. Providers that cannot answer that leave it undefined.
   */
  lookup?(hint: LookupHint, signal: AbortSignal): Promise<{ providerMessageId: string } | null>;
  /** Verifies the provider's own signature (throws UnauthorizedError) and maps the report. */
  parseWebhook(request: WebhookRequest): StatusReport[];
  /**
   * Verifies the provider's own signature (throws UnauthorizedError) and maps its inbound-message
   * webhook. Providers without an inbound format leave it undefined.
   */
  parseInbound?(request: WebhookRequest): InboundSms[];
}
