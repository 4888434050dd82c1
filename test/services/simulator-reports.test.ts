import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { drain, startGateway, US, US2, type TestGateway } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const HOUR = 3_600_000;

describe('the simulator\'s delivery reports', () => {
  it('are applied and marked sent in one transaction: a failed mark leaves the reports to go out again, unapplied and uncounted', async () => {
    gw = await startGateway({ SIMULATOR_DELIVERY_DELAY_MS: '60000' });
    const { services } = gw;
    const db = services.store.db;
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: US2 }], message: 'report me' })).status).toBe(200);
    for (const provider of services.router.all()) await services.dispatcher.dispatchOnce(provider);
    const statuses = async () => (await db.selectFrom('messages').select('status').execute()).map((m) => m.status);
    expect(await statuses()).toEqual(['sent', 'sent']);

    // The mark fails inside the transaction, after the reports were applied in it.
    if (services.store.dialect === 'postgres') {
      await sql`create function refuse_mark() returns trigger language plpgsql as $$ begin raise exception 'mark refused'; end $$`.execute(db);
      await sql`create trigger refuse_mark before update on simulator_outbox for each statement execute function refuse_mark()`.execute(db);
    } else {
      await sql`create trigger refuse_mark before update of reported_at on simulator_outbox begin select raise(abort, 'mark refused'); end`.execute(db);
    }
    await expect(services.simulatorReports!.deliverDue(Date.now() + HOUR)).rejects.toThrow(/mark refused/);
    expect(await statuses()).toEqual(['sent', 'sent']);
    expect((await db.selectFrom('simulator_outbox').select('reported_at').execute()).map((e) => e.reported_at)).toEqual([null, null]);

    await sql.raw(services.store.dialect === 'postgres' ? 'drop trigger refuse_mark on simulator_outbox' : 'drop trigger refuse_mark').execute(db);
    expect(await services.simulatorReports!.deliverDue(Date.now() + HOUR)).toBe(2);
    expect(await statuses()).toEqual(['delivered', 'delivered']);
    expect((await db.selectFrom('simulator_outbox').select('reported_at').execute()).every((e) => e.reported_at !== null)).toBe(true);
    // Nothing left to report.
    expect(await services.simulatorReports!.deliverDue(Date.now() + HOUR)).toBe(0);
    // Counted once, by the attempt that committed: the refused one counted nothing.
    const metrics = (await get(gw.app, '/metrics')).body as string;
    expect(metrics).toMatch(/^sms_messages_delivered_total\{provider="simulator"\} 2$/m);
    await drain(services);
  });
});
