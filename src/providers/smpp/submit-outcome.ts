import type { SendOutcome } from '../provider.js';
import { CommandStatus, statusName } from './protocol/command-status.js';

/** Refusals that are about the number: the message can never go to it. */
const INVALID_DESTINATION: ReadonlySet<number> = new Set([CommandStatus.ESME_RINVDSTADR, CommandStatus.ESME_RINVDSTTON, CommandStatus.ESME_RINVDSTNPI]);

/** The SMSC is busy: it did not take the message and will later. */
const THROTTLED: ReadonlySet<number> = new Set([CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL]);

/** The SMSC did not take it because of a passing state of its own or of the bind. */
const TRANSIENT: ReadonlySet<number> = new Set([CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RX_T_APPN, CommandStatus.ESME_RINVBNDSTS]);

/** How long to hold the budget after ESME_RTHROTTLED / ESME_RMSGQFUL (SMPP gives no Retry-After). */
export const THROTTLE_PAUSE_MS = 1000;

/** A submit_sm_resp's command_status as a send outcome (never `accepted`: that is ESME_ROK with an id). */
export function refusalOutcome(status: number): Exclude<SendOutcome, { kind: 'accepted' }> {
  const providerErrorCode = statusName(status);
  if (THROTTLED.has(status)) return { kind: 'retry', code: 'PROVIDER_THROTTLED', message: `SMSC is throttling: ${providerErrorCode}`, retryAfterMs: THROTTLE_PAUSE_MS, providerErrorCode };
  if (TRANSIENT.has(status)) return { kind: 'retry', code: 'PROVIDER_ERROR', message: `SMSC could not take it now: ${providerErrorCode}`, providerErrorCode };
  if (INVALID_DESTINATION.has(status)) return { kind: 'rejected', code: 'INVALID_NUMBER', message: `SMSC refused the destination: ${providerErrorCode}`, providerErrorCode };
  return { kind: 'rejected', code: 'PROVIDER_REJECTED', message: `SMSC refused the message: ${providerErrorCode}`, providerErrorCode };
}
