/** The message status machine. Statuses only move forward; final ones never change. */
export const MESSAGE_STATUSES = [
  'draft', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'expired', 'canceled',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const FINAL_STATUSES: readonly MessageStatus[] = ['delivered', 'undelivered', 'failed', 'expired', 'canceled'];
/** Not yet handed to a provider: these can still be canceled or expire. */
export const PENDING_STATUSES: readonly MessageStatus[] = ['draft', 'scheduled', 'queued'];

/** Handed to a provider: the only messages a delivery report may move. */
export const HANDED_OVER_STATUSES: readonly MessageStatus[] = ['sending', 'sent', 'delivered', 'undelivered', 'failed'];
/** What a campaign's cost so far adds up: messages handed to a provider that it has not refused (`failed`). */
export const BILLED_STATUSES: readonly MessageStatus[] = ['sending', 'sent', 'delivered', 'undelivered'];
/** What a delivery report may say: that the provider took the message, and what became of it. */
export const REPORTABLE_STATUSES = ['sent', 'delivered', 'undelivered', 'failed'] as const;

const RANK: Record<MessageStatus, number> = {
  draft: 0, scheduled: 1, queued: 2, sending: 3, sent: 4,
  delivered: 5, undelivered: 5, failed: 5, expired: 5, canceled: 5,
};

export function isFinal(status: MessageStatus): boolean {
  return RANK[status] === 5;
}

/** Whether a report may move a message from `from` to `to` (a late or repeated report may not). */
export function canAdvance(from: MessageStatus, to: MessageStatus): boolean {
  return !isFinal(from) && RANK[to] > RANK[from];
}

export type SmsType = 'transactional' | 'promotional' | 'otp' | 'alert' | 'marketing';
export const SMS_TYPES: readonly SmsType[] = ['transactional', 'promotional', 'otp', 'alert', 'marketing'];

/** 1 is most urgent. OTP and alerts default to 1 so they pass any promotional backlog. */
export function defaultPriority(smsType: SmsType): number {
  return smsType === 'otp' || smsType === 'alert' ? 1 : 5;
}
