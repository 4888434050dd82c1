/**
 * MessageEventFeed on its own: each change heard once, only what is new counted against what a read
 * may send ("resync" beyond it), nothing stored before listening began, nothing uncommitted.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageEventFeed, type FeedNotice, type FeedOptions, type StatusChange } from '../../src/services/event-feed.js';
import { dropDatabase, freshDatabaseUrl, onPostgres } from '../helpers/database.js';
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
  const { unsubscribe, started } = feed.subscribe(null, (notice) => heard.push(notice));
  try {
    await started;
    await body(heard, () => heard.flatMap((n) => (n.kind === 'changes' ? n.changes : [])));
  } finally {
    unsubscribe();
    await feed.close();
  }
}

describe('MessageEventFeed', () => {
  it('hears each status change once (on PostgreSQL every read covers the look-back window again)', async () => {
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

  it('hears nothing stored before it started listening, though it listened and stopped before', async () => {
    const feed = new MessageEventFeed(gw.services.store, { intervalMs: 20 });
    const first = feed.subscribe(null, () => undefined);
    await first.started;
    first.unsubscribe();
    // Stored while no one listens: old news to whoever listens next.
    const before = await sendOne('while no one listens');
    await drain(gw.services);
    const heard: FeedNotice[] = [];
    const second = feed.subscribe(null, (notice) => heard.push(notice));
    try {
      await second.started;
      const after = await sendOne('after the second start');
      await drain(gw.services);
      const changes = () => heard.flatMap((n) => (n.kind === 'changes' ? n.changes : []));
      await until(() => changes().some((c) => c.message_id === after && c.status === 'delivered'), 'the later message delivered');
      expect(changes().filter((c) => c.message_id === before)).toEqual([]);
      expect(heard.some((n) => n.kind === 'resync')).toBe(false);
    } finally {
      second.unsubscribe();
      await feed.close();
    }
  });

  it.skipIf(onPostgres)('on SQLite never reads past an event another connection has not committed yet', async () => {
    const url = await freshDatabaseUrl();
    const other = await startGateway({ DATABASE_URL: url });
    const writer = new Database(url.slice('sqlite:'.length));
    const feed = new MessageEventFeed(other.services.store, { intervalMs: 10 });
    const heard: FeedNotice[] = [];
    const { unsubscribe, started } = feed.subscribe(null, (notice) => heard.push(notice));
    try {
      const res = await other.app.inject({ method: 'POST', url: '/api/sms/send', payload: { to: [{ number: US }], message: 'held' } });
      const id = res.json().messages[0].id as string;
      await started;
      // Numbered inside an open transaction of another connection (as the dispatch thread's are).
      writer.exec('begin immediate');
      writer.prepare(`insert into message_events (message_id, status, previous_status, source, detail, created_at) values (?, 'canceled', 'queued', 'test', null, ?)`).run(id, Date.now());
      await new Promise((r) => setTimeout(r, 100));
      const changes = () => heard.flatMap((n) => (n.kind === 'changes' ? n.changes : []));
      expect(changes().some((c) => c.source === 'test')).toBe(false);
      writer.exec('commit');
      await until(() => changes().some((c) => c.source === 'test'), 'the event once committed');
    } finally {
      unsubscribe();
      await feed.close();
      writer.close();
      await other.stop();
      await dropDatabase(url);
    }
  });

  it.skipIf(!onPostgres)('on PostgreSQL hears an event committed after a higher number, whose time is older than the look-back (a slow round\'s claim)', async () => {
    const id = await sendOne('slow round');
    const round = new pg.Client({ connectionString: gw.services.config.databaseUrl });
    await round.connect();
    const insert = `insert into message_events (message_id, status, previous_status, source, detail, created_at) values ($1, $2, 'queued', $3, null, $4) returning id`;
    try {
      await listening({ intervalMs: 20, lookbackMs: 3_000 }, async (_heard, changes) => {
        // The round numbers the claim's `sending`, stamped with a claim 30 s old, and commits it with the send's outcome...
        await round.query('begin');
        const held = await round.query<{ id: string }>(insert, [id, 'sending', 'test-slow-round', Date.now() - 30_000]);
        // ...while a higher number commits at once and is heard: reads have gone past the held one.
        const later = await gw.services.store.db.insertInto('message_events')
          .values({ message_id: id, status: 'canceled', previous_status: 'queued', source: 'test-later', detail: null, created_at: Date.now() })
          .returning('id').executeTakeFirstOrThrow();
        expect(Number(held.rows[0].id)).toBeLessThan(Number(later.id));
        await until(() => changes().some((c) => c.source === 'test-later'), 'the higher number');
        await round.query('commit');
        await until(() => changes().some((c) => c.source === 'test-slow-round'), 'the slow round\'s claim event');
        // Heard once, though later reads look back over it again.
        await new Promise((r) => setTimeout(r, 200));
        expect(changes().filter((c) => c.source === 'test-slow-round')).toHaveLength(1);
      });
    } finally {
      await round.end();
    }
  });

  it.skipIf(!onPostgres)('on PostgreSQL replays, after a Last-Event-ID, a change numbered before it that committed after it', async () => {
    const id = await sendOne('resumed');
    const feed = new MessageEventFeed(gw.services.store);
    const early = new pg.Client({ connectionString: gw.services.config.databaseUrl });
    await early.connect();
    const insert = `insert into message_events (message_id, status, previous_status, source, detail, created_at) values ($1, 'canceled', 'queued', $2, null, $3) returning id`;
    try {
      // Numbered and committed longest before: outside the look-back window of the event resumed from.
      await early.query(insert, [id, 'test-old', Date.now() - 60_000]);
      // Numbered next, inside a transaction still open...
      await early.query('begin');
      const held = await early.query<{ id: string }>(insert, [id, 'test-held', Date.now()]);
      // ...then a higher number, committed at once: the one a client hears, and reconnects with.
      const heard = await gw.services.store.db.insertInto('message_events')
        .values({ message_id: id, status: 'canceled', previous_status: 'queued', source: 'test-heard', detail: null, created_at: Date.now() })
        .returning('id').executeTakeFirstOrThrow();
      expect(Number(held.rows[0].id)).toBeLessThan(Number(heard.id));
      await early.query('commit');
      const replay = await feed.since(Number(heard.id), null);
      expect(replay?.map((c) => c.source)).toContain('test-held');
      expect(replay?.map((c) => c.source)).not.toContain('test-heard');
      expect(replay?.map((c) => c.source)).not.toContain('test-old');
      // The look-back read is the key's own too.
      expect(await feed.since(Number(heard.id), 'key_someone_else')).toEqual([]);
    } finally {
      await early.end();
      await feed.close();
    }
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
