import { sql, type Kysely, type RawBuilder } from 'kysely';
import { deliveryBucketSql, medianMs } from '../domain/delivery-histogram.js';
import { idBoundary } from '../domain/ids.js';
import type { PumpingView } from '../domain/pumping-guard.js';
import { roundCost } from '../domain/pricing.js';
import type { Database } from '../store/schema.js';

export interface StatsQuery {
  date_from?: string;
  date_to?: string;
  provider?: string;
  sms_type?: string;
  group_by?: 'hour' | 'day';
}

/** Extra figures other features contribute (OTP counts), kept out of this SQL. */
export interface OtpStats {
  generated: number;
  verified: number;
  expired: number;
  locked: number;
  /** The OTP pumping guard now (its own sliding window, whatever the dates asked for). */
  pumping?: PumpingView;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Ids carry 10 base-32 digits of time: past this a time has no id boundary (the range is then open). */
const LAST_ID_TIME = 32 ** 10 - 1;

const rate = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000);

/** created_at from..to (inclusive, either open) split into whole hours the summaries answer and edges read from messages. */
interface Split {
  /** Hours starting at or after `from` and before `before`; null: no whole hour. */
  hours: { from?: number; before?: number } | null;
  edges: Array<{ from?: number; to?: number }>;
}

function splitRange(from: number | undefined, to: number | undefined): Split {
  const firstHour = from === undefined ? undefined : Math.ceil(from / HOUR_MS) * HOUR_MS;
  const endHour = to === undefined ? undefined : Math.floor((to + 1) / HOUR_MS) * HOUR_MS;
  if (firstHour !== undefined && endHour !== undefined && firstHour >= endHour) return { hours: null, edges: [{ from, to }] };
  const edges: Split['edges'] = [];
  if (from !== undefined && from < firstHour!) edges.push({ from, to: firstHour! - 1 });
  if (to !== undefined && endHour! <= to) edges.push({ from: endHour, to });
  return { hours: { from: firstHour, before: endHour }, edges };
}

/** One summary row: a group of messages alike in everything the figures look at. */
interface Fact {
  provider: string;
  sms_type: string;
  country: string;
  status: string;
  sent: number;
  attempted: number;
  n: number;
  segments: number;
  cost: number;
}

interface Figures {
  total: number;
  accepted: number;
  delivered: number;
  errors: number;
  finished: number;
  cost: number;
  segments: number;
}

const noFigures = (): Figures => ({ total: 0, accepted: 0, delivered: 0, errors: 0, finished: 0, cost: 0, segments: 0 });

// "Accepted by a provider" = it was ever sent; "finished attempt" = sent, or failed after trying.
function add(f: Figures, r: Fact) {
  f.total += r.n;
  f.segments += r.segments;
  if (r.sent) {
    f.accepted += r.n;
    f.cost += r.cost;
  }
  if (r.status === 'delivered') f.delivered += r.n;
  if (r.status === 'failed' || r.status === 'undelivered') f.errors += r.n;
  if (r.sent || (r.status === 'failed' && r.attempted)) f.finished += r.n;
}

const shape = (f: Figures) => ({
  total: f.total, accepted: f.accepted, delivered: f.delivered, segments: f.segments,
  delivery_rate: rate(f.delivered, f.accepted),
  success_rate: rate(f.accepted, f.finished),
  error_rate: rate(f.errors, f.finished),
  cost: roundCost(f.cost),
});

/** Ascending, null first: the order GROUP BY gave these lists on SQLite before the summaries. */
const byKey = <K extends string | null>(a: [K, unknown], b: [K, unknown]) =>
  a[0] === b[0] ? 0 : a[0] === null ? -1 : b[0] === null ? 1 : a[0] < b[0] ? -1 : 1;

/**
 * Figures come from summaries the database keeps with every message change (src/store/analytics-summary.ts,
 * docs/analytics.md): whole hours from the summaries, the part of a date range inside an hour from the
 * messages themselves (a primary-key range), so any range is exact and no request reads every message.
 */
export class AnalyticsService {
  constructor(private readonly db: Kysely<Database>, private readonly otpStats?: (from: number | undefined, to: number | undefined) => Promise<OtpStats>) {}

