import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type CompiledQuery } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { queuedWithAlternatives } from '../../src/store/dispatch-store.js';
import { claimDue, moveStatus } from '../../src/store/message-store.js';
import { SimulatorOutboxStore } from '../../src/store/simulator-outbox-store.js';
import { AuditStore } from '../../src/store/audit-store.js';
import { InboundService } from '../../src/services/inbound-service.js';
import { OptOutService } from '../../src/services/opt-out-service.js';
import { CallbackService } from '../../src/services/callback-service.js';
import { ReceiptDelivery } from '../../src/smpp-server/receipt-delivery.js';
import { migrate, migrations } from '../../src/store/migrations.js';
import type { Database as Schema } from '../../src/store/schema.js';
import { onPostgres } from '../helpers/database.js';

let dir: string;
let raw: Database.Database;
let db: Kysely<Schema>;
let executed: CompiledQuery[];

function open() {
  dir = mkdtempSync(join(tmpdir(), 'smsgw-queue-'));
  raw = new Database(join(dir, 'gateway.db'));
  executed = [];
  db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: raw }), log: (event) => { executed.push(event.query); } });
}

afterEach(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh database file with every migration. */
async function openMigrated() {
  open();
  await migrate(db, 'sqlite');
}

/** SQLite's plan for a statement the code ran: one line per step. */
function planOf(query: CompiledQuery): string[] {
  return (raw.prepare(`explain query plan ${query.sql}`).all(...(query.parameters as unknown[])) as Array<{ detail: string }>).map((step) => step.detail);
}

/** The indexes SQLite's plan for a statement the code ran reads. */
function indexesUsed(query: CompiledQuery): string[] {
  return planOf(query).flatMap((detail) => [...detail.matchAll(/USING (?:COVERING )?INDEX (\w+)/g)].map((m) => m[1]));
}

const message = (id: string, status: string, at: number) => ({
  id, batch_id: 'bat_1', to_number: '+14155550100', body: 'x', message_type: 'text', sms_type: 'transactional', encoding: 'gsm7', segments: 1,
  priority: 5, provider: 'simulator', status, estimated_cost: 0.01, currency: 'USD', attempts: 0, due_at: at, created_at: at, updated_at: at, key_id: null,
  lease_until: status === 'sending' ? at : null,
});

describe.skipIf(onPostgres)('migration 0011 (SQLite)', () => {
  it('makes a queue index the claim and failover read, holding only queued messages', async () => {
    await openMigrated();
    const now = Date.now();
    await db.insertInto('messages').values([
      message(newId('msg', now - 3), 'queued', now - 3), message(newId('msg', now - 2), 'sending', now - 2_000),
      message(newId('msg', now - 1), 'scheduled', now - 1), message(newId('msg', now), 'delivered', now),
    ] as any).execute();
    const inQueueIndex = () => (raw.prepare(`select count(*) n from messages indexed by messages_queue where status = 'queued'`).get() as { n: number }).n;
    expect(inQueueIndex()).toBe(1);
    executed = [];
    await queuedWithAlternatives(db, 'simulator', 10, now);
    expect(await claimDue(db, 'sqlite', 'simulator', 10, now, now + 60_000)).toHaveLength(1);
    const reads = executed.filter((q) => /from "messages"/.test(q.sql));
    // The failover read has had an index of its own, of the routed queued messages, since migration 0020 (below).
    expect(reads.map(indexesUsed)).toEqual([expect.arrayContaining(['messages_queue_routed']), expect.arrayContaining(['messages_queue'])]);
    // Claimed, it has left the index: final and sending messages are in none of the queue's indexes.
    expect(inQueueIndex()).toBe(0);
    expect(raw.prepare(`select name from sqlite_master where name = 'messages_dispatch'`).get()).toBeUndefined();
  });

  it('makes an index of the simulator\'s reports still to go out, which the report loop reads', async () => {
    await openMigrated();
    const now = Date.now();
    const entry = (id: string, reportedAt: number | null) => ({
      id, message_id: `msg_${id}`, to_number: '+14155550100', from_number: null, body: 'x', encoding: 'GSM-7', segments: 1,
      accepted_at: now - 5_000, report_due_at: now - 1_000, report_status: 'delivered', reported_at: reportedAt,
    });
    await db.insertInto('simulator_outbox').values([entry('sim_1', now - 500), entry('sim_2', null)]).execute();
    const outbox = new SimulatorOutboxStore(db, undefined as never, undefined as never);
    executed = [];
    expect((await outbox.dueReports(now, 10)).map((r) => r.id)).toEqual(['sim_2']);
    expect(indexesUsed(executed[0])).toEqual(['simulator_outbox_pending']);
    expect((raw.prepare(`select count(*) n from simulator_outbox indexed by simulator_outbox_pending where reported_at is null`).get() as { n: number }).n).toBe(1);
  });

  it('rebuilds batches without rowid, keeping its rows and indexes, and leaves the other tables as they were', async () => {
    open();
    const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0011_queue_indexes'));
    expect((await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest()).error).toBeUndefined();
    const at = Date.UTC(2026, 10, 1);
    const rows = Array.from({ length: 50 }, (_, i) => ({ id: newId('evt', at + i), message_id: `msg_${i % 7}`, status: 'sent', previous_status: 'sending', source: 'dispatcher', detail: i % 2 ? null : 'd', created_at: at + i }));
    await (db as Kysely<any>).insertInto('message_events').values(rows).execute();
    await db.insertInto('send_attempts').values([{ id: 'att_1', message_id: 'msg_1', provider: 'simulator', outcome: 'accepted', provider_message_id: 'p1', error_code: null, provider_error_code: null, error_message: null, duration_ms: 3, created_at: at }]).execute();
    await db.insertInto('batches').values([{ id: 'bat_1', name: 'spring', kind: 'batch', status: 'queued', sms_type: 'promotional', message_type: 'text', provider: 'simulator', template_id: null, schedule_at: null, expire_at: null, callback_url: null, total_recipients: 2, accepted: 2, rejected: 0, duplicates: 0, total_segments: 2, estimated_cost: 0.02, currency: 'USD', metadata: null, created_at: at, updated_at: at, key_id: 'key_1' }]).execute();
    await (db as Kysely<any>).insertInto('audit_log').values([{ id: 'aud_1', created_at: at, key_id: 'key_1', action: 'sms.send', resource: 'message', resource_id: 'msg_1', result: 200, ip: '127.0.0.1' }]).execute();
    const tablesBefore = dump();
    expect(Object.values(tablesBefore.rows).map((rows) => rows.length)).toEqual([50, 1, 1, 1]);

    // Only as far as 0011: 0017 makes message_events anew (migration-0017.test.ts).
    const through0011 = Object.fromEntries(Object.entries(migrations).filter(([name]) => name <= '0011_queue_indexes'));
    expect((await new Migrator({ db, provider: { getMigrations: async () => through0011 } }).migrateToLatest()).error).toBeUndefined();

    const definition = (table: string) => (raw.prepare(`select sql from sqlite_master where type = 'table' and name = ?`).get(table) as { sql: string }).sql;
    expect(definition('batches')).toMatch(/WITHOUT ROWID$/);
    for (const table of ['message_events', 'send_attempts', 'audit_log']) expect(definition(table)).not.toMatch(/WITHOUT ROWID/);
    const after = dump();
    expect(after.rows).toEqual(tablesBefore.rows);
    expect(after.indexes).toEqual(tablesBefore.indexes);
    // Still enforced: the id is the key.
    expect(() => raw.prepare(`insert into batches (id, kind, status, sms_type, message_type, provider, total_recipients, accepted, rejected, duplicates, total_segments, estimated_cost, currency, created_at, updated_at)
      values ('bat_1', 'single', 'queued', 'otp', 'text', 'simulator', 1, 1, 0, 0, 1, 0.01, 'USD', 1, 1)`).run()).toThrow(/UNIQUE|PRIMARY KEY/);
    const plan = raw.prepare(`explain query plan select id from batches where kind = 'batch' order by id desc limit 20`).all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/batches_campaigns/);
  });
});

