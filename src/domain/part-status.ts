/** What a delivery report can say about one part of a message sent as several. */
export type PartStatus = 'sent' | 'delivered' | 'undelivered' | 'failed';

/**
 * One status for a message sent as several parts, each with its own provider id and report.
 * `parts` holds what is known of each part so far; `expectedParts` is how many the message has (from
 * the send's part ids or a report's count). A recipient holding half a text has not got the message,
 * so it is delivered only once every expected part is, and the worst part decides otherwise.
 */
export function messageStatusFromParts(parts: PartStatus[], expectedParts: number): PartStatus {
  if (parts.includes('failed')) return 'failed';
  if (parts.includes('undelivered')) return 'undelivered';
  // At least one part: a message with no part reports has not been delivered, whatever the count says.
  const needed = Math.max(1, expectedParts);
  const delivered = parts.filter((p) => p === 'delivered').length;
  return delivered >= needed ? 'delivered' : 'sent';
}
