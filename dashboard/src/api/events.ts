import { AppliedChanges } from './applied-changes';
import { authHeaders } from './client';

/** One status change, as `GET /api/events` sends it (`event: status`). */
export interface StatusChange {
  id: string;
  message_id: string;
  batch_id: string;
  status: string;
  previous_status: string | null;
  source: string;
  timestamp: string;
}

export type StreamState = 'connecting' | 'live' | 'reconnecting';

export interface StreamHandlers {
  onChanges(changes: StatusChange[]): void;
  /** Too many changes to follow, or too many missed while away: reload what is shown. */
  onResync(): void;
  onState(state: StreamState): void;
  /** The key was revoked (401, or the server ended the stream saying so). */
  onRevoked(): void;
}

const RETRY_MS = 3_000;

/**
 * Follows `GET /api/events`. EventSource cannot send an Authorization header, fetch can: the
 * stream is read here frame by frame, and a dropped connection is resumed with Last-Event-ID,
 * as EventSource would. Returns a function that stops it.
 */
export function followStatusChanges(key: string, handlers: StreamHandlers): () => void {
  const controller = new AbortController();
  let lastEventId: string | undefined;
  let stopped = false;
  const applied = new AppliedChanges();

  const dispatch = (event: string, data: string, id: string | undefined) => {
    if (id) lastEventId = id;
    if (event === 'status') {
      const change = JSON.parse(data) as StatusChange;
      if (applied.isNew(change)) handlers.onChanges([change]);
    } else if (event === 'resync') handlers.onResync();
    else if (event === 'revoked') {
      stopped = true;
      handlers.onRevoked();
    }
  };

  const connectOnce = async () => {
    handlers.onState(lastEventId ? 'reconnecting' : 'connecting');
    const res = await fetch('/api/events', {
      headers: { accept: 'text/event-stream', ...authHeaders(key), ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
      signal: controller.signal,
      cache: 'no-store',
    });
    if (res.status === 401) {
      stopped = true;
      handlers.onRevoked();
      return;
    }
    if (!res.ok || !res.body) throw new Error(`events stream answered ${res.status}`);
    handlers.onState('live');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let id: string | undefined;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = text;
          else if (field === 'data') data.push(text);
          else if (field === 'id') id = text;
        }
        if (data.length > 0) dispatch(event, data.join('\n'), id);
      }
    }
  };

  void (async () => {
    while (!stopped && !controller.signal.aborted) {
      try {
        await connectOnce();
      } catch {
        // Dropped or refused: try again after the same pause EventSource takes.
      }
      if (stopped || controller.signal.aborted) return;
      handlers.onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  })();

  return () => {
    stopped = true;
    controller.abort();
  };
}
