import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { SCHEDULER_CHUNK } from '../../src/worker.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';

let gw: TestGateway;
beforeEach(async () => {
  gw = await startGateway({ MAX_RECIPIENTS_PER_REQUEST: '1000' });
});
afterEach(async () => gw.stop());

/** Two campaigns for the same moment, together more than two of the scheduler's chunks. */
async function scheduleCampaigns(at: number, expireAt?: number): Promise<void> {
  for (const [campaign, size] of [[0, SCHEDULER_CHUNK + 100], [1, SCHEDULER_CHUNK + 50]] as const) {
    const recipients = Array.from({ length: size }, (_, i) => ({ number: `+1212${2_000_000 + campaign * 100_000 + i * 7}` }));
    const res = await post(gw.app, '/api/sms/send-batch', {
      recipients, message: 'Morning sale', sms_type: 'promotional', schedule_at: new Date(at).toISOString(),
      ...(expireAt === undefined ? {} : { expire_at: new Date(expireAt).toISOString() }),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'scheduled', accepted: size });
  }
}

/** Each message's status changes made by the scheduler, as [message id, from, to]. */
async function schedulerEvents() {
  return gw.services.store.db.selectFrom('message_events').select(['message_id', 'previous_status', 'status']).where('source', '=', 'scheduler').execute();
}

const counts = async () => Object.fromEntries((await gw.services.store.db.selectFrom('messages').select(['status', (eb) => eb.fn.countAll<number>().as('n')])
  .groupBy('status').execute()).map((r) => [r.status, Number(r.n)]));

describe('the scheduler, a chunk at a time', () => {
  it('one look releases every message that came due, each once, however many chunks they take', async () => {
    const total = 2 * SCHEDULER_CHUNK + 150;
    // Margins of a second: a loaded CI machine must not accept them after their own schedule time.
    const at = Date.now() + 1500;
    await scheduleCampaigns(at);
    await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now()) + 50));
    await gw.services.dispatcher.maintain();
    expect(await counts()).toEqual({ queued: total });
    const events = await schedulerEvents();
    expect(events).toHaveLength(total);
    expect(new Set(events.map((e) => e.message_id)).size).toBe(total);
    expect(events.every((e) => e.previous_status === 'scheduled' && e.status === 'queued')).toBe(true);
  });

  it('messages past their expire_at when they come due all expire in that look, whichever chunk reaches them first', async () => {
    const total = 2 * SCHEDULER_CHUNK + 150;
    const at = Date.now() + 1500;
    await scheduleCampaigns(at, at + 100);
    await new Promise((r) => setTimeout(r, Math.max(0, at + 100 - Date.now()) + 50));
    await gw.services.dispatcher.maintain();
    expect(await counts()).toEqual({ expired: total });
    const events = await schedulerEvents();
    // Each ends expired once: straight from scheduled, or queued first when a due chunk reached it before an expiry chunk.
    const expiredOnce = events.filter((e) => e.status === 'expired');
    expect(expiredOnce).toHaveLength(total);
    expect(new Set(expiredOnce.map((e) => e.message_id)).size).toBe(total);
    expect(events.filter((e) => e.status === 'queued').every((e) => e.previous_status === 'scheduled')).toBe(true);
  });

  it('early reports whose message never showed up go after a day, by their ids, a chunk a look', async () => {
    const now = Date.now();
    const report = (i: number, at: number) => ({ id: newId('erp', at), provider: 'twilio', provider_message_id: `SM${i}`, report: '{}', created_at: at });
    const old = Array.from({ length: SCHEDULER_CHUNK + 5 }, (_, i) => report(i, now - 86_400_000 - 60_000 + i));
    const recent = [report(-1, now - 86_400_000 + 60_000), report(-2, now - 1000)];
    for (let i = 0; i < old.length; i += 100) await gw.services.store.db.insertInto('early_reports').values(old.slice(i, i + 100)).execute();
    await gw.services.store.db.insertInto('early_reports').values(recent).execute();
    const left = async () => (await gw.services.store.db.selectFrom('early_reports').select('id').orderBy('id').execute()).map((r) => r.id);
    await gw.services.dispatcher.maintain();
    // The oldest went first; the rest at the next look.
    expect(await left()).toEqual([...old.slice(SCHEDULER_CHUNK), ...recent].map((r) => r.id));
    await gw.services.dispatcher.maintain();
    expect(await left()).toEqual(recent.map((r) => r.id));
  });
});
