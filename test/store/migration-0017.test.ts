/**
 * Migration 0017: message_events and audit_log keyed by a number the database gives, the stored rows
 * numbered in the order of their old ids (their time), on SQLite and PostgreSQL alike.
 */
import { Migrator, sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { AuditStore } from '../../src/store/audit-store.js';
import { createStore, type Store } from '../../src/store/database.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { recordTransitions } from '../../src/store/message-store.js';
import { migrate, migrations } from '../../src/store/migrations.js';
import { dropDatabase, freshDatabaseUrl } from '../helpers/database.js';

let url: string;
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  await dropDatabase(url);
});

async function migratedTo(last: string): Promise<Store> {
  url = await freshDatabaseUrl();
  store = createStore(url, 'normal');
  const migrationTableSchema = store.dialect === 'postgres'
    ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0].schema
    : undefined;
  const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name <= last));
  expect((await new Migrator({ db: store.db, provider: { getMigrations: async () => before }, migrationTableSchema }).migrateToLatest()).error).toBeUndefined();
  return store;
}

describe('migration 0017: numbered events', () => {
  it('numbers the stored events in the order of their old ids, keeping every field, and numbers new ones after them', async () => {
    const s = await migratedTo('0016_accepted_send_on_message');
    const at = Date.UTC(2026, 10, 1);
    // Stored out of time order (as several writers would), each with an id made from its time.
    const times = [5, 1, 4, 2, 3, 0].map((i) => at + i * 1_000);
    const old = times.map((t, i) => ({
      id: newId('evt', t), message_id: `msg_${i % 2}`, status: 'sent', previous_status: i % 3 ? 'sending' : null,
      source: `source ${t - at}`, detail: i % 2 ? null : `detail ${i}`, created_at: t,
    }));
    await (s.db as Kysely<any>).insertInto('message_events').values(old).execute();

    await migrate(s.db, s.dialect);

    const rows = await s.db.selectFrom('message_events').selectAll().orderBy('id').execute();
    const byTime = [...old].sort((a, b) => a.created_at - b.created_at);
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rows.map(({ id, ...fields }) => fields)).toEqual(byTime.map(({ id, ...fields }) => fields));

    await recordTransitions(s.db, [{ message: { id: 'msg_new', callback_url: null } as never, from: 'sending', to: 'sent', source: 'dispatcher', at: at + 10_000 }], false);
    const added = await s.db.selectFrom('message_events').select(['id', 'message_id']).where('message_id', '=', 'msg_new').execute();
    expect(added).toEqual([{ id: 7, message_id: 'msg_new' }]);

    // A message's events are read through an index of their message.
    const indexes = s.dialect === 'sqlite'
      ? (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'message_events' and sql is not null`.execute(s.db)).rows
      : (await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'message_events' and schemaname = current_schema() and indexname <> 'message_events_pkey'`.execute(s.db)).rows;
    expect(indexes.map((r) => r.name).sort()).toEqual(s.dialect === 'sqlite' ? ['message_events_message'] : ['message_events_message', 'message_events_time']);
    if (s.dialect === 'postgres') {
      // Named as if the table had been made under its own name.
      const sequence = await sql<{ name: string }>`select pg_get_serial_sequence('message_events', 'id') as name`.execute(s.db);
      expect(sequence.rows[0].name).toMatch(/\.message_events_id_seq$/);
    }
  });

  it('numbers the stored audit rows in time order, and lists old and new rows newest first, by date as before', async () => {
    const s = await migratedTo('0016_accepted_send_on_message');
    const at = Date.UTC(2026, 10, 1);
    const times = [3, 0, 2, 1].map((i) => at + i * 60_000);
    const old = times.map((t, i) => ({ id: newId('aud', t), created_at: t, key_id: i % 2 ? 'key_1' : null, action: `action ${t - at}`, resource: 'batch', resource_id: `bat_${i}`, result: 200 + i, ip: '127.0.0.1' }));
    await (s.db as Kysely<any>).insertInto('audit_log').values(old).execute();

    await migrate(s.db, s.dialect);

    const rows = await s.db.selectFrom('audit_log').selectAll().orderBy('id').execute();
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(rows.map(({ id, ...fields }) => fields)).toEqual([...old].sort((a, b) => a.created_at - b.created_at).map(({ id, ...fields }) => fields));

    const audit = new AuditStore(s.db, new GroupCommit(s.db, s.dialect));
    audit.append({ keyId: null, action: 'after', resource: 'key', resourceId: null, result: 201, ip: null }, at + 10 * 60_000);
    await audit.close();
    const listed = await audit.list({}, 10, 0);
    expect(listed.items.map((r) => r.action)).toEqual(['after', 'action 180000', 'action 120000', 'action 60000', 'action 0']);
    expect(listed.items[0].id).toBe('aud_5');
    expect((await audit.list({ date_from: at + 60_000, date_to: at + 120_000 }, 10, 0)).items.map((r) => r.action)).toEqual(['action 120000', 'action 60000']);
    if (s.dialect === 'sqlite') {
      // The page is read in the index's order: no sort of every row in the range (the number ends each entry).
      const plan = await sql<{ detail: string }>`explain query plan select * from audit_log where created_at >= 0 order by created_at desc, id desc limit 50`.execute(s.db);
      expect(plan.rows.map((r) => r.detail).join(' | ')).toMatch(/^SEARCH audit_log USING INDEX audit_log_time[^|]*$/);
    }
  });

  it('never gives a number twice, even when the newest event is gone', async () => {
    const s = await migratedTo('0017_numbered_keys');
    const at = Date.now();
    const record = (messageId: string) => recordTransitions(s.db, [{ message: { id: messageId, callback_url: null } as never, from: 'queued', to: 'sending', source: 'dispatcher', at }], false);
    await record('msg_a');
    await record('msg_b');
    const [newest] = await s.db.deleteFrom('message_events').where('message_id', '=', 'msg_b').returning('id').execute();
    await record('msg_c');
    const c = await s.db.selectFrom('message_events').select('id').where('message_id', '=', 'msg_c').executeTakeFirstOrThrow();
    // The live feed reads past the last number it saw (SQLite): a number given again would be skipped.
    expect(c.id).toBeGreaterThan(newest.id);
  });
});
