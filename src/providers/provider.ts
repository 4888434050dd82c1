import type { ProviderName } from '../config.js';
import type { Encoding, MessageType } from '../domain/encoding.js';
import type { MessageStatus, SmsType } from '../domain/message-status.js';

/** What a provider is asked to send: one message to one recipient. */
export interface OutgoingSms {
  /** Our message id; providers that carry a client reference get it, so a lost answer can be looked up. */
  id: string;
  to: string;
  from: string | undefined;
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
 * may not have taken it (timeout after the request went out): never resent blindly.
 */
export type SendOutcome =
  | { kind: 'accepted'; providerMessageId: string; cost?: number }
  | { kind: 'rejected'; code: string; message: string }
  | { kind: 'retry'; code: string; message: string; retryAfterMs?: number }
  | { kind: 'unknown'; code: string; message: string };

/** A delivery report in our terms. */
export interface StatusReport {
  providerMessageId: string;
  /** Our id, when the provider echoes a client reference. */
  messageId?: string;
  status: MessageStatus;
  errorCode?: string;
  errorMessage?: string;
  timestamp?: number;
  cost?: number;
}

export interface WebhookRequest {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  body: unknown;
  query: Record<string, string>;
}

export interface ProviderCapabilities {
  messageTypes: readonly MessageType[];
  /** Whether the provider posts delivery reports; without them `sent` is as far as we can know. */
  deliveryReports: boolean;
  /** Sends in flight at once: HTTP providers cap concurrent requests per account. */
  maxConcurrency: number;
}

export interface SmsProvider {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  send(sms: OutgoingSms, signal: AbortSignal): Promise<SendOutcome>;
  /**
   * Finds a message by our id after a send whose answer was lost. `null` means the provider
   * is certain it never took it. Providers that cannot answer that leave it undefined.
   */
  lookup?(messageId: string): Promise<{ providerMessageId: string } | null>;
  /** Verifies the provider's own signature (throws UnauthorizedError) and maps the report. */
  parseWebhook(request: WebhookRequest): StatusReport[];
}