  async stats(q: StatsQuery) {
    const from = q.date_from ? Date.parse(q.date_from) : undefined;
    const to = q.date_to ? Date.parse(q.date_to) : undefined;
    const range = splitRange(from, to);
    const groupBy = q.group_by ?? 'day';

    const [facts, series, medians, otp] = await Promise.all([
      this.groupedFacts(range, q),
      this.series(range, q, groupBy),
      this.medianDeliverySeconds(range, q),
      this.otpStats ? this.otpStats(from, to) : Promise.resolve({ generated: 0, verified: 0, expired: 0, locked: 0 }),
    ]);

    const overall = noFigures();
    const statusCounts = new Map<string, number>();
    const byProvider = new Map<string, Figures>();
    const byCountry = new Map<string | null, Figures>();
    const bySmsType = new Map<string, Figures>();
    const into = <K>(map: Map<K, Figures>, key: K, r: Fact) => {
      let f = map.get(key);
      if (!f) map.set(key, (f = noFigures()));
      add(f, r);
    };
    for (const r of facts) {
      if (r.n === 0) continue;
      add(overall, r);
      statusCounts.set(r.status, (statusCounts.get(r.status) ?? 0) + r.n);
      into(byProvider, r.provider, r);
      into(byCountry, r.country === '' ? null : r.country, r);
      into(bySmsType, r.sms_type, r);
    }
    const sorted = <K extends string | null>(map: Map<K, Figures>) => [...map].sort(byKey);
    const totals = shape(overall);
    const providers = sorted(byProvider);
    return {
      date_from: from !== undefined ? new Date(from).toISOString() : null,
      date_to: to !== undefined ? new Date(to).toISOString() : null,
      total_messages: totals.total,
      by_status: Object.fromEntries([...statusCounts].filter(([, n]) => n !== 0).sort(byKey)),
      delivery_rate: totals.delivery_rate,
      success_rate: totals.success_rate,
      error_rate: totals.error_rate,
      total_segments: totals.segments,
      total_cost: totals.cost,
      cost_by_provider: Object.fromEntries(providers.map(([p, f]) => [p, roundCost(f.cost)])),
      otp: { ...otp, otp_success_rate: rate(otp.verified, otp.generated) },
      otp_generated: otp.generated,
      otp_verified: otp.verified,
      otp_success_rate: rate(otp.verified, otp.generated),
      providers: providers.map(([provider, f]) => ({ provider, ...shape(f), median_delivery_seconds: medians.get(provider) ?? null })),
      countries: sorted(byCountry).map(([country, f]) => ({ country, ...shape(f) })),
      sms_types: sorted(bySmsType).map(([sms_type, f]) => ({ sms_type, ...shape(f) })),
      group_by: groupBy,
      time_series: series.map(([start, f]) => ({ period_start: new Date(start).toISOString(), ...shape(f) })),
    };
  }

  /** Summary rows of the whole hours and messages of the edges, as one relation of the summary's shape. */
  private facts(range: Split, q: StatsQuery): RawBuilder<unknown> {
    const parts: RawBuilder<unknown>[] = [];
    if (range.hours) {
      const where = [sql`1 = 1`, ...this.dimensionFilters(q)];
      if (range.hours.from !== undefined) where.push(sql`hour_start >= ${range.hours.from}`);
      if (range.hours.before !== undefined) where.push(sql`hour_start < ${range.hours.before}`);
      parts.push(sql`select hour_start, provider, sms_type, country, status, sent, attempted, message_count, segment_count, cost_sum
        from message_stats where ${sql.join(where, sql` and `)}`);
    }
    for (const edge of range.edges) {
      parts.push(sql`select (created_at / ${sql.lit(HOUR_MS)}) * ${sql.lit(HOUR_MS)} as hour_start, provider, sms_type, coalesce(country, '') as country, status,
          case when sent_at is not null then 1 else 0 end as sent, case when attempts > 0 then 1 else 0 end as attempted,
          1 as message_count, segments as segment_count, coalesce(cost, estimated_cost) as cost_sum
        from messages where ${sql.join(this.edgeFilters(edge, q), sql` and `)}`);
    }
    return sql.join(parts, sql` union all `);
  }

  private async groupedFacts(range: Split, q: StatsQuery): Promise<Fact[]> {
    const { rows } = await sql<Record<keyof Fact, unknown>>`
      select provider, sms_type, country, status, sent, attempted, sum(message_count) as n, sum(segment_count) as segments, sum(cost_sum) as cost
      from (${this.facts(range, q)}) f
      group by provider, sms_type, country, status, sent, attempted`.execute(this.db);
    return rows.map((r) => ({
      provider: String(r.provider), sms_type: String(r.sms_type), country: String(r.country), status: String(r.status),
      sent: Number(r.sent), attempted: Number(r.attempted), n: Number(r.n), segments: Number(r.segments), cost: Number(r.cost ?? 0),
    }));
  }

