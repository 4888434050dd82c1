/** Messages whose latest change is remembered, the least recently changed forgotten first. */
const REMEMBERED_MESSAGES = 10_000;

/**
 * The number in an event id (`evt_123`); undefined for any other shape. The same pattern as the
 * server's `eventNumber` (src/services/event-feed.ts): the dashboard is built apart and cannot import it.
 */
function numberOf(id: string): number | undefined {
  const match = /^evt_([1-9][0-9]{0,14})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

/**
 * Which status changes of the events stream are new to the page. A stream resumed on PostgreSQL sends
 * again the changes of the few seconds before Last-Event-ID (one numbered earlier may have committed
 * after it); a change numbered no later than the last one applied to its message is skipped, rather
 * than showing an older status until the next change. A message's events are numbered in the order its
 * changes happened (docs/dashboard.md), so the number alone tells which is later.
 */
export class AppliedChanges {
  private readonly latest = new Map<string, number>();

  constructor(private readonly remembered = REMEMBERED_MESSAGES) {}

  /** True for a change numbered after any applied to its message, and records it; false otherwise. */
  isNew(change: { message_id: string; id: string }): boolean {
    const n = numberOf(change.id);
    if (n === undefined) return true;
    const last = this.latest.get(change.message_id);
    if (last !== undefined && n <= last) return false;
    // Re-inserted, so the map's order is the order of the latest changes.
    this.latest.delete(change.message_id);
    this.latest.set(change.message_id, n);
    if (this.latest.size > this.remembered) this.latest.delete(this.latest.keys().next().value!);
    return true;
  }
}
