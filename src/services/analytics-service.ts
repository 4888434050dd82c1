import { sql, type Kysely } from 'kysely';
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

const rate = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000);

/** Every figure is computed by the database; no message row is loaded to count it. */
export class AnalyticsService {
  constructor(private readonly db: Kysely<Database>, private readonly otpStats?: (from: number | undefined, to: number | undefined) => Promise<OtpStats>) {}

  async stats(q: StatsQuery) {
    const from = q.date_from ? Date.parse(q.date_from) : undefined;
    const to = q.date_to ? Date.parse(q.date_to) : undefined;
    const base = () => {
      let b = this.db.selectFrom('messages');
      if (from !== undefined) b = b.where('created_at', '>=', from);
      if (to !== undefined) b = b.where('created_at', '<=', to);
      if (q.provider) b = b.where('provider', '=', q.provider);
      if (q.sms_type) b = b.where('sms_type', '=', q.sms_type);
      return b;
    };
    // "Accepted by a provider" = it was ever sent; "finished attempt" = sent, or failed/expired after trying.
    const aggregates = (eb: any) => [
      eb.fn.countAll().as('total'),
      sql<number>`sum(case when sent_at is not null then 1 else 0 end)`.as('accepted'),
      sql<number>`sum(case when status = 'delivered' then 1 else 0 end)`.as('delivered'),
      sql<number>`sum(case when status in ('failed', 'undelivered') then 1 else 0 end)`.as('errors'),
      sql<number>`sum(case when sent_at is not null or (status = 'failed' and attempts > 0) then 1 else 0 end)`.as('finished'),
      sql<number>`sum(case when sent_at is not null then coalesce(cost, estimated_cost) else 0 end)`.as('cost'),
      sql<number>`sum(segments)`.as('segments'),
    ];
    const shape = (r: any) => {
      const total = Number(r.total ?? 0);
      const accepted = Number(r.accepted ?? 0);
      const delivered = Number(r.delivered ?? 0);
      const finished = Number(r.finished ?? 0);
      return {
        total, accepted, delivered, segments: Number(r.segments ?? 0),
        delivery_rate: rate(delivered, accepted),
        success_rate: rate(accepted, finished),
        error_rate: rate(Number(r.errors ?? 0), finished),
        cost: roundCost(Number(r.cost ?? 0)),
      };
    };

    const [overall, byStatus, byProvider, byCountry, bySmsType, medians, series, otp] = await Promise.all([
      base().select(aggregates).executeTakeFirstOrThrow(),
      base().select((eb) => ['status', eb.fn.countAll<number>().as('n')]).groupBy('status').execute(),
      base().select((eb) => ['provider', ...aggregates(eb)]).groupBy('provider').execute(),
      base().select((eb) => ['country', ...aggregates(eb)]).groupBy('country').execute(),
      base().select((eb) => ['sms_type', ...aggregates(eb)]).groupBy('sms_type').execute(),
      this.medianDeliverySeconds(base),
      this.series(base, q.group_by ?? 'day', aggregates),
      this.otpStats ? this.otpStats(from, to) : Promise.resolve({ generated: 0, verified: 0, expired: 0, locked: 0 }),
    ]);
    const totals = shape(overall);
    const statusCounts: Record<string, number> = {};
    for (const r of byStatus) statusCounts[r.status] = Number(r.n);
    const median = new Map(medians.map((m) => [m.provider, m.seconds]));
    return {
      date_from: from !== undefined ? new Date(from).toISOString() : null,
      date_to: to !== undefined ? new Date(to).toISOString() : null,
      total_messages: totals.total,
      by_status: statusCounts,
      delivery_rate: totals.delivery_rate,
      success_rate: totals.success_rate,
      error_rate: totals.error_rate,
      total_segments: totals.segments,
      total_cost: totals.cost,
      cost_by_provider: Object.fromEntries(byProvider.map((r: any) => [r.provider, roundCost(Number(r.cost ?? 0))])),
      otp: { ...otp, otp_success_rate: rate(otp.verified, otp.generated) },
      otp_generated: otp.generated,
      otp_verified: otp.verified,
      otp_success_rate: rate(otp.verified, otp.generated),
      providers: byProvider.map((r: any) => ({ provider: r.provider, ...shape(r), median_delivery_seconds: median.get(r.provider) ?? null })),
      countries: byCountry.map((r: any) => ({ country: r.country, ...shape(r) })),
      sms_types: bySmsType.map((r: any) => ({ sms_type: r.sms_type, ...shape(r) })),
      group_by: q.group_by ?? 'day',
      time_series: series.map((r: any) => ({ period_start: new Date(Number(r.bucket)).toISOString(), ...shape(r) })),
    };
  }

  /** Median of (final_at - sent_at) over delivered messages, by provider, with window functions both databases have. */
  private async medianDeliverySeconds(base: () => any): Promise<Array<{ provider: string; seconds: number }>> {
    const ranked = base()
      .select([
        'provider',
        sql<number>`final_at - sent_at`.as('ms'),
        sql<number>`row_number() over (partition by provider order by final_at - sent_at)`.as('rn'),
        sql<number>`count(*) over (partition by provider)`.as('cnt'),
      ])
      .where('status', '=', 'delivered')
      .where('sent_at', 'is not', null)
      .where('final_at', 'is not', null);
    const rows = await this.db
      .selectFrom(ranked.as('r'))
      .select(['provider', sql<number>`avg(ms)`.as('ms')])
      .where(sql<boolean>`rn in ((cnt + 1) / 2, (cnt + 2) / 2)`)
      .groupBy('provider')
      .execute();
    return rows.map((r: any) => ({ provider: r.provider, seconds: Math.round(Number(r.ms)) / 1000 }));
  }

  private async series(base: () => any, groupBy: 'hour' | 'day', aggregates: (eb: any) => any[]) {
    const size = groupBy === 'hour' ? 3_600_000 : 86_400_000;
    const bucket = sql<number>`(created_at / ${sql.lit(size)}) * ${sql.lit(size)}`;
    return base().select((eb: any) => [bucket.as('bucket'), ...aggregates(eb)]).groupBy(bucket).orderBy(bucket).execute();
  }
}
