/** Messages whose latest change is remembered, the least recently changed forgotten first. */
const REMEMBERED_MESSAGES = 10_000;

/** A change's place in its message's history: its time, then its number, as `GET /api/sms/{id}` lists events. */
interface Place {
  at: number;
  n: number;
}

/**
 * The number in an event id (`evt_123`); undefined for any other shape. The same pattern as the
 * server's `eventNumber` (src/services/event-feed.ts): the dashboard is built apart and cannot import it.
 */
function numberOf(id: string): number | undefined {
  const match = /^evt_([1-9][0-9]{0,14})$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

const before = (a: Place, b: Place) => a.at < b.at || (a.at === b.at && a.n < b.n);

/**
 * Which status changes of the events stream are new to the page. A stream resumed on PostgreSQL sends
 * again the changes of the few seconds before Last-Event-ID (one numbered earlier may have committed
 * after it); a change that is not later than the last one applied to its message is skipped, rather
 * than showing an older status until the next change. "Later" is by time, then number: the order of
 * the message's own event list. The number alone is not always that order: a delivery report that
 * overtakes the round that sent the message is numbered before the claim's `sending`, which carries
 * the earlier claim time (docs/dashboard.md).
 */
export class AppliedChanges {
  private readonly latest = new Map<string, Place>();

  constructor(private readonly remembered = REMEMBERED_MESSAGES) {}

  /** True for a change later than any applied to its message, and records it; false otherwise. */
  isNew(change: { message_id: string; id: string; timestamp: string }): boolean {
    const n = numberOf(change.id);
    const at = Date.parse(change.timestamp);
    if (n === undefined || Number.isNaN(at)) return true;
    const place = { at, n };
    const last = this.latest.get(change.message_id);
    if (last !== undefined && !before(last, place)) return false;
    // Re-inserted, so the map's order is the order of the latest changes.
    this.latest.delete(change.message_id);
    this.latest.set(change.message_id, place);
    if (this.latest.size > this.remembered) this.latest.delete(this.latest.keys().next().value!);
    return true;
  }
}
