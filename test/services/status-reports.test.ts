import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { OPERATOR } from '../../src/domain/api-keys.js';
import { closeServices, createServices, type Services } from '../../src/services/container.js';
import type { MessagesTable } from '../../src/store/schema.js';
import { onPostgres } from '../helpers/database.js';
import { testEnv } from '../helpers/gateway.js';

let services: Services | undefined;
afterEach(async () => {
  if (services) await closeServices(services);
  services = undefined;
});

/** Stores a message for `number` and puts it in the given state, as if the dispatcher had got that far. */
async function messageIn(s: Services, number: string, state: Partial<MessagesTable>): Promise<string> {
  const sent = await s.send.send({ to: [{ number }], message: 'report me' }, undefined, OPERATOR);
  const id = (sent.body as { messages: Array<{ id: string }> }).messages[0].id;
  await s.store.db.updateTable('messages').set(state).where('id', '=', id).execute();
  return id;
}

const row = (s: Services, id: string) => s.store.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const events = async (s: Services, id: string) =>
  (await s.store.db.selectFrom('message_events').select(['status', 'previous_status']).where('message_id', '=', id).orderBy('created_at').orderBy('id').execute())
    .map((e) => `${e.previous_status}->${e.status}`);

describe('delivery reports in one call', () => {
  it('are each judged as if applied one by one, in order, whatever their mix', async () => {
    services = await createServices(loadConfig(await testEnv()));
    const s = services;
    const t0 = Date.now() - 60_000;
    const delivered = await messageIn(s, '+14155550101', { status: 'sent', provider_message_id: 'sim_a', sent_at: t0 });
    const twice = await messageIn(s, '+14155550102', { status: 'sending', provider_message_id: 'sim_b' });
    const failed = await messageIn(s, '+14155550103', { status: 'sent', provider_message_id: 'sim_c', sent_at: t0 });
    const late = await messageIn(s, '+14155550104', { status: 'delivered', provider_message_id: 'sim_d', sent_at: t0, final_at: t0 + 5 });
    const neverSent = await messageIn(s, '+14155550105', { status: 'queued' });
    const priced = await messageIn(s, '+14155550106', { status: 'sending', provider_message_id: null });

    const outcomes = await s.status.applyProviderReports('simulator', [
      { providerMessageId: 'sim_a', status: 'delivered', timestamp: t0 + 1_000 },
      { providerMessageId: 'sim_b', status: 'sent' },
      { providerMessageId: 'sim_c', status: 'undelivered', errorCode: 'UNDELIVERABLE', errorMessage: 'absent subscriber', timestamp: t0 + 2_000 },
      { providerMessageId: 'sim_b', status: 'delivered' },
      { providerMessageId: 'sim_d', status: 'undelivered' },
      { providerMessageId: 'sim_unknown', status: 'delivered' },
      { providerMessageId: 'sim_e', messageId: neverSent, status: 'delivered' },
      { providerMessageId: 'sim_f', messageId: priced, status: 'delivered', cost: 0.0123 },
      { providerMessageId: 'sim_a', status: 'delivered' },
    ]);

    expect(outcomes.map((o) => [o.message_id, o.previous_status, o.status, o.applied])).toEqual([
      [delivered, 'sent', 'delivered', true],
      [twice, 'sending', 'sent', true],
      [failed, 'sent', 'undelivered', true],
      [twice, 'sent', 'delivered', true],
      [late, 'delivered', 'delivered', false],
      [null, null, null, false],
      [neverSent, 'queued', 'queued', false],
      [priced, 'sending', 'delivered', true],
      [delivered, 'delivered', 'delivered', false],
    ]);
    expect(outcomes[4].reason).toMatch(/already final/);
    expect(outcomes[5].reason).toMatch(/kept/);
    expect(outcomes[6].refused).toBe(true);

    expect(await row(s, delivered)).toMatchObject({ status: 'delivered', sent_at: t0, final_at: t0 + 1_000, lease_until: null });
    expect(await row(s, failed)).toMatchObject({ status: 'undelivered', error_code: 'UNDELIVERABLE', error_message: 'absent subscriber', final_at: t0 + 2_000 });
    const twiceRow = await row(s, twice);
    expect(twiceRow.status).toBe('delivered');
    expect(twiceRow.sent_at).not.toBeNull();
    expect(await row(s, late)).toMatchObject({ status: 'delivered', final_at: t0 + 5 });
    expect((await row(s, neverSent)).status).toBe('queued');
    expect(await row(s, priced)).toMatchObject({ status: 'delivered', provider_message_id: 'sim_f', cost: 0.0123 });

    expect(await events(s, delivered)).toContain('sent->delivered');
    expect((await events(s, twice)).slice(-2)).toEqual(['sending->sent', 'sent->delivered']);
    expect(await events(s, late)).not.toContain('delivered->undelivered');
    expect((await s.store.db.selectFrom('early_reports').select('provider_message_id').execute()).map((r) => r.provider_message_id)).toEqual(['sim_unknown']);
  });
});

// SQLite has one writer at a time, so the race below cannot happen there.
describe.skipIf(!onPostgres)('delivery reports in one call racing the dispatcher on PostgreSQL', () => {
  it('a report whose message the dispatcher moved meanwhile is judged again on the row as it is now; the others are applied', async () => {
    services = await createServices(loadConfig(await testEnv()));
    const s = services;
    const racing = await messageIn(s, '+14155550111', { status: 'sending', provider_message_id: 'sim_r' });
    const plain = await messageIn(s, '+14155550112', { status: 'sent', provider_message_id: 'sim_p', sent_at: Date.now() });

    const dispatcher = await s.store.db.startTransaction().execute();
    await dispatcher.updateTable('messages').set({ status: 'sent', sent_at: Date.now() }).where('id', '=', racing).execute();
    const reports = s.status.applyProviderReports('simulator', [
      { providerMessageId: 'sim_r', status: 'delivered' }, { providerMessageId: 'sim_p', status: 'delivered' },
    ]);
    await new Promise((r) => setTimeout(r, 300));
    await dispatcher.commit().execute();

    expect((await reports).map((o) => [o.previous_status, o.status, o.applied])).toEqual([['sent', 'delivered', true], ['sent', 'delivered', true]]);
    expect((await row(s, racing)).status).toBe('delivered');
    expect((await row(s, plain)).status).toBe('delivered');
  });
});
