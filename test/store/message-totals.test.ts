import fc from 'fast-check';
import { Migrator, sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { MESSAGE_STATUSES } from '../../src/domain/message-status.js';
import { storedTotal, type TotalsFilter } from '../../src/store/message-totals.js';
import { migrate, migrations } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { createStore } from '../../src/store/database.js';
import { dropDatabase, freshDatabaseUrl } from '../helpers/database.js';
import { freshStores } from '../helpers/fresh-store.js';
import { applyCommon, checkAfterChanges, commonChanges, isCommonChange, pickMessages, picks, statusIndex, type CommonChange } from '../helpers/message-changes.js';

const freshStore = freshStores();

const KEYS = [null, 'key_a', 'key_b'];
const PROVIDERS = ['simulator', 'twilio', 'plivo'];
const TYPES = ['transactional', 'promotional', 'otp'];
const AT = Date.UTC(2026, 10, 1);
let serial = 0;

const row = (key: number, provider: number, type: number, status: number) => {
  const at = AT + serial++;
  return {
    id: newId('msg', at), batch_id: 'bat_1', to_number: '+14155550100', body: 'x', message_type: 'text', sms_type: TYPES[type], encoding: 'GSM-7',
    segments: 1, priority: 5, provider: PROVIDERS[provider], status: MESSAGE_STATUSES[status], estimated_cost: 0.01, currency: 'USD', attempts: 0,
    due_at: at, created_at: at, updated_at: at, key_id: KEYS[key],
  };
};

/** COUNT(*) over the messages: what the totals must always equal. */
async function counted(db: Kysely<Database>, f: TotalsFilter): Promise<number> {
  let q = db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n'));
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.provider !== undefined) q = q.where('provider', '=', f.provider);
  if (f.sms_type !== undefined) q = q.where('sms_type', '=', f.sms_type);
  if (f.key_id !== undefined) q = q.where(sql`coalesce(key_id, '')`, '=', f.key_id);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

async function expectTotalsMatch(db: Kysely<Database>) {
  for (const status of [undefined, ...MESSAGE_STATUSES]) {
    for (const provider of [undefined, ...PROVIDERS]) {
      for (const key_id of [undefined, '', 'key_a']) {
        const filters: TotalsFilter[] = [{ status, provider, key_id }, { status, provider, key_id, sms_type: 'otp' }];
        for (const f of filters) expect(await storedTotal(db, f), JSON.stringify(f)).toBe(await counted(db, f));
      }
    }
  }
}

const dims = fc.tuple(fc.nat({ max: KEYS.length - 1 }), fc.nat({ max: PROVIDERS.length - 1 }), fc.nat({ max: TYPES.length - 1 }), statusIndex);
type Change =
  | { kind: 'insert'; rows: Array<[number, number, number, number]> }
  | { kind: 'move'; picks: number[]; provider: number | null; key: number | null; type: number | null; status: number | null }
  | CommonChange;
const change: fc.Arbitrary<Change> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('insert' as const), rows: fc.array(dims, { minLength: 1, maxLength: 8 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('move' as const), picks, provider: fc.option(fc.nat({ max: PROVIDERS.length - 1 })), key: fc.option(fc.nat({ max: KEYS.length - 1 })), type: fc.option(fc.nat({ max: TYPES.length - 1 })), status: fc.option(statusIndex) }), weight: 2 },
  ...commonChanges,
);

async function apply(db: Kysely<Database>, c: Change) {
  if (c.kind === 'insert') return void await db.insertInto('messages').values(c.rows.map((d) => row(...d))).execute();
  if (isCommonChange(c)) return applyCommon(db, c, AT);
  const chosen = await pickMessages(db, c.picks);
  if (chosen.length === 0) return;
  const where = db.updateTable('messages').where('id', 'in', chosen);
  if (c.kind === 'move') await where.set({
    ...(c.provider === null ? {} : { provider: PROVIDERS[c.provider] }),
    ...(c.key === null ? {} : { key_id: KEYS[c.key] }),
    ...(c.type === null ? {} : { sms_type: TYPES[c.type] }),
    ...(c.status === null ? {} : { status: MESSAGE_STATUSES[c.status] }),
    updated_at: AT,
  }).execute();
}

describe('message totals', () => {
  it('equal a count of the stored messages after inserts, status changes, moves and deletes', { timeout: 240_000 }, async () => {
    const { store } = await freshStore();
    await checkAfterChanges(store.db, change, apply, () => expectTotalsMatch(store.db));
  });

  it('count the messages stored before the migration ran', async () => {
    const url = await freshDatabaseUrl();
    const store = createStore(url, 'normal');
    try {
      // As migrate() does: on PostgreSQL the migration tables live in this test's schema.
      const migrationTableSchema = store.dialect === 'postgres'
        ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0].schema
        : undefined;
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0013_message_totals'));
      expect((await new Migrator({ db: store.db, provider: { getMigrations: async () => before }, migrationTableSchema }).migrateToLatest()).error).toBeUndefined();
      await store.db.insertInto('messages').values(Array.from({ length: 200 }, (_, i) => row(i % 3, (i * 7) % 3, (i * 5) % 3, (i * 11) % 10))).execute();
      await migrate(store.db, store.dialect);
      await expectTotalsMatch(store.db);
      expect(await storedTotal(store.db, {})).toBe(200);
    } finally {
      await store.close();
      await dropDatabase(url);
    }
  });

  it('answer a status no message can have with zero', async () => {
    const { store } = await freshStore();
    await store.db.insertInto('messages').values([row(0, 0, 0, 5)]).execute();
    expect(await storedTotal(store.db, { status: 'no such status' })).toBe(0);
    expect(await storedTotal(store.db, { status: 'delivered' })).toBe(1);
  });
});

