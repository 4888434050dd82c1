/**
 * What the analytics summary triggers (src/store/analytics-summary.ts) add to writing messages: the
 * same writes on a database with the triggers and on one with them dropped, alternating, in this
 * process (no HTTP), so the difference is the triggers' own cost.
 *
 *   npx tsx bench/stats-trigger-cost.ts [--postgres URL] [--rounds 3] [--messages 20000] [--drop PREFIX] [--campaigns]
 *
 * "Without" drops every trigger on `messages` whose name begins with `--drop` (all of them by default;
 * `--drop message_totals` for the list totals' alone, src/store/message-totals.ts). `--campaigns`: every
 * message belongs to a campaign (a `batches` row of kind 'batch' per 1,000), so the campaign figures'
 * triggers (src/store/batch-totals.ts) do their work; without it their batches have no row, as single sends'.
 *
 * Each round, per database: N single-row inserts (one statement each, as single sends), N/1000 inserts of
 * 1,000 rows (as batches), then per message: queued → sending, sending → sent, sent → delivered; single
 * statements in transactions of 50 (a trigger makes SQLite keep a statement journal inside a transaction).
 */
import { sql, type Kysely } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { newId } from '../src/domain/ids.js';
import { createStore, type Store } from '../src/store/database.js';
import { migrate } from '../src/store/migrations.js';

const { values: args } = parseArgs({ options: { postgres: { type: 'string' }, rounds: { type: 'string', default: '3' }, messages: { type: 'string', default: '20000' }, drop: { type: 'string', default: '' }, campaigns: { type: 'boolean', default: false } } });
const N = Number(args.messages);

async function openDatabase(withTriggers: boolean): Promise<{ store: Store; drop(): Promise<void> }> {
  let url: string;
  let drop: () => Promise<void>;
  if (args.postgres) {
    const schema = `bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
    const admin = new pg.Client({ connectionString: args.postgres });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.end();
    const u = new URL(args.postgres);
    u.searchParams.set('options', `-c search_path=${schema}`);
    url = u.toString();
    drop = async () => {
      const c = new pg.Client({ connectionString: args.postgres });
      await c.connect();
      await c.query(`drop schema ${schema} cascade`);
      await c.end();
    };
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'smsgw-triggers-'));
    url = `sqlite:${join(dir, 'gateway.db')}`;
    drop = async () => rmSync(dir, { recursive: true, force: true });
  }
  const store = createStore(url, 'normal');
  await migrate(store.db, store.dialect);
  if (!withTriggers) {
    const triggers = store.dialect === 'postgres'
      ? await sql<{ name: string }>`select tgname as name from pg_trigger where tgrelid = 'messages'::regclass and not tgisinternal`.execute(store.db)
      : await sql<{ name: string }>`select name from sqlite_master where type = 'trigger' and tbl_name = 'messages'`.execute(store.db);
    for (const { name } of triggers.rows.filter((t) => t.name.startsWith(args.drop))) {
      await sql.raw(store.dialect === 'postgres' ? `drop trigger ${name} on messages` : `drop trigger ${name}`).execute(store.db);
    }
  }
  return { store, drop: async () => { await store.close(); await drop(); } };
}

const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'IN'];
function message(i: number, now: number) {
  return {
    id: newId('msg', now), batch_id: `bat_${Math.floor(i / 1000)}`, to_number: `+1415555${String(i % 10_000).padStart(4, '0')}`, country: COUNTRIES[i % 5],
    body: 'Your order has shipped.', message_type: 'text', sms_type: i % 3 ? 'transactional' : 'otp', encoding: 'gsm7', segments: 1, priority: 5,
    provider: 'simulator', status: 'queued', estimated_cost: 0.0079, currency: 'USD', attempts: 0, due_at: now, created_at: now, updated_at: now, key_id: null,
  };
}

async function timeIt(work: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await work();
  return performance.now() - t;
}

/** Statements in transactions of 50, as the group commit and the dispatcher write them. */
async function inTransactions(db: Kysely<any>, count: number, statement: (tx: Kysely<any>, i: number) => Promise<unknown>) {
  for (let start = 0; start < count; start += 50) {
    await db.transaction().execute(async (tx) => {
      for (let i = start; i < Math.min(count, start + 50); i++) await statement(tx, i);
    });
  }
}

async function round(db: Kysely<any>) {
  const now = Date.now();
  if (args.campaigns) {
    await db.insertInto('batches').values(Array.from({ length: (2 * N) / 1000 }, (_, b) => ({
      id: `bat_${b}`, name: `campaign ${b}`, kind: 'batch', status: 'queued', sms_type: 'transactional', message_type: 'text', provider: 'simulator',
      total_recipients: 1000, accepted: 1000, rejected: 0, duplicates: 0, total_segments: 1000, estimated_cost: 7.9, currency: 'USD', created_at: now, updated_at: now,
    }))).execute();
  }
  const single = await timeIt(() => inTransactions(db, N, (tx, i) => tx.insertInto('messages').values(message(i, now)).execute()));
  const batch = await timeIt(async () => {
    for (let b = 0; b < N / 1000; b++) {
      await db.insertInto('messages').values(Array.from({ length: 1000 }, (_, i) => message(N + b * 1000 + i, now))).execute();
    }
  });
  const ids = (await db.selectFrom('messages').select('id').where('status', '=', 'queued').limit(N).execute()).map((r) => r.id as string);
  const step = async (set: Record<string, unknown>) => timeIt(() => inTransactions(db, ids.length, (tx, i) => tx.updateTable('messages').set(set).where('id', '=', ids[i]).execute()));
  const sending = await step({ status: 'sending', attempts: 1, lease_until: now + 60_000 });
  const sent = await step({ status: 'sent', sent_at: now + 100, provider_message_id: 'p' });
  const delivered = await step({ status: 'delivered', final_at: now + 1500 });
  return { single, batch, sending, sent, delivered };
}

const perRow = (ms: number, rows: number) => (ms * 1000) / rows;
const results: Record<'with' | 'without', Array<Awaited<ReturnType<typeof round>>>> = { with: [], without: [] };
for (let r = 0; r < Number(args.rounds); r++) {
  for (const variant of (r % 2 ? ['without', 'with'] : ['with', 'without']) as Array<'with' | 'without'>) {
    const { store, drop } = await openDatabase(variant === 'with');
    results[variant].push(await round(store.db));
    await drop();
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\n${args.postgres ? 'PostgreSQL' : 'SQLite'}, triggers dropped: ${args.drop || 'all'}, ${N.toLocaleString('en')} messages per round, median of ${args.rounds} rounds, µs per message\n`);
console.log('| write | without triggers | with triggers | added |\n| --- | --- | --- | --- |');
for (const [key, label, rows] of [['single', 'insert, one row per statement', N], ['batch', 'insert, 1,000 rows per statement', N], ['sending', 'update queued → sending', N], ['sent', 'update sending → sent', N], ['delivered', 'update sent → delivered', N]] as const) {
  const a = median(results.without.map((x) => perRow(x[key], rows)));
  const b = median(results.with.map((x) => perRow(x[key], rows)));
  console.log(`| ${label} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b - a).toFixed(1)} |`);
}