  private async series(range: Split, q: StatsQuery, groupBy: 'hour' | 'day'): Promise<Array<[number, Figures]>> {
    const period = groupBy === 'hour' ? sql`hour_start` : sql`(hour_start / ${sql.lit(DAY_MS)}) * ${sql.lit(DAY_MS)}`;
    const { rows } = await sql<Record<string, unknown>>`
      select ${period} as period, sent, attempted, status, sum(message_count) as n, sum(segment_count) as segments, sum(cost_sum) as cost
      from (${this.facts(range, q)}) f
      group by ${period}, sent, attempted, status`.execute(this.db);
    const periods = new Map<number, Figures>();
    for (const r of rows) {
      const start = Number(r.period);
      let f = periods.get(start);
      if (!f) periods.set(start, (f = noFigures()));
      add(f, { status: String(r.status), sent: Number(r.sent), attempted: Number(r.attempted), n: Number(r.n), segments: Number(r.segments), cost: Number(r.cost ?? 0) } as Fact);
    }
    return [...periods].filter(([, f]) => f.total !== 0).sort(([a], [b]) => a - b);
  }

  /** Median of (final_at - sent_at) over delivered messages, by provider, from the delivery-time histograms. */
  private async medianDeliverySeconds(range: Split, q: StatsQuery): Promise<Map<string, number>> {
    const parts: RawBuilder<unknown>[] = [];
    if (range.hours) {
      const where = [sql`1 = 1`, ...this.dimensionFilters(q)];
      if (range.hours.from !== undefined) where.push(sql`hour_start >= ${range.hours.from}`);
      if (range.hours.before !== undefined) where.push(sql`hour_start < ${range.hours.before}`);
      parts.push(sql`select provider, bucket, deliveries, total_ms from message_delivery_times where ${sql.join(where, sql` and `)}`);
    }
    for (const edge of range.edges) {
      parts.push(sql`select provider, ${sql.raw(deliveryBucketSql('(final_at - sent_at)'))} as bucket, 1 as deliveries, final_at - sent_at as total_ms
        from messages where ${sql.join(this.edgeFilters(edge, q), sql` and `)} and status = 'delivered' and sent_at is not null and final_at is not null`);
    }
    const { rows } = await sql<{ provider: string; bucket: unknown; deliveries: unknown; total_ms: unknown }>`
      select provider, bucket, sum(deliveries) as deliveries, sum(total_ms) as total_ms
      from (${sql.join(parts, sql` union all `)}) t
      group by provider, bucket`.execute(this.db);
    const byProvider = new Map<string, Array<{ bucket: number; deliveries: number; totalMs: number }>>();
    for (const r of rows) {
      const list = byProvider.get(r.provider) ?? [];
      list.push({ bucket: Number(r.bucket), deliveries: Number(r.deliveries), totalMs: Number(r.total_ms) });
      byProvider.set(r.provider, list);
    }
    const medians = new Map<string, number>();
    for (const [provider, buckets] of byProvider) {
      const ms = medianMs(buckets);
      if (ms !== null) medians.set(provider, Math.round(ms) / 1000);
    }
    return medians;
  }

  private dimensionFilters(q: StatsQuery): RawBuilder<unknown>[] {
    const where: RawBuilder<unknown>[] = [];
    if (q.provider) where.push(sql`provider = ${q.provider}`);
    if (q.sms_type) where.push(sql`sms_type = ${q.sms_type}`);
    return where;
  }

  /** Messages created in the edge: ids begin with their creation time, so it is a primary-key range. */
  private edgeFilters(edge: { from?: number; to?: number }, q: StatsQuery): RawBuilder<unknown>[] {
    const where = this.dimensionFilters(q);
    if (edge.from !== undefined) where.push(sql`created_at >= ${edge.from}`, sql`id >= ${idBoundary('msg', edge.from, 'first')}`);
    if (edge.to !== undefined) {
      where.push(sql`created_at <= ${edge.to}`);
      if (edge.to <= LAST_ID_TIME) where.push(sql`id <= ${idBoundary('msg', edge.to, 'last')}`);
    }
    return where.length ? where : [sql`1 = 1`];
  }
}
