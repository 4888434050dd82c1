import type { Writable } from 'node:stream';

/** One server-sent event. */
export function frame(event: string, data: unknown, id?: string): string {
  return `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a stream may hold unsent before its client counts as behind: about 4,000 status events. */
export const MAX_UNSENT_BYTES = 1 << 20;

/**
 * Writes server-sent events to one client, holding at most `maxUnsentBytes` it has not taken. A client
 * that stops reading (a tab in the background, a stalled network) would otherwise have every change
 * of a busy gateway kept for it in memory. Once it is that far behind, what comes next is not written;
 * when it has taken what was written, it gets `resync`, the event that tells it to reload what it shows
 * (as after too many missed changes), and the stream goes on from there.
 */
export class EventStreamWriter {
  private behind = false;

  constructor(private readonly out: Writable, private readonly maxUnsentBytes = MAX_UNSENT_BYTES) {}

  /** Writes `text` unless the stream has ended or the client is behind. */
  send(text: string): void {
    if (this.out.writableEnded || this.behind) return;
    if (this.out.writableLength >= this.maxUnsentBytes) {
      this.behind = true;
      // Past the high-water mark a write has returned false, so 'drain' comes once the client caught up.
      this.out.once('drain', () => {
        this.behind = false;
        this.send(frame('resync', {}));
      });
      return;
    }
    this.out.write(text);
  }
}
