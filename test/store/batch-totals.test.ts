import fc from 'fast-check';
import { Migrator, sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { MESSAGE_STATUSES } from '../../src/domain/message-status.js';
import { campaignFigures, countedFigures, type BatchFigures } from '../../src/store/batch-totals.js';
import { migrate, migrations } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { createStore } from '../../src/store/database.js';
import { dropDatabase, freshDatabaseUrl, onPostgres } from '../helpers/database.js';
import { freshStores } from '../helpers/fresh-store.js';
import { applyCommon, checkAfterChanges, commonChanges, isCommonChange, pickMessages, picks, statusIndex, type CommonChange } from '../helpers/message-changes.js';

const freshStore = freshStores();

const AT = Date.UTC(2026, 10, 1);
// Two campaigns and a single send's batch, whose messages must leave no totals behind.
const BATCHES = [
  { id: 'bat_campaign_a', kind: 'batch' as const },
  { id: 'bat_campaign_b', kind: 'batch' as const },
  { id: 'bat_single', kind: 'single' as const },
];
const COSTS = [null, 0, 0.0079, 0.05];
let serial = 0;

const batchRow = (b: (typeof BATCHES)[number]) => ({
  id: b.id, name: b.kind === 'batch' ? b.id : null, kind: b.kind, status: 'queued' as const, sms_type: 'promotional', message_type: 'text', provider: 'simulator',
  total_recipients: 0, accepted: 0, rejected: 0, duplicates: 0, total_segments: 0, estimated_cost: 0, currency: 'USD', created_at: AT, updated_at: AT,
});

const messageRow = (batch: number, status: number, segments: number, cost: number) => {
  const at = AT + serial++;
  return {
    id: newId('msg', at), batch_id: BATCHES[batch].id, to_number: '+14155550100', body: 'x', message_type: 'text', sms_type: 'promotional', encoding: 'GSM-7',
    segments, priority: 5, provider: 'simulator', status: MESSAGE_STATUSES[status], estimated_cost: 0.0079 * segments, cost: COSTS[cost], currency: 'USD',
    attempts: 0, due_at: at, created_at: at, updated_at: at,
  };
};

/** What the totals must equal: the campaign's messages counted one by one. */
async function expectFiguresMatch(db: Kysely<Database>) {
  for (const b of BATCHES.filter((x) => x.kind === 'batch')) {
    const fromTotals = await campaignFigures(db, b.id);
    const counted = await countedFigures(db, b.id);
    const rounded = (f: BatchFigures) => ({ ...f, billedCost: Math.round(f.billedCost * 1e6) / 1e6 || 0 }); // float sums: -0 and residues
    expect(rounded(fromTotals), b.id).toEqual(rounded(counted));
  }
  const singles = await db.selectFrom('batch_totals').select('batch_id').where('batch_id', '=', 'bat_single').execute();
  expect(singles).toEqual([]);
}

const dims = fc.tuple(fc.nat({ max: BATCHES.length - 1 }), statusIndex, fc.integer({ min: 1, max: 4 }), fc.nat({ max: COSTS.length - 1 }));
type Change =
  | { kind: 'insert'; rows: Array<[number, number, number, number]> }
  | { kind: 'cost'; picks: number[]; cost: number; status: number | null }
  | { kind: 'segments'; picks: number[]; segments: number }
  | { kind: 'rebatch'; picks: number[]; batch: number }
  | CommonChange;
const change: fc.Arbitrary<Change> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('insert' as const), rows: fc.array(dims, { minLength: 1, maxLength: 8 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('cost' as const), picks, cost: fc.nat({ max: COSTS.length - 1 }), status: fc.option(statusIndex) }), weight: 2 },
  fc.record({ kind: fc.constant('segments' as const), picks, segments: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('rebatch' as const), picks, batch: fc.nat({ max: BATCHES.length - 1 }) }),
  ...commonChanges,
);