function dump() {
  const tables = ['message_events', 'send_attempts', 'batches', 'audit_log'];
  return {
    rows: Object.fromEntries(tables.map((t) => [t, raw.prepare(`select * from ${t} order by id`).all()])),
    indexes: (raw.prepare(`select name, tbl_name, sql from sqlite_master where type = 'index' and sql is not null and tbl_name in (${tables.map(() => '?').join(', ')}) order by name`).all(...tables)),
  };
}

describe.skipIf(onPostgres)('migration 0018 (SQLite)', () => {
  it('the scheduler finds what came due, and what expired, on indexes holding only those messages, a chunk at a time', async () => {
    await openMigrated();
    const now = Date.now();
    await db.insertInto('messages').values([
      message(newId('msg', now - 3), 'scheduled', now - 3), message(newId('msg', now - 2), 'scheduled', now + 60_000),
      message(newId('msg', now - 1), 'queued', now - 1), message(newId('msg', now), 'delivered', now),
    ] as any).execute();
    expect((raw.prepare(`select count(*) n from messages indexed by messages_scheduled where status = 'scheduled'`).get() as { n: number }).n).toBe(2);
    executed = [];
    const due = await moveStatus(db, { from: ['scheduled'], dueBefore: now, limit: 1 }, 'queued', 'scheduler', now);
    await moveStatus(db, { from: ['scheduled', 'queued'], expiredBefore: now, limit: 1 }, 'expired', 'scheduler', now);
    expect(due).toHaveLength(1);
    expect((await db.selectFrom('messages').select('status').where('id', '=', due[0].id).executeTakeFirstOrThrow()).status).toBe('queued');
    // Each chunk is chosen on a range of its partial index, then moved by id: no step reads every message of the status.
    const plans = executed.filter((q) => /^update "messages"/.test(q.sql)).map(planOf);
    expect(plans).toHaveLength(3);
    expect(plans[0]).toContain('SEARCH messages USING INDEX messages_scheduled (status=? AND due_at<?)');
    for (const plan of plans.slice(1)) expect(plan).toContain('SEARCH messages USING INDEX messages_expiry (status=? AND expire_at<?)');
    for (const plan of plans) expect(plan.filter((step) => /USING (COVERING )?INDEX messages_status_id \(status=\?\)/.test(step))).toEqual([]);
  });
});

