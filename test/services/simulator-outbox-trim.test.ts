import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startWorkers } from '../../src/services/container.js';
import { drain, startGateway, testEnv, type TestGateway } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const number = (i: number) => `+1415555${String(2700 + i)}`;

/** Sends to `count` numbers one at a time, each sent before the next is accepted: the outbox's order is the send order. */
async function sendEach(g: TestGateway, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await post(g.app, '/api/sms/send', { to: [{ number: number(i) }], message: `message ${i}` });
    expect(res.status).toBe(200);
    ids.push(res.body.messages[0].id);
    for (const provider of g.services.router.all()) await g.services.dispatcher.dispatchOnce(provider);
    await sleep(3);
  }
  return ids;
}

const outbox = async (g: TestGateway) => (await get(g.app, '/api/simulator/outbox?limit=100')).body;

describe('SIMULATOR_OUTBOX_KEEP', () => {
  it('keeps the newest entries once their reports are out', async () => {
    gw = await startGateway({ SIMULATOR_OUTBOX_KEEP: '3' });
    const ids = await sendEach(gw, 6);
    await drain(gw.services);
    const trim = gw.services.simulatorOutboxTrim!;
    expect(await trim.trimOnce()).toBe(3);
    expect(await trim.trimOnce()).toBe(0);
    const kept = await outbox(gw);
    expect(kept.total).toBe(3);
    // Newest first, and the newest three.
    expect(kept.items.map((e: any) => e.message_id)).toEqual(ids.slice(3).reverse());
    expect(kept.items.map((e: any) => e.body)).toEqual(['message 5', 'message 4', 'message 3']);
    // The messages themselves are untouched.
    for (const id of ids) expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('delivered');
  });

  it('keeps an entry beyond the newest while its report is due or its message is not final', async () => {
    gw = await startGateway({ SIMULATOR_OUTBOX_KEEP: '1', SIMULATOR_DELIVERY_DELAY_MS: '60000' });
    const { services } = gw;
    const ids = await sendEach(gw, 4);
    const trim = services.simulatorOutboxTrim!;
    // Every report is still due: nothing goes.
    expect(await trim.trimOnce()).toBe(0);
    expect((await outbox(gw)).total).toBe(4);

    // The oldest entry marked reported while its message is still `sent` (a report its message did not take):
    // recovery may still ask the simulator about that message, so the entry stays.
    await services.store.db.updateTable('simulator_outbox').set({ reported_at: Date.now() }).where('message_id', '=', ids[0]).execute();
    expect(await trim.trimOnce()).toBe(0);

    // Once the reports are out and the messages final, all but the newest go.
    expect(await services.simulatorReports!.deliverDue(Date.now() + HOUR)).toBe(3);
    expect((await get(gw.app, `/api/sms/${ids[0]}`)).body.status).toBe('sent');
    expect(await trim.trimOnce()).toBe(2);
    expect((await outbox(gw)).items.map((e: any) => e.message_id)).toEqual([ids[3], ids[0]]);

    // A message no longer stored (deleted by hand; retention takes its entry with it) lets its entry go.
    await services.store.db.deleteFrom('messages').where('id', '=', ids[0]).execute();
    expect(await trim.trimOnce()).toBe(1);
    expect((await outbox(gw)).items.map((e: any) => e.message_id)).toEqual([ids[3]]);
  });

  it('runs with the other background loops: the outbox comes down to its cap without being driven', async () => {
    gw = await startGateway({ SIMULATOR_OUTBOX_KEEP: '2', SIMULATOR_DELIVERY_DELAY_MS: '0' });
    startWorkers(gw.services);
    const res = await post(gw.app, '/api/sms/send', { to: [0, 1, 2, 3, 4].map((i) => ({ number: number(i) })), message: 'x' });
    const ids: string[] = res.body.messages.map((m: any) => m.id);
    // The trim looks every 5 s once nothing is left: within two looks every report is out and the cap holds.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await outbox(gw)).total !== 2) await sleep(100);
    expect((await outbox(gw)).total).toBe(2);
    for (const id of ids) expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('delivered');
  }, 20_000);

  it('keeps 10,000 by default; 0 keeps every entry', async () => {
    expect(loadConfig(await testEnv({ DATABASE_URL: 'sqlite::memory:' })).simulator.outboxKeep).toBe(10_000);
    gw = await startGateway({ SIMULATOR_OUTBOX_KEEP: '0' });
    expect(gw.services.simulatorOutboxTrim).toBeUndefined();
  });
});