async function apply(db: Kysely<Database>, c: Change) {
  if (c.kind === 'insert') return void await db.insertInto('messages').values(c.rows.map((d) => messageRow(...d))).execute();
  if (isCommonChange(c)) return applyCommon(db, c, AT);
  const chosen = await pickMessages(db, c.picks);
  if (chosen.length === 0) return;
  const where = db.updateTable('messages').where('id', 'in', chosen);
  // A provider's reported price, often with the status that came with it.
  if (c.kind === 'cost') await where.set({ cost: COSTS[c.cost], ...(c.status === null ? {} : { status: MESSAGE_STATUSES[c.status] }) }).execute();
  if (c.kind === 'segments') await where.set({ segments: c.segments }).execute();
  if (c.kind === 'rebatch') await where.set({ batch_id: BATCHES[c.batch].id }).execute();
}

describe('batch totals', () => {
  it('equal a campaign\'s messages counted one by one after inserts, status and cost changes, moves and deletes', { timeout: 240_000 }, async () => {
    const { store } = await freshStore();
    const db = store.db;
    await db.insertInto('batches').values(BATCHES.map(batchRow)).execute();
    await checkAfterChanges(db, change, apply, () => expectFiguresMatch(db));
  });

  it.skipIf(!onPostgres)('add up every shard: two transactions changing one campaign at once each write a row of their own', async () => {
    const { store } = await freshStore();
    const db = store.db;
    await db.insertInto('batches').values(BATCHES.map(batchRow)).execute();
    await db.insertInto('messages').values([messageRow(0, 2, 1, 0), messageRow(0, 2, 1, 2)]).execute();
    const [a, b] = (await db.selectFrom('messages').select('id').orderBy('id').execute()).map((r) => r.id);
    let wrote!: () => void;
    let release!: () => void;
    const firstWrote = new Promise<void>((r) => (wrote = r));
    const released = new Promise<void>((r) => (release = r));
    // The first holds its shard until it commits, so the second, meanwhile, must take another.
    const first = db.transaction().execute(async (trx) => {
      await trx.updateTable('messages').set({ status: 'sending' }).where('id', '=', a).execute();
      wrote();
      await released;
    });
    await firstWrote;
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('messages').set({ status: 'sent', cost: 0.05 }).where('id', '=', b).execute();
    });
    release();
    await first;
    const shards = await db.selectFrom('batch_totals').select('shard').where('batch_id', '=', BATCHES[0].id).execute();
    expect(new Set(shards.map((r) => r.shard)).size).toBeGreaterThan(1);
    await expectFiguresMatch(db);
    expect(await campaignFigures(db, BATCHES[0].id)).toMatchObject({ counts: { sending: 1, sent: 1 }, segments: 2 });
  });

  it('go with the campaign when the purge deletes it', async () => {
    const { store } = await freshStore();
    const db = store.db;
    await db.insertInto('batches').values(BATCHES.map(batchRow)).execute();
    await db.insertInto('messages').values([messageRow(0, 5, 1, 2), messageRow(1, 5, 2, 2)]).execute();
    await db.deleteFrom('messages').where('batch_id', '=', BATCHES[0].id).execute();
    await db.deleteFrom('batches').where('id', '=', BATCHES[0].id).execute();
    const left = await db.selectFrom('batch_totals').select('batch_id').distinct().execute();
    expect(left.map((r) => r.batch_id)).toEqual([BATCHES[1].id]);
  });

  it('count the messages stored before the migration ran', async () => {
    const url = await freshDatabaseUrl();
    const store = createStore(url, 'normal');
    try {
      const migrationTableSchema = store.dialect === 'postgres'
        ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0].schema
        : undefined;
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0014_batch_totals'));
      expect((await new Migrator({ db: store.db, provider: { getMigrations: async () => before }, migrationTableSchema }).migrateToLatest()).error).toBeUndefined();
      await store.db.insertInto('batches').values(BATCHES.map(batchRow)).execute();
      await store.db.insertInto('messages').values(Array.from({ length: 90 }, (_, i) => messageRow(i % 3, (i * 7) % 10, 1 + (i % 4), i % 4))).execute();
      await migrate(store.db, store.dialect);
      await expectFiguresMatch(store.db);
      expect(Object.values((await campaignFigures(store.db, BATCHES[0].id)).counts).reduce((a, b) => a + b, 0)).toBe(30);
    } finally {
      await store.close();
      await dropDatabase(url);
    }
  });
});