describe.skipIf(onPostgres)('migration 0020 (SQLite)', () => {
  it('routing around an open circuit reads an index of the queued messages that have a route, and only those', async () => {
    await openMigrated();
    const now = Date.now();
    const routed = { ...message(newId('msg', now - 2), 'queued', now - 2), route: JSON.stringify(['simulator', 'twilio']) };
    await db.insertInto('messages').values([routed, message(newId('msg', now - 1), 'queued', now - 1)] as any).execute();
    expect((raw.prepare(`select count(*) n from messages indexed by messages_queue_routed where status = 'queued' and route is not null`).get() as { n: number }).n).toBe(1);
    executed = [];
    expect((await queuedWithAlternatives(db, 'simulator', 10, now)).map((m) => m.id)).toEqual([routed.id]);
    expect(executed.map(indexesUsed)).toEqual([['messages_queue_routed']]);
  });
});

describe.skipIf(onPostgres)('migration 0021 (SQLite)', () => {
  it('the opt-out, inbound and audit lists read their newest rows along an index, with or without their filters, sorting none of them', async () => {
    await openMigrated();
    const now = Date.now();
    const config = { phoneValidation: 'lenient', defaultCountry: undefined } as any;
    const unusedCommits = {} as any;
    executed = [];
    await new OptOutService(config, db, unusedCommits).list({ limit: 50, offset: 100 });
    await new InboundService(config, db, unusedCommits, undefined as any).list({ limit: 50 });
    await new InboundService(config, db, unusedCommits, undefined as any).list({ limit: 50, from: '+14155550100' });
    const audit = new AuditStore(db, unusedCommits);
    await audit.list({}, 50, 0);
    await audit.list({ date_from: now - 86_400_000, date_to: now }, 50, 0);
    await audit.list({ action: 'keys.delete' }, 50, 0);
    await audit.list({ key_id: 'key_1', date_from: now - 86_400_000 }, 50, 0);
    const pages = executed.filter((q) => /order by/.test(q.sql));
    expect(pages).toHaveLength(7);
    const plans = pages.map((q) => planOf(q).join('; '));
    expect(plans[0]).toMatch(/SCAN opt_outs USING INDEX opt_outs_time/);
    expect(plans[1]).toMatch(/SCAN inbound_messages USING INDEX inbound_time/);
    expect(plans[2]).toMatch(/SEARCH inbound_messages USING INDEX inbound_from \(from_number=\?\)/);
    expect(plans[3]).toMatch(/SCAN audit_log USING INDEX audit_log_time/);
    expect(plans[4]).toMatch(/SEARCH audit_log USING INDEX audit_log_time \(created_at>\? AND created_at<\?\)/);
    expect(plans[5]).toMatch(/SEARCH audit_log USING INDEX audit_log_action \(action=\?\)/);
    expect(plans[6]).toMatch(/SEARCH audit_log USING INDEX audit_log_time \(created_at>\?\)/);
    // Their totals too: the action's count reads its own range of an index, a key's the date range's.
    const counts = executed.filter((q) => /count\(\*\)/.test(q.sql) && /from "audit_log"/.test(q.sql)).slice(2)
      .map((q) => planOf(q).join('; '));
    expect(counts).toEqual([expect.stringMatching(/audit_log_action \(action=\?\)/), expect.stringMatching(/audit_log_time \(created_at>\?\)/)]);
    // No page sorts the rows it reads (one sender's inbound sorts its ties on the time by id, the last term only).
    plans.forEach((plan, i) => expect(plan).not.toMatch(i === 2 ? /TEMP B-TREE FOR ORDER BY/ : /TEMP B-TREE/));
  });
});

