import fc from 'fast-check';
import { Migrator, sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { roundCost } from '../../src/domain/pricing.js';
import { createStore } from '../../src/store/database.js';
import { migrate, migrations } from '../../src/store/migrations.js';
import type { Database } from '../../src/store/schema.js';
import { dropDatabase, freshDatabaseUrl } from '../helpers/database.js';
import { drain, startGateway, type TestGateway, US, US2, GB } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await gw?.stop();
  gw = undefined;
});

const HOUR = 3_600_000;
const NUMBERS = [US, US2, GB, '+447400123457', '+4915112345678', '+33612345678'];

/**
 * The statistics as they were computed before the summaries: straight from every message row.
 * The reference every summary answer must equal.
 */
async function recount(db: Kysely<Database>, q: { date_from?: string; date_to?: string; provider?: string; sms_type?: string; group_by?: 'hour' | 'day' }) {
  const from = q.date_from ? Date.parse(q.date_from) : undefined;
  const to = q.date_to ? Date.parse(q.date_to) : undefined;
  const base = () => {
    let b = db.selectFrom('messages');
    if (from !== undefined) b = b.where('created_at', '>=', from);
    if (to !== undefined) b = b.where('created_at', '<=', to);
    if (q.provider) b = b.where('provider', '=', q.provider);
    if (q.sms_type) b = b.where('sms_type', '=', q.sms_type);
    return b;
  };
  const rate = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000);
  const aggregates = (eb: any) => [
    eb.fn.countAll().as('total'),
    sql<number>`sum(case when sent_at is not null then 1 else 0 end)`.as('accepted'),
    sql<number>`sum(case when status = 'delivered' then 1 else 0 end)`.as('delivered'),
    sql<number>`sum(case when status in ('failed', 'undelivered') then 1 else 0 end)`.as('errors'),
    sql<number>`sum(case when sent_at is not null or (status = 'failed' and attempts > 0) then 1 else 0 end)`.as('finished'),
    sql<number>`sum(case when sent_at is not null then coalesce(cost, estimated_cost) else 0 end)`.as('cost'),
    sql<number>`sum(segments)`.as('segments'),
  ];
  const shape = (r: any) => ({
    total: Number(r.total ?? 0), accepted: Number(r.accepted ?? 0), delivered: Number(r.delivered ?? 0), segments: Number(r.segments ?? 0),
    delivery_rate: rate(Number(r.delivered ?? 0), Number(r.accepted ?? 0)),
    success_rate: rate(Number(r.accepted ?? 0), Number(r.finished ?? 0)),
    error_rate: rate(Number(r.errors ?? 0), Number(r.finished ?? 0)),
    cost: roundCost(Number(r.cost ?? 0)),
  });
  const size = q.group_by === 'hour' ? HOUR : 24 * HOUR;
  const bucket = sql<number>`(created_at / ${sql.lit(size)}) * ${sql.lit(size)}`;
  const [overall, byStatus, byProvider, byCountry, byType, series, delivered] = await Promise.all([
    base().select(aggregates).executeTakeFirstOrThrow(),
    base().select((eb) => ['status', eb.fn.countAll<number>().as('n')]).groupBy('status').execute(),
    base().select((eb) => ['provider', ...aggregates(eb)]).groupBy('provider').execute(),
    base().select((eb) => ['country', ...aggregates(eb)]).groupBy('country').execute(),
    base().select((eb) => ['sms_type', ...aggregates(eb)]).groupBy('sms_type').execute(),
    base().select((eb: any) => [bucket.as('bucket'), ...aggregates(eb)]).groupBy(bucket).orderBy(bucket).execute(),
    base().select(['provider', sql<number>`final_at - sent_at`.as('ms')]).where('status', '=', 'delivered')
      .where('sent_at', 'is not', null).where('final_at', 'is not', null).execute(),
  ]);
  // The exact median, as the window-function SQL computed it.
  const median = (provider: string) => {
    const ms = delivered.filter((d) => d.provider === provider).map((d) => Number(d.ms)).sort((a, b) => a - b);
    if (ms.length === 0) return null;
    return Math.round((ms[Math.floor((ms.length + 1) / 2) - 1] + ms[Math.floor((ms.length + 2) / 2) - 1]) / 2) / 1000;
  };
  const totals = shape(overall);
  const sorted = <T extends Record<string, any>>(rows: T[], key: string) => [...rows].sort((a, b) =>
    a[key] === b[key] ? 0 : a[key] === null ? -1 : b[key] === null ? 1 : a[key] < b[key] ? -1 : 1);
  return {
    total_messages: totals.total,
    by_status: Object.fromEntries(sorted(byStatus, 'status').map((r) => [r.status, Number(r.n)])),
    delivery_rate: totals.delivery_rate,
    success_rate: totals.success_rate,
    error_rate: totals.error_rate,
    total_segments: totals.segments,
    total_cost: totals.cost,
    cost_by_provider: Object.fromEntries(sorted(byProvider, 'provider').map((r: any) => [r.provider, roundCost(Number(r.cost ?? 0))])),
    providers: sorted(byProvider, 'provider').map((r: any) => ({ provider: r.provider, ...shape(r), median_delivery_seconds: median(r.provider) })),
    countries: sorted(byCountry, 'country').map((r: any) => ({ country: r.country, ...shape(r) })),
    sms_types: sorted(byType, 'sms_type').map((r: any) => ({ sms_type: r.sms_type, ...shape(r) })),
    time_series: series.map((r: any) => ({ period_start: new Date(Number(r.bucket)).toISOString(), ...shape(r) })),
  };
}

