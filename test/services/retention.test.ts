import { sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onPostgres } from '../helpers/database.js';
import { drain, startGateway, type TestGateway, US, US2, GB } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await gw?.stop();
  gw = undefined;
});

const DAY = 86_400_000;

async function rows(g: TestGateway, table: 'message_events' | 'messages' | 'batches' | 'otp_sessions' | 'simulator_outbox' | 'send_attempts', messageIds?: string[]) {
  let q = g.services.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
  if (messageIds) q = q.where(table === 'messages' ? 'id' : 'message_id' as any, 'in', messageIds);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

describe('MESSAGE_RETENTION_DAYS', () => {
  it('deletes final messages older than the retention with everything hanging off them, in small batches, and keeps the rest', async () => {
    gw = await startGateway({ MESSAGE_RETENTION_DAYS: '7', RETENTION_BATCH_SIZE: '2' });
    const g = gw;
    // Ten days ago: a batch of two and a single message, delivered; a draft; an OTP, verified.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 10 * DAY);
    const oldBatch = (await post(g.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: US2 }], message: 'old batch' })).body;
    const oldSingle = (await post(g.app, '/api/sms/send', { to: [{ number: GB }], message: 'old single' })).body;
    const draft = (await post(g.app, '/api/sms/send-batch', { recipients: [{ number: US }], message: 'old draft', send_immediately: false })).body;
    await post(g.app, '/api/otp/generate', { phone_number: { number: '+14155550123' } });
    await drain(g.services);
    const code = (await get(g.app, '/api/simulator/outbox?to=%2B14155550123&limit=1')).body.items[0].body.match(/(\d{4,10})/)[1];
    expect((await post(g.app, '/api/otp/verify', { phone_number: { number: '+14155550123' }, otp_code: code })).body.verified).toBe(true);
    vi.useRealTimers();

    const recent = (await post(g.app, '/api/sms/send', { to: [{ number: US }], message: 'recent' })).body;
    await drain(g.services);
    const oldIds = [...(await get(g.app, `/api/sms?batch_id=${oldBatch.batch_id}`)).body.items.map((m: { id: string }) => m.id), oldSingle.messages[0].id];
    const otpMessageIds = (await get(g.app, '/api/sms?sms_type=otp')).body.items.map((m: { id: string }) => m.id);
    expect(oldIds).toHaveLength(3);
    expect(otpMessageIds).toHaveLength(1);
    const purgedIds = [...oldIds, ...otpMessageIds];
    for (const id of purgedIds) expect((await get(g.app, `/api/sms/${id}`)).body.status).toBe('delivered');
    expect(await rows(g, 'message_events', purgedIds)).toBeGreaterThan(0);
    expect(await rows(g, 'simulator_outbox', purgedIds)).toBe(4);

    const retention = g.services.retention!;
    let rounds = 0;
    while (await retention.purgeOnce() > 0) rounds++;
    // Four messages two at a time, then batches and the OTP session.
    expect(rounds).toBeGreaterThanOrEqual(2);

    for (const id of purgedIds) expect((await get(g.app, `/api/sms/${id}`)).status).toBe(404);
    for (const table of ['message_events', 'simulator_outbox', 'send_attempts'] as const) expect(await rows(g, table, purgedIds)).toBe(0);
    expect((await get(g.app, `/api/sms/batches/${oldBatch.batch_id}`)).status).toBe(404);
    expect(await rows(g, 'otp_sessions')).toBe(0);
    // Not final, however old: the draft stays, with its batch.
    expect((await get(g.app, `/api/sms/batches/${draft.batch_id}`)).body.counts).toEqual({ draft: 1 });
    // Newer than the retention: stays.
    expect((await get(g.app, `/api/sms/${recent.messages[0].id}`)).body.status).toBe('delivered');
    expect(await rows(g, 'messages')).toBe(2);

    const metrics = (await get(g.app, '/metrics')).body as string;
    expect(metrics).toContain('sms_retention_purged_total{kind="message"} 4');
    expect(metrics).toContain('sms_retention_purged_total{kind="otp_session"} 1');
  });

  it('is off unless MESSAGE_RETENTION_DAYS or AUDIT_RETENTION_DAYS is set, and refuses a retention under a day', async () => {
    gw = await startGateway();
    expect(gw.services.retention).toBeUndefined();
    await expect(startGateway({ MESSAGE_RETENTION_DAYS: '0' })).rejects.toThrow(/MESSAGE_RETENTION_DAYS/);
    await expect(startGateway({ AUDIT_RETENTION_DAYS: '0' })).rejects.toThrow(/AUDIT_RETENTION_DAYS/);
  });

  it('AUDIT_RETENTION_DAYS deletes audit rows older than it, oldest first, a batch at a time; messages stay without MESSAGE_RETENTION_DAYS', async () => {
    gw = await startGateway({ AUDIT_RETENTION_DAYS: '30', RETENTION_BATCH_SIZE: '2' });
    const g = gw;
    const now = Date.now();
    const row = (ageDays: number, i: number) => ({
      created_at: now - ageDays * DAY - i, key_id: null, action: 'sms.send', resource: 'batch', resource_id: `bat_${ageDays}_${i}`, result: 200, ip: '127.0.0.1',
    });
    await g.services.store.db.insertInto('audit_log').values([row(40, 0), row(31, 0), row(31, 1), row(29, 0), row(1, 0)]).execute();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(now - 45 * DAY);
    const old = (await post(g.app, '/api/sms/send', { to: [{ number: US }], message: 'old' })).body;
    await drain(g.services);
    vi.useRealTimers();
    const retention = g.services.retention!;
    const left = async () => (await g.services.store.db.selectFrom('audit_log').select('resource_id').orderBy('created_at').execute()).map((r) => r.resource_id);
    // The send's own audit row (45 days old) is written in the background, within about 100 ms.
    for (let waited = 0; (await left()).length < 6 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(await left()).toEqual([old.batch_id, 'bat_40_0', 'bat_31_1', 'bat_31_0', 'bat_29_0', 'bat_1_0']);
    // Oldest first, two at a time.
    expect(await retention.purgeOnce(now)).toBe(2);
    expect(await left()).toEqual(['bat_31_1', 'bat_31_0', 'bat_29_0', 'bat_1_0']);
    expect(await retention.purgeOnce(now)).toBe(2);
    expect(await retention.purgeOnce(now)).toBe(0);
    expect(await left()).toEqual(['bat_29_0', 'bat_1_0']);
    // Audit only: the 45-day-old message is still there.
    expect((await get(g.app, `/api/sms/${old.messages[0].id}`)).body.status).toBe('delivered');
    expect((await get(g.app, '/metrics')).body as string).toContain('sms_retention_purged_total{kind="audit"} 4');
  });

  it.skipIf(onPostgres)('an audit log the gateway may not delete from stops only the audit purge: the messages still go', async () => {
    gw = await startGateway({ MESSAGE_RETENTION_DAYS: '7', AUDIT_RETENTION_DAYS: '7', RETENTION_BATCH_SIZE: '10' });
    const g = gw;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 10 * DAY);
    const old = (await post(g.app, '/api/sms/send', { to: [{ number: US }], message: 'old' })).body;
    await drain(g.services);
    vi.useRealTimers();
    const auditRows = async () => Number((await g.services.store.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    for (let waited = 0; (await auditRows()) === 0 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(await auditRows()).toBe(1);
    // As a PostgreSQL grant of INSERT and SELECT only would: deleting from the log fails.
    await sql`create trigger audit_log_kept before delete on audit_log begin select raise(abort, 'permission denied for table audit_log'); end`.execute(g.services.store.db);
    const retention = g.services.retention!;
    while (await retention.purgeOnce() > 0);
    expect((await get(g.app, `/api/sms/${old.messages[0].id}`)).status).toBe(404);
    expect(await auditRows()).toBe(1);
    await sql`drop trigger audit_log_kept`.execute(g.services.store.db);
    expect(await retention.purgeOnce()).toBe(1);
    expect(await auditRows()).toBe(0);
  });
});
