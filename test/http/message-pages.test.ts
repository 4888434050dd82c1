import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway;
beforeEach(async () => {
  gw = await startGateway({ MAX_RECIPIENTS_PER_REQUEST: '1000' });
});
afterEach(async () => gw.stop());

const number = (i: number) => `+1415555${String(5000 + i)}`;

async function sendTo(count: number, from = 0, extra: Record<string, unknown> = {}): Promise<void> {
  const recipients = Array.from({ length: count }, (_, i) => ({ number: number(from + i) }));
  expect((await post(gw.app, '/api/sms/send-batch', { recipients, message: 'pages', ...extra })).status).toBe(200);
}

/** Every page from the first by `next_cursor`: the ids in the order read, and the pages' sizes. */
async function readAll(query: string, limit: number): Promise<{ ids: string[]; sizes: number[]; totals: number[] }> {
  const ids: string[] = [];
  const sizes: number[] = [];
  const totals: number[] = [];
  let cursor: string | null = null;
  do {
    const res = await get(gw.app, `/api/sms?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.status).toBe(200);
    ids.push(...res.body.items.map((m: { id: string }) => m.id));
    sizes.push(res.body.items.length);
    totals.push(res.body.total);
    cursor = res.body.next_cursor;
  } while (cursor !== null && sizes.length < 100);
  return { ids, sizes, totals };
}

describe('GET /api/sms with offset', () => {
  it('gives the same page whichever end it is read from: past the middle the page is found from the oldest end', async () => {
    await sendTo(37);
    await sendTo(24, 100, { sms_type: 'promotional' });
    const batchId = (await get(gw.app, '/api/sms?limit=1')).body.items[0].batch_id;
    // Totals-backed filters (found from the oldest end past the middle), and ones counted from their
    // index (always read newest first, beside the count).
    const queries: Array<[string, number]> = [
      ['', 61], ['&status=queued', 61], ['&sms_type=promotional', 24], ['&sms_type=transactional', 37], [`&batch_id=${batchId}`, 24], [`&to=${encodeURIComponent(number(3))}`, 1],
    ];
    for (const [query, rows] of queries) {
      const all = (await get(gw.app, `/api/sms?limit=100${query}`)).body;
      const newestFirst: string[] = all.items.map((m: { id: string }) => m.id);
      expect(newestFirst, query).toHaveLength(rows);
      expect([...newestFirst].sort().reverse()).toEqual(newestFirst);
      for (const limit of [1, 5, 24, 100]) {
        for (let offset = 0; offset <= newestFirst.length + 1; offset++) {
          const page = (await get(gw.app, `/api/sms?limit=${limit}&offset=${offset}${query}`)).body;
          expect(page.items.map((m: { id: string }) => m.id), `${query} limit ${limit} offset ${offset}`).toEqual(newestFirst.slice(offset, offset + limit));
          expect(page.total).toBe(newestFirst.length);
          expect(page.next_cursor).toBe(page.items.length === limit ? page.items[limit - 1].id : null);
        }
      }
    }
  });
});

describe('GET /api/sms with cursor (keyset pagination)', () => {
  it('walks every message newest first, page by page, the same rows offset gives', async () => {
    await sendTo(120);
    const { ids, sizes, totals } = await readAll('', 50);
    expect(sizes).toEqual([50, 50, 20]);
    expect(totals).toEqual([120, 120, 120]);
    expect(new Set(ids).size).toBe(120);
    const byOffset = [];
    for (const offset of [0, 50, 100]) byOffset.push(...(await get(gw.app, `/api/sms?limit=50&offset=${offset}`)).body.items.map((m: { id: string }) => m.id));
    expect(ids).toEqual(byOffset);
    expect([...ids].sort().reverse()).toEqual(ids);
  });

  it('a page that ends exactly at the last row still offers a cursor, whose page is empty and final', async () => {
    await sendTo(40);
    const { sizes } = await readAll('', 20);
    expect(sizes).toEqual([20, 20, 0]);
  });

  it('keeps its place when newer messages arrive between pages, where offset would repeat rows', async () => {
    await sendTo(30);
    const first = (await get(gw.app, '/api/sms?limit=10')).body;
    await sendTo(5, 100);
    const second = (await get(gw.app, `/api/sms?limit=10&cursor=${first.next_cursor}`)).body;
    const firstIds = new Set(first.items.map((m: { id: string }) => m.id));
    expect(second.items.filter((m: { id: string }) => firstIds.has(m.id))).toEqual([]);
    expect(second.items[0].id < first.items[9].id).toBe(true);
    // By offset, the second page now starts with rows the first page already showed.
    const shifted = (await get(gw.app, '/api/sms?limit=10&offset=10')).body;
    expect(shifted.items.filter((m: { id: string }) => firstIds.has(m.id)).length).toBe(5);
  });

  it('pages within a filter', async () => {
    await sendTo(30);
    await sendTo(25, 200, { sms_type: 'promotional' });
    const { ids, sizes, totals } = await readAll('&sms_type=promotional', 10);
    expect(sizes).toEqual([10, 10, 5]);
    expect(totals[0]).toBe(25);
    for (const id of ids) expect((await get(gw.app, `/api/sms/${id}`)).body.sms_type).toBe('promotional');
    const to = (await readAll(`&to=${encodeURIComponent(number(3))}`, 10));
    expect(to.ids).toHaveLength(1);
  });

  it('refuses a cursor with an offset, and a cursor that is not one, naming the field', async () => {
    await sendTo(3);
    const cursor = (await get(gw.app, '/api/sms?limit=1')).body.next_cursor;
    const both = await get(gw.app, `/api/sms?limit=1&cursor=${cursor}&offset=5`);
    expect(both.status).toBe(422);
    expect(both.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(both.body.errors).toEqual([{ field: 'offset', message: expect.stringMatching(/cursor/) }]);
    for (const bad of ['x', 'msg_', "msg_1' or '1'='1", 'msg_' + 'a'.repeat(61)]) {
      const res = await get(gw.app, `/api/sms?cursor=${encodeURIComponent(bad)}`);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(JSON.stringify(res.body.errors)).toMatch(/cursor/);
    }
  });
});
