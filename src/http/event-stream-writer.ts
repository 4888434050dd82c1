import type { Writable } from 'node:stream';

/** One server-sent event. */
export function frame(event: string, data: unknown, id?: string): string {
  return `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a stream may hold unsent before its client counts as behind: about 4,000 status events. */
export const MAX_UNSENT_BYTES = 1 << 20;
/** How long a client may stay behind, taking nothing, before its stream is closed. */
export const MAX_BEHIND_MS = 60_000;

/**
 * Writes server-sent events to one client, holding about `maxUnsentBytes` it has not taken (one notice more
 * at most). A client that stops reading (a stalled network, a machine asleep) would otherwise have every
 * change of a busy gateway kept for it in memory. Once it is that far behind, what comes next is not
 * written; when it has taken what was written, it gets `resync`, the event that tells it to reload what
 * it shows (as after too many missed changes), and the stream goes on from there. A client that takes
 * nothing for `maxBehindMs` is cut off: an EventSource reconnects with its Last-Event-ID.
 */
export class EventStreamWriter {
  private behind: NodeJS.Timeout | undefined;

  constructor(private readonly out: Writable, private readonly maxUnsentBytes = MAX_UNSENT_BYTES, private readonly maxBehindMs = MAX_BEHIND_MS) {
    out.once('close', () => clearTimeout(this.behind));
  }

  /** Writes `text` unless the stream has ended or the client is behind. */
  send(text: string): void {
    if (this.out.writableEnded || this.out.destroyed || this.behind) return;
    // Only while a write has returned false does 'drain' come: a limit under the stream's high-water mark waits for that.
    if (this.out.writableLength >= this.maxUnsentBytes && this.out.writableNeedDrain) {
      this.behind = setTimeout(() => this.out.destroy(), this.maxBehindMs);
      this.behind.unref();
      this.out.once('drain', () => {
        clearTimeout(this.behind);
        this.behind = undefined;
        this.send(frame('resync', {}));
      });
      return;
    }
    this.out.write(text);
  }
}
