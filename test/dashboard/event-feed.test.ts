/**
 * MessageEventFeed on its own: each change heard once although every read looks back over the
 * last seconds again, and "resync" instead of a flood when one read finds more than it sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageEventFeed, type FeedNotice, type FeedOptions, type StatusChange } from '../../src/services/event-feed.js';
import { drain, startGateway, type TestGateway, US } from '../helpers/gateway.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => gw?.stop());

async function sendOne(text: string): Promise<string> {
  const res = await gw.app.inject({ method: 'POST', url: '/api/sms/send', payload: { to: [{ number: US }], message: text } });
  expect(res.statusCode).toBe(200);
  return res.json().messages[0].id;
}

async function until(condition: () => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `body` while a feed with `options` is listened to, with what it heard so far. */
async function listening(options: FeedOptions, body: (heard: FeedNotice[], changes: () => StatusChange[]) => Promise<void>) {
  const feed = new MessageEventFeed(gw.services.store, options);
  const heard: FeedNotice[] = [];
  const stop = feed.subscribe(null, (notice) => heard.push(notice));
  try {
    await body(heard, () => heard.flatMap((n) => (n.kind === 'changes' ? n.changes : [])));
  } finally {
    stop();
    await feed.close();
  }
}

describe('MessageEventFeed', () => {
  it('hears each status change once, though every read covers the look-back window again', async () => {
    await listening({ intervalMs: 20, lookbackMs: 5_000 }, async (heard, changes) => {
      const first = await sendOne('first');
      await drain(gw.services);
      await until(() => changes().some((c) => c.message_id === first && c.status === 'delivered'), 'first delivered');
      // A second message's changes take further reads, each of which covers the first one's events again.
      const second = await sendOne('second');
      await drain(gw.services);
      await until(() => changes().some((c) => c.message_id === second && c.status === 'delivered'), 'second delivered');
      const ids = changes().map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(changes().filter((c) => c.message_id === first).map((c) => c.status)).toEqual(['sending', 'sent', 'delivered']);
      expect(heard.some((n) => n.kind === 'resync')).toBe(false);
    });
  });

  it('says resync, and sends no partial list, when one read finds more changes than it may send', async () => {
    await listening({ intervalMs: 1_000, maxPerRead: 2 }, async (heard) => {
      // Four messages make twelve changes: however the reads split them, one read finds more than two.
      for (let i = 0; i < 4; i++) await sendOne(`burst ${i}`);
      await drain(gw.services);
      await until(() => heard.some((n) => n.kind === 'resync'), 'a resync notice');
      for (const notice of heard) if (notice.kind === 'changes') expect(notice.changes.length).toBeLessThanOrEqual(2);
    });
  });

  it('counts only what is new against maxPerRead, so a busy minute is no reason to resync', async () => {
    // On SQLite a read takes only what was numbered since the last; on PostgreSQL it looks back 5 s and
    // finds the earlier messages' changes again, which must not count: together they are more than maxPerRead.
    await listening({ intervalMs: 20, maxPerRead: 4 }, async (heard, changes) => {
      const sent: string[] = [];
      for (let i = 0; i < 3; i++) {
        const id = await sendOne(`steady ${i}`);
        sent.push(id);
        await drain(gw.services);
        await until(() => changes().some((c) => c.message_id === id && c.status === 'delivered') || heard.some((n) => n.kind === 'resync'), `message ${i} delivered`);
      }
      expect(heard.some((n) => n.kind === 'resync')).toBe(false);
      for (const id of sent) expect(changes().filter((c) => c.message_id === id).map((c) => c.status)).toEqual(['sending', 'sent', 'delivered']);
    });
  });

  it('replays what came after a Last-Event-ID, only of the key\'s own messages', async () => {
    const feed = new MessageEventFeed(gw.services.store);
    const before = await sendOne('before');
    await drain(gw.services);
    const events = await gw.services.store.db.selectFrom('message_events').select(['id', 'status']).where('message_id', '=', before).orderBy('id').execute();
    const replay = await feed.since(events[0].id, null);
    expect(replay?.filter((c) => c.message_id === before).map((c) => c.status)).toEqual(events.slice(1).map((e) => e.status));
    // A key that made none of these messages hears none of them.
    expect(await feed.since(events[0].id, 'key_someone_else')).toEqual([]);
    await feed.close();
  });
});
