import { sql, type Kysely, type RawBuilder } from 'kysely';
import { deliveryBucketSql, medianMs, type HistogramBucket } from '../domain/delivery-histogram.js';
import { MESSAGE_STATUSES } from '../domain/message-status.js';
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

/** Whole hours [from, before) as the whole UTC days inside them and the hours around those days. */
function splitHours(hours: NonNullable<Split['hours']>): { days: Split['hours']; hours: Array<NonNullable<Split['hours']>> } {
  const firstDay = hours.from === undefined ? undefined : Math.ceil(hours.from / DAY_MS) * DAY_MS;
  const endDay = hours.before === undefined ? undefined : Math.floor(hours.before / DAY_MS) * DAY_MS;
  if (firstDay !== undefined && endDay !== undefined && firstDay >= endDay) return { days: null, hours: [hours] };
  const around: Array<NonNullable<Split['hours']>> = [];
  if (hours.from !== undefined && hours.from < firstDay!) around.push({ from: hours.from, before: firstDay });
  if (hours.before !== undefined && endDay! < hours.before) around.push({ from: endDay, before: hours.before });
  return { days: { from: firstDay, before: endDay }, hours: around };
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

function add(into: Figures, f: Figures) {
  into.total += f.total;
  into.accepted += f.accepted;
  into.delivered += f.delivered;
  into.errors += f.errors;
  into.finished += f.finished;
  into.cost += f.cost;
  into.segments += f.segments;
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

/** Where the figures are summed from: a summary table's columns, or a message's own. */
interface Source {
  count: string;
  segments: string;
  cost: string;
  sent: string;
  failedAfterAttempt: string;
}
const SUMMARY: Source = { count: 'message_count', segments: 'segment_count', cost: 'cost_sum', sent: 'sent = 1', failedAfterAttempt: "status = 'failed' and attempted = 1" };
const MESSAGE: Source = { count: '1', segments: 'segments', cost: 'coalesce(cost, estimated_cost)', sent: 'sent_at is not null', failedAfterAttempt: "status = 'failed' and attempts > 0" };

// "Accepted by a provider" = it was ever sent; "finished attempt" = sent, or failed after trying.
// Per status as well, a column each: grouping by status too would make SQLite sort every row it reads.
function figureColumns(src: Source) {
  const countIf = (condition: string) => `sum(case when ${condition} then ${src.count} else 0 end)`;
  return sql.raw([
    `sum(${src.count}) as total`,
    `${countIf(src.sent)} as accepted`,
    `${countIf("status = 'delivered'")} as delivered`,
    `${countIf("status in ('failed', 'undelivered')")} as errors`,
    `${countIf(`${src.sent} or (${src.failedAfterAttempt})`)} as finished`,
    `sum(case when ${src.sent} then ${src.cost} else 0 end) as cost`,
    `sum(${src.segments}) as segments`,
    ...MESSAGE_STATUSES.map((st) => `${countIf(`status = '${st}'`)} as status_${st}`),
    `${countIf(`status not in (${MESSAGE_STATUSES.map((st) => `'${st}'`).join(', ')})`)} as status_other`,
  ].join(', '));
}

const figuresOf = (r: Record<string, unknown>): Figures => ({
  total: Number(r.total ?? 0), accepted: Number(r.accepted ?? 0), delivered: Number(r.delivered ?? 0), errors: Number(r.errors ?? 0),
  finished: Number(r.finished ?? 0), cost: Number(r.cost ?? 0), segments: Number(r.segments ?? 0),
});

/** A group of messages of one provider, type and country, with its figures and its count per status. */
interface Group {
  provider: string;
  sms_type: string;
  country: string;
  figures: Figures;
  statuses: Map<string, number>;
}

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

    const [groups, series, medians, otp] = await Promise.all([
      this.groups(range, q),
      this.series(range, q, groupBy),
      this.medianDeliverySeconds(range, q),
      this.otpStats ? this.otpStats(from, to) : Promise.resolve({ generated: 0, verified: 0, expired: 0, locked: 0 }),
    ]);

    const overall = noFigures();
    const statusCounts = new Map<string, number>();
    const byProvider = new Map<string, Figures>();
    const byCountry = new Map<string | null, Figures>();
    const bySmsType = new Map<string, Figures>();
    const into = <K>(map: Map<K, Figures>, key: K, f: Figures) => {
      let sum = map.get(key);
      if (!sum) map.set(key, (sum = noFigures()));
      add(sum, f);
    };
    for (const g of groups) {
      for (const [status, n] of g.statuses) statusCounts.set(status, (statusCounts.get(status) ?? 0) + n);
      if (g.figures.total === 0) continue;
      add(overall, g.figures);
      into(byProvider, g.provider, g.figures);
      into(byCountry, g.country === '' ? null : g.country, g.figures);
      into(bySmsType, g.sms_type, g.figures);
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

  /**
   * Figures per provider, type and country. The summary is read on its own (not in a UNION with the
   * edges) so SQLite walks it in key order and groups without sorting.
   */
  private async groups(range: Split, q: StatsQuery): Promise<Group[]> {
    const queries: Array<Promise<{ rows: Record<string, unknown>[] }>> = [];
    if (range.hours) {
      queries.push(sql<Record<string, unknown>>`select provider, sms_type, country, ${figureColumns(SUMMARY)}
        from message_stats where ${sql.join(this.hourFilters(range.hours, q), sql` and `)}
        group by provider, sms_type, country`.execute(this.db));
    }
    for (const edge of range.edges) {
      queries.push(sql<Record<string, unknown>>`select provider, sms_type, coalesce(country, '') as country, ${figureColumns(MESSAGE)}
        from messages where ${sql.join(this.edgeFilters(edge, q), sql` and `)}
        group by provider, sms_type, coalesce(country, '')`.execute(this.db));
    }
    const groups: Group[] = [];
    let unknownStatuses = false;
    for (const { rows } of await Promise.all(queries)) {
      for (const r of rows) {
        const statuses = new Map<string, number>();
        for (const st of MESSAGE_STATUSES) if (Number(r[`status_${st}`] ?? 0) !== 0) statuses.set(st, Number(r[`status_${st}`]));
        groups.push({ provider: String(r.provider), sms_type: String(r.sms_type), country: String(r.country), figures: figuresOf(r), statuses });
        unknownStatuses ||= Number(r.status_other ?? 0) !== 0;
      }
    }
    // A status the domain does not list (a hand-edited row): counted by name, at the price of a sort.
    if (unknownStatuses) groups.push({ provider: '', sms_type: '', country: '', figures: noFigures(), statuses: await this.unknownStatusCounts(range, q) });
    return groups;
  }

  private async unknownStatusCounts(range: Split, q: StatsQuery): Promise<Map<string, number>> {
    const known = sql.raw(MESSAGE_STATUSES.map((st) => `'${st}'`).join(', '));
    const parts: RawBuilder<unknown>[] = [];
    if (range.hours) parts.push(sql`select status, message_count as n from message_stats where ${sql.join(this.hourFilters(range.hours, q), sql` and `)}`);
    for (const edge of range.edges) parts.push(sql`select status, 1 as n from messages where ${sql.join(this.edgeFilters(edge, q), sql` and `)}`);
    const { rows } = await sql<{ status: string; n: unknown }>`select status, sum(n) as n from (${sql.join(parts, sql` union all `)}) t
      where status not in (${known}) group by status`.execute(this.db);
    return new Map(rows.map((r) => [r.status, Number(r.n)]));
  }

  private async series(range: Split, q: StatsQuery, groupBy: 'hour' | 'day'): Promise<Array<[number, Figures]>> {
    const size = groupBy === 'hour' ? HOUR_MS : DAY_MS;
    const queries: Array<Promise<{ rows: Record<string, unknown>[] }>> = [];
    if (range.hours) {
      const period = sql.raw(`(hour_start / ${size}) * ${size}`);
      queries.push(sql<Record<string, unknown>>`select ${period} as period, sum(message_count) as total, sum(accepted) as accepted,
          sum(delivered) as delivered, sum(errors) as errors, sum(finished) as finished, sum(cost_sum) as cost, sum(segment_count) as segments
        from message_series where ${sql.join(this.hourFilters(range.hours, q), sql` and `)}
        group by ${period}`.execute(this.db));
    }
    for (const edge of range.edges) {
      const period = sql.raw(`(created_at / ${size}) * ${size}`);
      queries.push(sql<Record<string, unknown>>`select ${period} as period, ${figureColumns(MESSAGE)}
        from messages where ${sql.join(this.edgeFilters(edge, q), sql` and `)}
        group by ${period}`.execute(this.db));
    }
    const periods = new Map<number, Figures>();
    for (const { rows } of await Promise.all(queries)) {
      for (const r of rows) {
        const start = Number(r.period);
        let f = periods.get(start);
        if (!f) periods.set(start, (f = noFigures()));
        add(f, figuresOf(r));
      }
    }
    return [...periods].filter(([, f]) => f.total !== 0).sort(([a], [b]) => a - b);
  }

  /** Median of (final_at - sent_at) over delivered messages, by provider, from the delivery-time histograms. */
  private async medianDeliverySeconds(range: Split, q: StatsQuery): Promise<Map<string, number>> {
    const queries: Array<Promise<{ rows: Record<string, unknown>[] }>> = [];
    if (range.hours) {
      const { days, hours } = splitHours(range.hours);
      // Grouped by the days table's leading key (provider, sms_type, bucket): one pass, no sort; types are merged below.
      if (days) {
        queries.push(sql<Record<string, unknown>>`select provider, sms_type, bucket, sum(deliveries) as deliveries, sum(total_ms) as total_ms
          from message_delivery_days where ${sql.join(this.hourFilters(days, q, 'day_start'), sql` and `)}
          group by provider, sms_type, bucket`.execute(this.db));
      }
      // At most a day on each side, read by its hour range.
      for (const part of hours) {
        queries.push(sql<Record<string, unknown>>`select provider, sms_type, bucket, sum(deliveries) as deliveries, sum(total_ms) as total_ms
          from message_delivery_times where ${sql.join(this.hourFilters(part, q), sql` and `)}
          group by provider, sms_type, bucket`.execute(this.db));
      }
    }
    // Bucketed here rather than a row per delivery: an hour's edge can hold many thousands, and rows cost to carry (from a read thread, too).
    for (const edge of range.edges) {
      const bucket = sql.raw(deliveryBucketSql('(final_at - sent_at)'));
      queries.push(sql<Record<string, unknown>>`select provider, ${bucket} as bucket, count(*) as deliveries, sum(final_at - sent_at) as total_ms
        from messages where ${sql.join(this.edgeFilters(edge, q), sql` and `)} and status = 'delivered' and sent_at is not null and final_at is not null
        group by provider, ${bucket}`.execute(this.db));
    }
    const byProvider = new Map<string, HistogramBucket[]>();
    for (const { rows } of await Promise.all(queries)) {
      for (const r of rows) {
        const provider = String(r.provider);
        const list = byProvider.get(provider) ?? [];
        list.push({ bucket: Number(r.bucket), deliveries: Number(r.deliveries), totalMs: Number(r.total_ms) });
        byProvider.set(provider, list);
      }
    }
    const medians = new Map<string, number>();
    for (const [provider, buckets] of byProvider) {
      const ms = medianMs(buckets);
      if (ms !== null) medians.set(provider, Math.round(ms) / 1000);
    }
    return medians;
  }

  private hourFilters(hours: NonNullable<Split['hours']>, q: StatsQuery, column: 'hour_start' | 'day_start' = 'hour_start'): RawBuilder<unknown>[] {
    const where = [sql`1 = 1`, ...this.dimensionFilters(q)];
    if (hours.from !== undefined) where.push(sql`${sql.ref(column)} >= ${hours.from}`);
    if (hours.before !== undefined) where.push(sql`${sql.ref(column)} < ${hours.before}`);
    return where;
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
