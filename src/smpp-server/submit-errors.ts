import { AppError } from '../domain/errors.js';
import { CommandStatus } from '../providers/smpp/protocol/command-status.js';

/** Refusals about the recipient: the ESME should not try this number again. */
const DESTINATION_REASONS = new Set(['invalid_number', 'country_blocked', 'prefix_blocked', 'opted_out']);

/**
 * What an error from the normal send path answers a submit with. Validation problems name the
 * field at fault (SMPP has a status for each); a rate limit is ESME_RTHROTTLED so the ESME slows
 * down; anything unexpected is ESME_RSYSERR, which ESMEs retry.
 */
export function submitStatusFor(err: unknown): number {
  if (!(err instanceof AppError)) return CommandStatus.ESME_RSYSERR;
  if (err.status === 429) return CommandStatus.ESME_RTHROTTLED;
  if (err.status >= 500) return CommandStatus.ESME_RSYSERR;
  const fields = err.errors;
  if (fields.some((e) => e.reason === 'message_too_long')) return CommandStatus.ESME_RINVMSGLEN;
  if (fields.some((e) => e.field.startsWith('to') || DESTINATION_REASONS.has(e.reason ?? ''))) return CommandStatus.ESME_RINVDSTADR;
  if (fields.some((e) => e.field === 'from_number')) return CommandStatus.ESME_RINVSRCADR;
  if (fields.some((e) => e.field === 'expire_at')) return CommandStatus.ESME_RINVEXPIRY;
  if (fields.some((e) => e.field === 'message_type' || e.reason === 'bad_binary')) return CommandStatus.ESME_RINVDCS;
  return CommandStatus.ESME_RSUBMITFAIL;
}
