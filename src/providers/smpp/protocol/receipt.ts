import type { MessageStatus } from '../../../domain/message-status.js';

/** message_state values (SMPP 3.4, 5.2.28). */
export const MessageState = { ENROUTE: 1, DELIVERED: 2, EXPIRED: 3, DELETED: 4, UNDELIVERABLE: 5, ACCEPTED: 6, UNKNOWN: 7, REJECTED: 8 } as const;

/** The seven-character `stat:` words of the de facto receipt text (SMPP 3.4, appendix B). */
const STAT_BY_STATE: Record<number, string> = {
  1: 'ENROUTE', 2: 'DELIVRD', 3: 'EXPIRED', 4: 'DELETED', 5: 'UNDELIV', 6: 'ACCEPTD', 7: 'UNKNOWN', 8: 'REJECTD',
};
const STATE_BY_STAT = new Map(Object.entries(STAT_BY_STATE).map(([state, stat]) => [stat, Number(state)]));

/** A delivery receipt as read from a deliver_sm: its text fields and/or its TLVs. */
export interface ParsedReceipt {
  /** The SMSC's message id the receipt is about. */
  messageId: string;
  state: number | undefined;
  /** `err:` of the text, or the network_error_code TLV's code. */
  error: string | undefined;
  doneAt: number | undefined;
}

/**
 * Reads a receipt. The TLVs (receipted_message_id, message_state) are the standard's own and win
 * over the text; the text form is what most SMSCs send, sometimes alone.
 */
export function parseReceipt(text: string, tlvs: { receiptedMessageId?: string; messageState?: number; networkErrorCode?: Buffer }): ParsedReceipt | undefined {
  const fields = receiptFields(text);
  const messageId = tlvs.receiptedMessageId ?? fields.get('id');
  if (messageId === undefined || messageId === '') return undefined;
  const stat = fields.get('stat')?.toUpperCase();
  const state = tlvs.messageState ?? (stat === undefined ? undefined : STATE_BY_STAT.get(stat) ?? (stat === 'DELIVERED' ? MessageState.DELIVERED : undefined));
  const networkError = tlvs.networkErrorCode && tlvs.networkErrorCode.length >= 3 ? String(tlvs.networkErrorCode.readUInt16BE(1)) : undefined;
  const err = fields.get('err');
  return { messageId, state, error: err !== undefined && !/^0+$/.test(err) ? err : networkError, doneAt: parseReceiptDate(fields.get('done date')) };
}

/** `key:value` pairs; keys may hold a space (`submit date`), and `text:` runs to the end. */
function receiptFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  const textAt = text.search(/\btext:/i);
  const head = textAt >= 0 ? text.slice(0, textAt) : text;
  for (const m of head.matchAll(/(id|sub|dlvrd|submit date|done date|stat|err):(\S*)/gi)) fields.set(m[1].toLowerCase(), m[2]);
  if (textAt >= 0) fields.set('text', text.slice(textAt + 5));
  return fields;
}

/** YYMMDDhhmm[ss], taken as UTC (the receipt says no zone). */
function parseReceiptDate(value: string | undefined): number | undefined {
  const m = value?.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/);
  if (!m) return undefined;
  const at = Date.UTC(2000 + Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  return Number.isNaN(at) ? undefined : at;
}

/** What a receipt's state means for our message; undefined: not final yet (ENROUTE, ACCEPTD, UNKNOWN). */
export function statusOfState(state: number | undefined): { status: MessageStatus; errorCode?: string } | undefined {
  switch (state) {
    case MessageState.DELIVERED: return { status: 'delivered' };
    case MessageState.UNDELIVERABLE: return { status: 'undelivered', errorCode: 'UNDELIVERABLE' };
    case MessageState.EXPIRED: return { status: 'undelivered', errorCode: 'EXPIRED' };
    case MessageState.DELETED: return { status: 'undelivered', errorCode: 'DELETED' };
    case MessageState.REJECTED: return { status: 'undelivered', errorCode: 'REJECTED' };
    default: return undefined;
  }
}

/** The message_state for one of our final statuses, for receipts we send to ESMEs. */
export function stateOfStatus(status: MessageStatus, errorCode: string | null): number {
  if (status === 'delivered') return MessageState.DELIVERED;
  if (status === 'expired' || errorCode === 'EXPIRED') return MessageState.EXPIRED;
  if (status === 'failed') return MessageState.REJECTED;
  if (status === 'canceled') return MessageState.DELETED;
  return MessageState.UNDELIVERABLE;
}

export interface ReceiptText {
  messageId: string;
  submitted: number;
  delivered: number;
  submitDate: number;
  doneDate: number;
  state: number;
  error: string;
  text: string;
}

/** `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…` (SMPP 3.4 appendix B). */
export function formatReceipt(r: ReceiptText): string {
  const three = (n: number) => String(Math.min(999, n)).padStart(3, '0');
  return `id:${r.messageId} sub:${three(r.submitted)} dlvrd:${three(r.delivered)} submit date:${receiptDate(r.submitDate)} done date:${receiptDate(r.doneDate)} ` +
    `stat:${STAT_BY_STATE[r.state] ?? 'UNKNOWN'} err:${r.error.padStart(3, '0').slice(-3)} text:${r.text.slice(0, 20)}`;
}

function receiptDate(ms: number): string {
  return new Date(ms).toISOString().replace(/^\d{2}(\d{2})-(\d{2})-(\d{2})T(\d{2}):(\d{2}).*$/, '$1$2$3$4$5');
}
