import { afterEach, describe, expect, it } from 'vitest';
import { startWorkers, stopWorkers } from '../../src/services/container.js';
import { purgeExpiredResponses } from '../../src/store/idempotency-store.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const DAY = 86_400_000;
// Stored per caller: `<API key id>:<Idempotency-Key>`, the operator's (no API key) as `:<key>`.
const stored = (key: string) => `:${key}`;
const keys = async (g: TestGateway) => (await g.services.store.db.selectFrom('idempotency_keys').select('key').orderBy('key').execute()).map((r) => r.key);

/** A send with an Idempotency-Key, answered 200. */
async function sendWithKey(g: TestGateway, key: string, number: string) {
  const res = await post(g.app, '/api/sms/send', { to: [{ number }], message: 'hi' }, { 'idempotency-key': key });
  expect(res.status).toBe(200);
  return res;
}

describe('Idempotency-Key replies past their 24 hours', () => {
  it('are purged; the keys still within the window stay and still replay', async () => {
    gw = await startGateway();
    await sendWithKey(gw, 'old-1', '+14155550101');
    await sendWithKey(gw, 'old-2', '+14155550102');
    const fresh = await sendWithKey(gw, 'fresh', '+14155550103');
    // Two of them a day and a minute old.
    await gw.services.store.db.updateTable('idempotency_keys').set({ created_at: Date.now() - DAY - 60_000 }).where('key', 'in', [stored('old-1'), stored('old-2')]).execute();

    expect(await gw.services.idempotencyPurge.purgeOnce()).toBe(2);
    expect(await gw.services.idempotencyPurge.purgeOnce()).toBe(0);
    expect(await keys(gw)).toEqual([stored('fresh')]);
    const replay = await post(gw.app, '/api/sms/send', { to: [{ number: '+14155550103' }], message: 'hi' }, { 'idempotency-key': 'fresh' });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.batch_id).toBe(fresh.body.batch_id);
    // A purged key is a new request again.
    const again = await sendWithKey(gw, 'old-1', '+14155550101');
    expect(again.headers['idempotent-replayed']).toBeUndefined();
  });

  it('go oldest first, a batch at a time', async () => {
    gw = await startGateway();
    for (let i = 0; i < 5; i++) await sendWithKey(gw, `k${i}`, `+1415555011${i}`);
    for (let i = 0; i < 5; i++) await gw.services.store.db.updateTable('idempotency_keys').set({ created_at: Date.now() - 2 * DAY + i * 1000 }).where('key', '=', stored(`k${i}`)).execute();
    expect(await purgeExpiredResponses(gw.services.commits, Date.now(), 2)).toBe(2);
    expect(await keys(gw)).toEqual(['k2', 'k3', 'k4'].map(stored));
  });

  it('startWorkers runs the purge', async () => {
    gw = await startGateway();
    await sendWithKey(gw, 'old', '+14155550120');
    await gw.services.store.db.updateTable('idempotency_keys').set({ created_at: Date.now() - DAY - 1 }).execute();
    startWorkers(gw.services);
    try {
      for (let i = 0; i < 100 && (await keys(gw)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await keys(gw)).toEqual([]);
    } finally {
      await stopWorkers(gw.services);
    }
  });
});