/**
 * Equal, but for sums of costs added in another order (±0.0001 after rounding) and medians, which
 * the histogram gives within 2 % (docs/analytics.md).
 */
function expectSame(actual: any, expected: any, path = 'stats') {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (/median_delivery_seconds$/.test(path)) expect(Math.abs(actual - expected), path).toBeLessThanOrEqual(expected * 0.02 + 0.001);
    else if (/cost/.test(path)) expect(Math.abs(actual - expected), path).toBeLessThanOrEqual(0.00011);
    else expect(actual, path).toBe(expected);
    return;
  }
  if (expected === null || typeof expected !== 'object') {
    expect(actual, path).toEqual(expected);
    return;
  }
  expect(Object.keys(actual ?? {}), path).toEqual(Object.keys(expected));
  for (const key of Object.keys(expected)) expectSame(actual[key], expected[key], `${path}.${key}`);
}

async function expectStatsMatchRecount(g: TestGateway, queries: Array<Record<string, string>>) {
  for (const q of queries) {
    const qs = new URLSearchParams(q).toString();
    const res = await get(g.app, `/api/analytics/stats${qs ? `?${qs}` : ''}`);
    expect(res.status, qs).toBe(200);
    const { date_from, date_to, otp, otp_generated, otp_verified, otp_success_rate, group_by, ...figures } = res.body;
    expectSame(figures, await recount(g.services.store.db, q), `stats?${qs}`);
  }
}

/** Moves the gateway's clock (Date only; timers run as usual). */
function clock(start: number) {
  vi.useFakeTimers({ toFake: ['Date'] });
  let now = start;
  vi.setSystemTime(now);
  return { advance: (ms: number) => vi.setSystemTime((now += ms)), now: () => now };
}

type Action =
  | { kind: 'send'; numbers: number[]; smsType: string; schedule: boolean; long: boolean }
  | { kind: 'draft'; numbers: number[] }
  | { kind: 'release' }
  | { kind: 'drain' }
  | { kind: 'cancel'; pick: number }
  | { kind: 'cancelBatch'; pick: number }
  | { kind: 'report'; pick: number; status: 'delivered' | 'undelivered' | 'failed' | 'sent'; delaySeconds: number }
  | { kind: 'expire'; pick: number }
  | { kind: 'failover'; pick: number }
  | { kind: 'reportedCost'; pick: number; cost: number }
  | { kind: 'recover'; pick: number }
  | { kind: 'tick'; ms: number };

