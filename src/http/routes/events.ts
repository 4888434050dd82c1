import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Type } from 'typebox';
import { isAdmin, type Caller } from '../../domain/api-keys.js';
import type { Services } from '../../services/container.js';
import { eventNumber, MessageEventFeed, type FeedNotice, type StatusChange } from '../../services/event-feed.js';
import { presentedCredentials } from '../auth.js';
import { EventStreamWriter, frame } from '../event-stream-writer.js';
import { replied } from '../close-app.js';
import { sendProblem } from '../problem.js';
import { GUARDED, problems } from '../reply-schemas.js';

/** A comment line this often keeps proxies from closing an idle stream, and re-checks the key. */
const KEEPALIVE_MS = 15_000;
/** What a browser's EventSource waits before reconnecting. */
const RETRY_MS = 3_000;
/** An event id from before migration 0017 (evt_ + time + random): it cannot be placed among numbered events. */
const TIME_EVENT_ID = /^evt_[0-9a-z]{26}$/;

const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ maxLength: 100, description: 'resume after this event (at most 500 are replayed, else a resync event)' })),
});

function statusFrames(changes: StatusChange[]): string {
  return changes.map((change) => frame('status', change, change.id)).join('');
}

/**
 * `GET /api/events`: message status changes as server-sent events (docs/dashboard.md says why SSE
 * and how the key is passed). Authenticated like every `/api` route, by header: the dashboard reads
 * the stream with fetch(), which can send one, so the key never goes in a URL.
 */
export const eventRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const feed = new MessageEventFeed(services.store);
  const open = new Set<ServerResponse>();
  let closing = false;
  // Before the server stops waiting for connections: an open stream would hold the shutdown forever.
  app.addHook('preClose', async () => {
    closing = true;
    for (const res of open) res.end();
    await feed.close();
  });

  app.get('/api/events', {
    config: { scope: 'read' },
    schema: {
      tags: ['events'],
      summary: 'Message status changes as server-sent events (Accept: text/event-stream)',
      description: 'Events: `status` (data: message_id, batch_id, status, previous_status, source, timestamp; id: the event id) and '
        + '`resync` (too many changes to follow, or too many missed: reload what you show) and `revoked` (the key was revoked; the stream ends). '
        + 'A key sees its own messages; admin every message.',
      headers: StreamHeaders,
      // 406 (no Accept: text/event-stream) is the `default` problem.
      response: { 200: { description: 'The stream, open until the client leaves', content: { 'text/event-stream': { schema: Type.String() } } }, ...problems(...GUARDED, 422) },
    },
  }, async (request, reply) => {
    // Only a client that asks for a stream gets one: anything else would hang on a reply that never ends.
    if (!/\btext\/event-stream\b/.test(request.headers.accept ?? '')) {
      return sendProblem(reply, 406, 'Not acceptable', 'this is a server-sent events stream: send Accept: text/event-stream');
    }
    const lastEventId = request.headers['last-event-id'];
    const resumeAfter = lastEventId === undefined ? undefined : eventNumber(lastEventId);
    if (lastEventId !== undefined && resumeAfter === undefined && !TIME_EVENT_ID.test(lastEventId)) {
      return sendProblem(reply, 422, 'Validation failed', 'Last-Event-ID is not an event id', [{ field: 'last-event-id', message: 'must be an id from this stream (evt_...)' }]);
    }
    const caller: Caller = request.caller;
    const keyId = isAdmin(caller) ? null : caller.keyId;
    // Listening starts before what was missed is read, so no change falls between the two; until the
    // stream is open, what the feed hears waits here.
    const waiting: FeedNotice[] = [];
    let deliver = (notice: FeedNotice) => {
      waiting.push(notice);
    };
    const subscription = feed.subscribe(keyId, (notice) => deliver(notice));
    let missed: StatusChange[] | undefined;
    try {
      await subscription.started;
      // An id from before the upgrade: what came after it cannot be told, so the client reloads (resync).
      missed = lastEventId === undefined ? [] : resumeAfter === undefined ? undefined : await feed.since(resumeAfter, keyId);
    } catch (err) {
      subscription.unsubscribe();
      throw err;
    }
    // Stopping began while the missed events were read: a stream opened now would never be ended.
    if (closing) {
      subscription.unsubscribe();
      return sendProblem(reply, 503, 'Service unavailable', 'the server is stopping: reconnect to another instance or later');
    }

    reply.hijack();
    // A stream is not a request in progress: stopping ends it (preClose above) rather than wait for it.
    replied(request);
    const res = reply.raw;
    res.writeHead(200, {
      // The security (and CORS) headers the hooks put on the reply, which hijack() would not send.
      ...Object.fromEntries(Object.entries(reply.getHeaders()).filter(([, value]) => value !== undefined)) as OutgoingHttpHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx would buffer the stream otherwise.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    if (missed === undefined) res.write(frame('resync', {}));
    else if (missed.length > 0) res.write(statusFrames(missed));

    // Writes only while the stream is open (a notice can still be on its way when a shutdown has ended it),
    // and only while the client keeps up.
    const writer = new EventStreamWriter(res);
    const send = (text: string) => writer.send(text);
    deliver = (notice) => {
      if (notice.kind === 'resync') send(frame('resync', {}));
      else send(statusFrames(notice.changes));
    };
    // What the feed heard while the missed changes were read: those the replay held already are not sent twice.
    const replayed = new Set(missed?.map((change) => change.id));
    for (const notice of waiting) {
      if (notice.kind === 'resync') deliver(notice);
      else {
        const changes = notice.changes.filter((change) => !replayed.has(change.id));
        if (changes.length > 0) deliver({ kind: 'changes', changes });
      }
    }
    // A key revoked while its stream is open: the stream ends at the next keep-alive. A failed
    // check (the database busy) is not a revocation: the stream stays and the next one decides.
    const presented = presentedCredentials(request);
    const keepAlive = setInterval(async () => {
      const still = presented ? await services.keys.authenticate(presented.key).then((caller) => caller !== undefined, () => true) : true;
      if (!still && !res.writableEnded) res.end(frame('revoked', {}));
      else send(': keep-alive\n\n');
    }, KEEPALIVE_MS);
    keepAlive.unref();
    open.add(res);
    const ended = () => {
      clearInterval(keepAlive);
      subscription.unsubscribe();
      open.delete(res);
    };
    res.on('close', ended);
    // A client that left while what it missed was read: its 'close' came before anyone listened for it.
    if (!res.socket || res.socket.destroyed) ended();
  });
};
