import type { ProviderName } from '../config.js';
import type { InboundSms, StatusReport } from './provider.js';

/**
 * What a provider that hears delivery reports and inbound messages on its own connection (SMPP,
 * rather than a webhook) hands to the gateway. Each call resolves once the gateway has stored
 * what it was given, so the provider acknowledges to its peer only what will not be lost.
 */
export interface ProviderEvents {
  /**
   * Resolves once stored, with the provider ids of reports kept for later because no message has
   * that id yet (its send's answer is not stored yet).
   */
  statusReports(provider: ProviderName, reports: StatusReport[]): Promise<{ kept: string[] }>;
  /**
   * Applies reports kept for later whose message now has its provider id. The dispatcher does so as
   * it stores a send's answer, but on PostgreSQL a report stored in a concurrent transaction can miss
   * that look: a provider whose reports come within milliseconds of the answer asks again.
   */
  applyKept(provider: ProviderName, providerMessageIds: string[]): Promise<void>;
  inbound(provider: ProviderName, sms: InboundSms): Promise<void>;
}

/** The gateway is still starting: nothing can store a report yet (the provider asks its peer to resend). */
export class ProviderEventsNotReadyError extends Error {
  override readonly name = 'ProviderEventsNotReadyError';
}

/**
 * Providers are built before the services that store reports; this stands in for those services
 * until `connect` is called with them.
 */
export class ProviderEventRelay implements ProviderEvents {
  private target: ProviderEvents | undefined;

  connect(target: ProviderEvents): void {
    this.target = target;
  }

  statusReports(provider: ProviderName, reports: StatusReport[]): Promise<{ kept: string[] }> {
    if (!this.target) return Promise.reject(new ProviderEventsNotReadyError('delivery reports cannot be stored yet'));
    return this.target.statusReports(provider, reports);
  }

  applyKept(provider: ProviderName, providerMessageIds: string[]): Promise<void> {
    if (!this.target) return Promise.reject(new ProviderEventsNotReadyError('delivery reports cannot be applied yet'));
    return this.target.applyKept(provider, providerMessageIds);
  }

  inbound(provider: ProviderName, sms: InboundSms): Promise<void> {
    if (!this.target) return Promise.reject(new ProviderEventsNotReadyError('inbound messages cannot be stored yet'));
    return this.target.inbound(provider, sms);
  }
}