const pickOf = fc.nat({ max: 1000 });
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('send' as const), numbers: fc.array(fc.nat({ max: NUMBERS.length - 1 }), { minLength: 1, maxLength: 4 }), smsType: fc.constantFrom('transactional', 'promotional', 'otp', 'alert'), schedule: fc.boolean(), long: fc.boolean() }), weight: 4 },
  fc.record({ kind: fc.constant('draft' as const), numbers: fc.array(fc.nat({ max: NUMBERS.length - 1 }), { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('release' as const) }),
  { arbitrary: fc.record({ kind: fc.constant('drain' as const) }), weight: 3 },
  fc.record({ kind: fc.constant('cancel' as const), pick: pickOf }),
  fc.record({ kind: fc.constant('cancelBatch' as const), pick: pickOf }),
  { arbitrary: fc.record({ kind: fc.constant('report' as const), pick: pickOf, status: fc.constantFrom('delivered' as const, 'undelivered' as const, 'failed' as const, 'sent' as const), delaySeconds: fc.integer({ min: 0, max: 300 }) }), weight: 3 },
  fc.record({ kind: fc.constant('expire' as const), pick: pickOf }),
  fc.record({ kind: fc.constant('failover' as const), pick: pickOf }),
  fc.record({ kind: fc.constant('reportedCost' as const), pick: pickOf, cost: fc.integer({ min: 1, max: 999 }) }),
  fc.record({ kind: fc.constant('recover' as const), pick: pickOf }),
  { arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 * HOUR }) }), weight: 2 },
);

/** One step through the gateway's own services and routes (a few write the database where no route exists, as noted). */
async function run(g: TestGateway, a: Action, time: ReturnType<typeof clock>) {
  const db = g.services.store.db;
  const one = async (statuses: string[], pick: number) => {
    const rows = await db.selectFrom('messages').select(['id', 'batch_id', 'sent_at']).where('status', 'in', statuses).orderBy('id').execute();
    return rows.length ? rows[pick % rows.length] : undefined;
  };
  switch (a.kind) {
    case 'send': {
      const body: Record<string, unknown> = { to: a.numbers.map((i) => ({ number: NUMBERS[i] })), message: a.long ? 'x'.repeat(200) : 'hello', sms_type: a.smsType };
      if (a.schedule) body.schedule_at = new Date(time.now() + 2 * HOUR).toISOString();
      expect((await post(g.app, '/api/sms/send', body)).status).toBe(200);
      return;
    }
    case 'draft':
      expect((await post(g.app, '/api/sms/send-batch', { recipients: a.numbers.map((i) => ({ number: NUMBERS[i] })), message: 'campaign', sms_type: 'promotional', send_immediately: false })).status).toBe(200);
      return;
    case 'release': {
      const draft = await db.selectFrom('batches').select('id').where('status', '=', 'draft').executeTakeFirst();
      if (draft) await post(g.app, `/api/sms/batches/${draft.id}/send`, {});
      return;
    }
    case 'drain':
      await drain(g.services);
      return;
    case 'cancel': {
      const m = await one(['queued', 'scheduled', 'draft'], a.pick);
      if (m) await post(g.app, `/api/sms/${m.id}/cancel`, {});
      return;
    }
    case 'cancelBatch': {
      const m = await one(['queued', 'scheduled', 'draft'], a.pick);
      if (m) await post(g.app, `/api/sms/batches/${m.batch_id}/cancel`, {});
      return;
    }
    case 'report': {
      const m = await one(['sent', 'delivered', 'undelivered'], a.pick);
      if (m) await post(g.app, `/api/sms/${m.id}/webhook`, { status: a.status, timestamp: new Date(Number(m.sent_at) + a.delaySeconds * 1000 + (a.pick % 1000)).toISOString() });
      return;
    }
    case 'expire': {
      // No route sets an expiry in the past: put it there, and let the dispatcher's sweep expire it.
      const m = await one(['queued', 'scheduled'], a.pick);
      if (m) await db.updateTable('messages').set({ expire_at: time.now() - 1 }).where('id', '=', m.id).execute();
      await g.services.dispatcher.maintain();
      return;
    }
    case 'failover': {
      // What failover writes when the route moves a message to its next provider.
      const m = await one(['queued', 'sent', 'delivered'], a.pick);
      if (m) await db.updateTable('messages').set({ provider: 'twilio', updated_at: time.now() }).where('id', '=', m.id).execute();
      return;
    }
    case 'reportedCost': {
      // The provider's reported price replacing the estimate (what Twilio's and Vonage's reports store).
      const m = await one(['sent', 'delivered', 'undelivered'], a.pick);
      if (m) await db.updateTable('messages').set({ cost: a.cost / 10_000 }).where('id', '=', m.id).execute();
      return;
    }
    case 'recover': {
      // A send whose outcome was lost: claimed, lease run out; recovery asks the simulator.
      const m = await one(['queued'], a.pick);
      if (!m) return;
      await db.updateTable('messages').set((eb) => ({ status: 'sending', attempts: eb('attempts', '+', 1), lease_until: time.now() - 1 })).where('id', '=', m.id).execute();
      await g.services.dispatcher.maintain();
      return;
    }
    case 'tick':
      time.advance(a.ms);
  }
}

