/** Messages whose latest change number is remembered, the least recently changed forgotten first. */
const REMEMBERED_MESSAGES = 10_000;

/** The number in an event id (`evt_123`); undefined for any other shape. */
function numberOf(id: string): number | undefined {
  const match = /^evt_([1-9][0-9]{0,14})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

/**
 * Which status changes of the events stream are new to the page. A stream resumed on PostgreSQL sends
 * again the changes of the few seconds before Last-Event-ID (one numbered earlier may have committed
 * after it). A message's own changes are numbered in the order they happened, so a change numbered at
 * or below the last one applied for its message was applied already: applying it again would show an
 * older status until the next change.
 */
export class AppliedChanges {
  private readonly latest = new Map<string, number>();

  constructor(private readonly remembered = REMEMBERED_MESSAGES) {}

  /** True the first time a change is seen, and records it; false for one at or below its message's latest. */
  isNew(messageId: string, eventId: string): boolean {
    const n = numberOf(eventId);
    if (n === undefined) return true;
    const last = this.latest.get(messageId);
    if (last !== undefined && n <= last) return false;
    // Re-inserted, so the map's order is the order of the latest changes.
    this.latest.delete(messageId);
    this.latest.set(messageId, n);
    if (this.latest.size > this.remembered) this.latest.delete(this.latest.keys().next().value!);
    return true;
  }
}
