/**
 * What the dashboard reads besides the documented API: GET /api/events (server-sent status
 * changes), GET /api/keys/current, GET /api/sms/batches and GET /api/prices; with keys required.
 */
import { get, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';

let gw: TestGateway;
let base: string;
let admin: string;
let reader: string;
let otherReader: string;
let sender: string;

interface StreamEvent {
  event: string;
  id?: string;
  data: any;
}

/**
 * An open events stream: the frames received so far, and a way to wait for one. Over node:http
 * with a connection of its own, closed with the stream: fetch's pool keeps spare connections open,
 * which would hold the gateway's shutdown.
 */
async function openStream(key: string | undefined, headers: Record<string, string> = {}, url = base) {
  const events: StreamEvent[] = [];
  let raw = '';
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = get(`${url}/api/events`, { agent: false, headers: { accept: 'text/event-stream', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } }, resolve);
    request.on('error', reject);
  });
  const ended = new Promise<void>((resolve) => {
    response.on('close', resolve);
    response.on('error', () => undefined);
  });
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    raw += chunk;
    let end: number;
    while ((end = raw.indexOf('\n\n')) >= 0) {
      const block = raw.slice(0, end);
      raw = raw.slice(end + 2);
      const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      if (fields.data !== undefined) events.push({ event: fields.event ?? 'message', id: fields.id, data: JSON.parse(fields.data) });
    }
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    events,
    ended,
    /** Resolves once `predicate` holds for the events received, or fails naming what did arrive. */
    async until(predicate: (events: StreamEvent[]) => boolean, what: string) {
      const deadline = Date.now() + 10_000;
      while (!predicate(events)) {
        if (Date.now() > deadline) throw new Error(`no ${what} on the stream; got ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      response.destroy();
      await ended;
    },
  };
}

async function send(key: string, number: string, text = 'Hello from the events test') {
  const res = await fetch(`${base}/api/sms/send`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ to: [{ number }], message: text }) });
  expect(res.status).toBe(200);
  return (await res.json()).messages[0].id as string;
}

beforeAll(async () => {
  gw = await startGateway({ API_KEY_REQUIRED: 'true' });
  await gw.start();
  base = `http://127.0.0.1:${(gw.app.server.address() as { port: number }).port}`;
  admin = (await gw.services.keys.create('admin', ['admin'])).key;
  reader = (await gw.services.keys.create('reader', ['read', 'sms:send'])).key;
  otherReader = (await gw.services.keys.create('other', ['read', 'sms:send'])).key;
  sender = (await gw.services.keys.create('sender', ['sms:send'])).key;
});

afterAll(async () => gw?.stop());

describe('GET /api/events', () => {
  it('refuses a request without a key (401), a key without read (403), and a client that does not ask for a stream (406)', async () => {
    const none = await fetch(`${base}/api/events`, { headers: { accept: 'text/event-stream' } });
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const bad = await fetch(`${base}/api/events`, { headers: { accept: 'text/event-stream', authorization: 'Bearer sgw_not-a-key' } });
    expect(bad.status).toBe(401);
    const noRead = await fetch(`${base}/api/events`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${sender}` } });
    expect(noRead.status).toBe(403);
    const noAccept = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${reader}` } });
    expect(noAccept.status).toBe(406);
    expect((await noAccept.json()).detail).toContain('Accept: text/event-stream');
    const badResume = await fetch(`${base}/api/events`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${reader}`, 'last-event-id': 'nonsense' } });
    expect(badResume.status).toBe(422);
  });

  it('streams each status change of the key\'s own messages, in order, with the security headers', async () => {
    const stream = await openStream(reader);
    const otherStream = await openStream(otherReader);
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
      expect(stream.headers['cache-control']).toContain('no-cache');
      expect(stream.headers['x-content-type-options']).toBe('nosniff');
      const mine = await send(reader, US);
      const theirs = await send(otherReader, US2);
      await drain(gw.services);
      await stream.until((events) => events.some((e) => e.data.message_id === mine && e.data.status === 'delivered'), 'delivered event for the key\'s message');
      await otherStream.until((events) => events.some((e) => e.data.message_id === theirs && e.data.status === 'delivered'), 'delivered event for the other key\'s message');
      const statuses = stream.events.filter((e) => e.event === 'status' && e.data.message_id === mine).map((e) => e.data.status);
      expect(statuses).toEqual(['sending', 'sent', 'delivered']);
      const delivered = stream.events.find((e) => e.data.status === 'delivered')!;
      expect(delivered.id).toBe(delivered.data.id);
      expect(delivered.data).toMatchObject({ previous_status: 'sent', source: 'provider:simulator', batch_id: expect.stringMatching(/^bat_/) });
      // Both streams are fed by the same reads: the other key's changes reached its stream, and never this one.
      expect(stream.events.some((e) => e.data.message_id === theirs)).toBe(false);
      expect(otherStream.events.some((e) => e.data.message_id === mine)).toBe(false);
    } finally {
      await stream.close();
      await otherStream.close();
    }
  });

  it('shows an admin every key\'s changes, and replays what a reconnecting client missed after Last-Event-ID', async () => {
    const first = await openStream(admin);
    let missedFrom: string;
    const id = await send(otherReader, US2, 'Resume me');
    try {
      await drain(gw.services);
      await first.until((events) => events.some((e) => e.data.message_id === id && e.data.status === 'delivered'), 'delivered event');
      missedFrom = first.events.find((e) => e.data.message_id === id && e.data.status === 'sending')!.id!;
    } finally {
      await first.close();
    }
    const resumed = await openStream(admin, { 'last-event-id': missedFrom });
    try {
      await resumed.until((events) => events.some((e) => e.data.message_id === id && e.data.status === 'delivered'), 'replayed delivered event');
      expect(resumed.events.filter((e) => e.data.message_id === id).map((e) => e.data.status)).toEqual(['sent', 'delivered']);
    } finally {
      await resumed.close();
    }
  });

  it('tells a client resuming from an event id made before the events were numbered (migration 0017) to reload', async () => {
    const resumed = await openStream(admin, { 'last-event-id': 'evt_01m8b223yp0qgjyjzfg8fbrd3e' });
    try {
      expect(resumed.status).toBe(200);
      await resumed.until((events) => events.some((e) => e.event === 'resync'), 'resync event');
      expect(resumed.events[0].event).toBe('resync');
    } finally {
      await resumed.close();
    }
  });

  it('ends open streams when the gateway shuts down, instead of holding the shutdown', async () => {
    const other = await startGateway({ API_KEY_REQUIRED: 'false' });
    await other.start();
    const stream = await openStream(undefined, {}, `http://127.0.0.1:${(other.app.server.address() as { port: number }).port}`);
    expect(stream.status).toBe(200);
    // Returns only once every connection is closed: the stream's too.
    await other.stop();
    await stream.ended;
  });
});