/** Ranges over what is stored, on and off hour boundaries. */
async function rangesOver(g: TestGateway): Promise<Array<Record<string, string>>> {
  const span = await g.services.store.db.selectFrom('messages').select((eb) => [eb.fn.min('created_at').as('first'), eb.fn.max('created_at').as('last')]).executeTakeFirst();
  if (!span?.first) return [];
  const first = Number(span.first);
  const last = Number(span.last);
  const iso = (ms: number) => new Date(ms).toISOString();
  const middle = Math.floor((first + last) / 2);
  return [
    { date_from: iso(first + 1), date_to: iso(last - 1) },
    { date_from: iso(Math.floor(first / HOUR) * HOUR), date_to: iso(middle), group_by: 'hour' },
    { date_from: iso(middle), group_by: 'hour' },
    { date_to: iso(middle + 17), sms_type: 'promotional' },
    { date_from: iso(first + 7 * 60_000), date_to: iso(first + 7 * 60_000 + 30 * 60_000) },
  ];
}

describe('analytics summaries', () => {
  it('equal a full recount after every kind of status change', { timeout: 240_000 }, async () => {
    await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 15, maxLength: 35 }), async (actions) => {
      const time = clock(Date.UTC(2026, 5, 1, 9, 41, 7, 123));
      const g = await startGateway({ SIMULATOR_FAILURE_RATE: '0.15', SIMULATOR_TRANSIENT_ERROR_RATE: '0.15', SEND_RETRY_BASE_MS: '1', SEND_RETRY_MAX_MS: '1' });
      try {
        for (const a of actions) {
          await run(g, a, time);
          await expectStatsMatchRecount(g, [{}, { group_by: 'hour' }, { provider: 'simulator' }, { sms_type: 'otp' }, ...await rangesOver(g)]);
        }
      } finally {
        await g.stop();
        vi.useRealTimers();
      }
    }), { numRuns: 4, endOnFailure: true });
  });

  it('answer date ranges that are not on hour boundaries exactly', async () => {
    const time = clock(Date.UTC(2026, 5, 1, 10, 0, 0, 0));
    gw = await startGateway();
    // One message at each of these times: both ends of hours, and inside them.
    const at = [
      Date.UTC(2026, 5, 1, 10, 0, 0, 0), Date.UTC(2026, 5, 1, 10, 59, 59, 999), Date.UTC(2026, 5, 1, 11, 0, 0, 0),
      Date.UTC(2026, 5, 1, 11, 30, 0, 0), Date.UTC(2026, 5, 1, 12, 0, 0, 1), Date.UTC(2026, 5, 1, 13, 59, 59, 999), Date.UTC(2026, 5, 2, 0, 0, 0, 0),
    ];
    for (const t of at) {
      time.advance(t - time.now());
      expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' })).status).toBe(200);
    }
    const count = async (from: number, to: number) =>
      (await get(gw!.app, `/api/analytics/stats?date_from=${new Date(from).toISOString()}&date_to=${new Date(to).toISOString()}`)).body.total_messages;
    const expected = (from: number, to: number) => at.filter((t) => t >= from && t <= to).length;
    const cases: Array<[number, number]> = [
      [at[0], at[1]], [at[0] + 1, at[2]], [at[1], at[2]], [at[1] + 1, at[2] - 1], [at[0], at[6]], [at[0] + 1, at[6] - 1],
      [at[3], at[5]], [at[3] + 1, at[5] - 1], [at[2], at[4] - 1], [at[2], at[4]], [at[4], at[4]], [at[6] + 1, at[6] + HOUR], [at[5], at[0]],
    ];
    for (const [from, to] of cases) expect(await count(from, to), `${new Date(from).toISOString()}..${new Date(to).toISOString()}`).toBe(expected(from, to));
    const series = (await get(gw.app, `/api/analytics/stats?date_from=${new Date(at[0] + 1).toISOString()}&date_to=${new Date(at[5]).toISOString()}&group_by=hour`)).body.time_series;
    expect(series.map((p: any) => [p.period_start, p.total])).toEqual([
      ['2026-06-01T10:00:00.000Z', 1], ['2026-06-01T11:00:00.000Z', 2], ['2026-06-01T12:00:00.000Z', 1], ['2026-06-01T13:00:00.000Z', 1],
    ]);
  });

  it('are backfilled from the messages already stored when the migration runs', async () => {
    const url = await freshDatabaseUrl();
    const store = createStore(url, 'normal');
    try {
      // The schema as it was before the summaries existed.
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0008_message_stats'));
      // As migrate() does: on PostgreSQL the migration tables live in this test's schema.
      const migrationTableSchema = store.dialect === 'postgres'
        ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db)).rows[0].schema
        : undefined;
      const migrator = new Migrator({ db: store.db, provider: { getMigrations: async () => before }, migrationTableSchema });
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      const start = Date.UTC(2026, 4, 3, 8, 15, 0, 0);
      const rows = Array.from({ length: 300 }, (_, i) => {
        const created = start + i * 97_531;
        const status = ['delivered', 'delivered', 'undelivered', 'failed', 'sent', 'queued', 'canceled', 'expired'][i % 8];
        const sent = ['delivered', 'undelivered', 'sent'].includes(status) ? created + 1000 : null;
        return {
          id: newId('msg', created), batch_id: `bat_${i % 7}`, to_number: NUMBERS[i % NUMBERS.length], country: i % 11 === 0 ? null : ['US', 'GB', 'DE'][i % 3],
          body: 'x', message_type: 'text', sms_type: ['transactional', 'promotional', 'otp'][i % 3], encoding: 'gsm7', segments: 1 + (i % 2), priority: 5,
          provider: ['simulator', 'twilio'][i % 2], status, estimated_cost: 0.0079 * (1 + (i % 2)), cost: i % 5 === 0 && sent ? 0.01 : null, currency: 'USD',
          attempts: sent || (status === 'failed' && i % 3 === 0) ? 1 : 0, due_at: created, created_at: created, updated_at: created,
          sent_at: sent, final_at: status === 'delivered' || status === 'undelivered' ? created + 1000 + (i * 7919) % 90_000 : null, key_id: null,
        };
      });
      await store.db.insertInto('messages').values(rows as any).execute();
      await migrate(store.db, store.dialect);
    } finally {
      await store.close();
    }
    gw = await startGateway({ DATABASE_URL: url });
    try {
      const iso = (ms: number) => new Date(ms).toISOString();
      await expectStatsMatchRecount(gw, [{}, { group_by: 'hour' }, { provider: 'twilio' }, { date_from: iso(Date.UTC(2026, 4, 3, 9, 7)), date_to: iso(Date.UTC(2026, 4, 3, 14, 40, 3)) }]);
      expect((await get(gw.app, '/api/analytics/stats')).body.total_messages).toBe(300);
    } finally {
      await gw.stop();
      gw = undefined;
      await dropDatabase(url);
    }
  });

  it('keep the figures of messages the retention purge deletes', async () => {
    gw = await startGateway();
    await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: GB }], message: 'x' });
    await drain(gw.services);
    const before = (await get(gw.app, '/api/analytics/stats')).body;
    await gw.services.store.db.deleteFrom('messages').execute();
    const after = (await get(gw.app, '/api/analytics/stats')).body;
    expect(after.total_messages).toBe(2);
    expect(after.by_status).toEqual(before.by_status);
    expect(after.providers).toEqual(before.providers);
  });
});
