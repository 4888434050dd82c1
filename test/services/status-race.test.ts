import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { OPERATOR } from '../../src/domain/api-keys.js';
import { closeServices, createServices, type Services } from '../../src/services/container.js';
import { onPostgres } from '../helpers/database.js';
import { testEnv } from '../helpers/gateway.js';

let services: Services | undefined;
afterEach(async () => {
  if (services) await closeServices(services);
  services = undefined;
});

// SQLite has one writer at a time, so the race below cannot happen there.
describe.skipIf(!onPostgres)('a delivery report racing the dispatcher on PostgreSQL', () => {
  it('a report that waited for the row while the dispatcher stored `sent` is applied to the row as it is now, not dropped', async () => {
    services = await createServices(loadConfig(await testEnv()));
    const { db } = services.store;
    const sent = await services.send.send({ to: [{ number: '+14155550142' }], message: 'race' }, undefined, OPERATOR);
    const id = (sent.body as { messages: Array<{ id: string }> }).messages[0].id;
    await db.updateTable('messages').set({ status: 'sending' }).where('id', '=', id).execute();

    // The dispatcher's store transaction: sending -> sent, not yet committed.
    const dispatcher = await db.startTransaction().execute();
    await dispatcher.updateTable('messages').set({ status: 'sent', provider_message_id: 'sim_race', sent_at: Date.now() }).where('id', '=', id).execute();
    // The report reads `sending`, then waits for the dispatcher's row lock.
    const report = services.status.applyToMessage(id, { status: 'delivered' }, 'provider:simulator');
    await new Promise((r) => setTimeout(r, 300));
    await dispatcher.commit().execute();

    expect(await report).toMatchObject({ applied: true, status: 'delivered', previous_status: 'sent' });
    expect((await db.selectFrom('messages').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('delivered');
  });
});