describe('what the dashboard reads', () => {
  it('GET /api/keys/current names the key\'s scopes, for any valid key', async () => {
    const res = await fetch(`${base}/api/keys/current`, { headers: { authorization: `Bearer ${sender}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ key_id: expect.stringMatching(/^key_/), account_sid: expect.stringMatching(/^AC[0-9a-f]{32}$/), scopes: ['sms:send'] });
    expect((await fetch(`${base}/api/keys/current`)).status).toBe(401);
    expect((await fetch(`${base}/api/keys/current`, { headers: { 'x-api-key': 'sgw_wrong' } })).status).toBe(401);
  });

  it('GET /api/sms/batches lists campaigns only, a key its own', async () => {
    const batch = await fetch(`${base}/api/sms/send-batch`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${reader}` },
      body: JSON.stringify({ name: 'Spring sale', recipients: [{ number: US }, { number: US2 }], message: 'Sale!', sms_type: 'promotional' }),
    });
    expect(batch.status).toBe(200);
    const { batch_id: batchId } = await batch.json();
    const own = await (await fetch(`${base}/api/sms/batches`, { headers: { authorization: `Bearer ${reader}` } })).json();
    expect(own.items.map((b: { batch_id: string }) => b.batch_id)).toEqual([batchId]);
    expect(own).toMatchObject({ total: 1, limit: 20, offset: 0 });
    expect(own.items[0]).toMatchObject({ name: 'Spring sale', accepted: 2 });
    const others = await (await fetch(`${base}/api/sms/batches`, { headers: { authorization: `Bearer ${otherReader}` } })).json();
    expect(others.items).toEqual([]);
    const all = await (await fetch(`${base}/api/sms/batches?limit=5`, { headers: { authorization: `Bearer ${admin}` } })).json();
    expect(all.items.map((b: { batch_id: string }) => b.batch_id)).toEqual([batchId]);
    expect((await fetch(`${base}/api/sms/batches?limit=0`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(422);
  });

  it('GET /api/prices gives the price table estimates are made from', async () => {
    const res = await fetch(`${base}/api/prices`, { headers: { authorization: `Bearer ${reader}` } });
    expect(res.status).toBe(200);
    const table = await res.json();
    expect(table.currency).toBe(gw.services.config.prices.currency);
    expect(table.providers.simulator).toEqual(gw.services.config.prices.providers.simulator);
    expect((await fetch(`${base}/api/prices`, { headers: { authorization: `Bearer ${sender}` } })).status).toBe(403);
  });
});