describe.skipIf(onPostgres)('migration 0022 (SQLite)', () => {
  it('the HTTP callbacks and the SMPP receipts are claimed each on an index of their own kind, an account at a time', async () => {
    await openMigrated();
    const commits = { run: (job: (trx: unknown) => Promise<unknown>) => db.transaction().execute(job) } as any;
    executed = [];
    await new CallbackService({ webhooks: { timeoutSeconds: 1 } } as any, db, 'sqlite', commits, undefined as any, undefined as any).deliverDue();
    await new ReceiptDelivery(db, 'sqlite', commits, undefined as any, { accounts: () => ['esme1', 'esme2'], sessionFor: () => undefined }).deliverDue();
    const claims = executed.filter((q) => /^update "callbacks"/.test(q.sql));
    expect(claims).toHaveLength(3);
    const plans = claims.map((q) => planOf(q).join('; '));
    expect(plans[0]).toMatch(/SEARCH callbacks USING INDEX callbacks_due_http \(status=\? AND next_attempt_at<\?\)/);
    for (const plan of plans.slice(1)) expect(plan).toMatch(/SEARCH callbacks USING INDEX callbacks_due_smpp \(url=\? AND next_attempt_at<\?\)/);
    for (const plan of plans) expect(plan).not.toMatch(/callbacks_due |TEMP B-TREE/);
    expect(claims.slice(1).map((q) => q.parameters)).toEqual([expect.arrayContaining(['smpp:esme1']), expect.arrayContaining(['smpp:esme2'])]);
  });

  it('with more accounts bound than a look takes receipts, a look takes its batch and the next starts where it stopped', async () => {
    await openMigrated();
    const now = Date.now();
    const accounts = Array.from({ length: 150 }, (_, i) => `esme${i}`);
    // Receipts of messages no longer stored: each claimed one is dropped at once, so what a look took is what went.
    await db.insertInto('callbacks').values(accounts.map((a, i) => ({
      id: `cb_${i}`, message_id: `msg_gone_${i}`, url: `smpp:${a}`, payload: JSON.stringify({ status: 'delivered', timestamp: '' }), status: 'pending',
      attempts: 0, next_attempt_at: now - 1000, lease_until: null, last_error: null, created_at: now - 1000, updated_at: now - 1000,
    }))).execute();
    const commits = { run: (job: (trx: unknown) => Promise<unknown>) => db.transaction().execute(job) } as any;
    const receipts = new ReceiptDelivery(db, 'sqlite', commits, undefined as any, { accounts: () => accounts, sessionFor: () => undefined });
    const left = async () => (await db.selectFrom('callbacks').select('url').orderBy('id').execute()).map((r) => r.url.slice('smpp:'.length));
    expect(await receipts.deliverDue(now)).toBe(100);
    expect(await left()).toEqual(accounts.slice(100).sort());
    expect(await receipts.deliverDue(now)).toBe(50);
    expect(await left()).toEqual([]);
  });
});
