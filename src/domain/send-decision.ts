import type { SendOutcome } from '../providers/provider.js';
import { backoffDelayMs } from './backoff.js';

export interface DecisionInput {
  outcome: SendOutcome;
  /** Who was tried. */
  provider: string;
  /** The message's ordered providers (always contains `provider`). */
  route: string[];
  /** Attempts so far, including this one. */
  attempts: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  now: number;
  /** Providers whose circuit is open now: failover skips them while another is available. */
  unavailable: ReadonlySet<string>;
  /** Jitter source for the backoff; tests pin it. */
  random?: () => number;
}

export type Decision =
  | { action: 'sent'; providerMessageId: string; partIds?: string[]; cost?: number }
  /** Final: the message failed. */
  | { action: 'fail'; code: string; message: string }
  /** Surely not taken: the next provider, due now. */
  | { action: 'failover'; to: string; code: string; message: string }
  /** Surely not taken: provider `to` (the same one after Retry-After, else the route's first available) at `dueAt`. */
  | { action: 'retry'; to: string; dueAt: number; code: string; message: string }
  /** Maybe taken: recovery asks the provider; never another provider, never a blind resend. */
  | { action: 'unknown'; code: string; message: string };

/** Longest Retry-After worth waiting for on the same provider instead of failing over. */
export const THROTTLE_WAIT_LIMIT_MS = 60_000;

/** What one send outcome does to a message. */
export function decideSendOutcome(input: DecisionInput): Decision {
  const { outcome } = input;
  switch (outcome.kind) {
    case 'accepted':
      return {
        action: 'sent',
        providerMessageId: outcome.providerMessageId,
        ...(outcome.partIds !== undefined ? { partIds: outcome.partIds } : {}),
        ...(outcome.cost !== undefined ? { cost: outcome.cost } : {}),
      };
    case 'rejected':
      return { action: 'fail', code: outcome.code, message: outcome.message };
    case 'unknown':
      // Another provider (or a resend) could deliver the message twice.
      return { action: 'unknown', code: outcome.code, message: outcome.message };
    case 'retry':
      return decideRetry(input, outcome);
  }
}

function decideRetry(input: DecisionInput, outcome: Extract<SendOutcome, { kind: 'retry' }>): Decision {
  const { provider, route, attempts, maxAttempts, now, unavailable } = input;
  const { code, message } = outcome;
  if (attempts >= maxAttempts) {
    return { action: 'fail', code, message: `gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${message}` };
  }

  const retryAfterMs = outcome.retryAfterMs !== undefined && outcome.retryAfterMs >= 0 ? outcome.retryAfterMs : undefined;
  // Retry-After is the provider telling us when it can take the message; a short wait keeps it on the
  // route's preferred (often cheaper) provider instead of spilling to the next one.
  if (code === 'PROVIDER_THROTTLED' && retryAfterMs !== undefined && retryAfterMs <= THROTTLE_WAIT_LIMIT_MS && !unavailable.has(provider)) {
    return { action: 'retry', to: provider, dueAt: now + retryAfterMs, code, message };
  }

  const next = route.slice(route.indexOf(provider) + 1).find((p) => p !== provider && !unavailable.has(p));
  if (next !== undefined) return { action: 'failover', to: next, code, message };

  // The route is exhausted: start it over after a backoff, so a message cycles its providers in order.
  const to = route.find((p) => !unavailable.has(p)) ?? route[0] ?? provider;
  let delay = backoffDelayMs(attempts, input.retryBaseMs, input.retryMaxMs, input.random);
  // Going back to the provider that asked for a wait earlier than it asked would only be refused again.
  if (to === provider && retryAfterMs !== undefined) delay = Math.max(delay, retryAfterMs);
  return { action: 'retry', to, dueAt: now + delay, code, message };
}
