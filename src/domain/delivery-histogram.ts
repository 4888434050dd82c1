/**
 * Seconds to delivery kept as a histogram (per hour, provider and sms_type) instead of one row per
 * message, so a median over a million deliveries reads a few thousand rows.
 *
 * Buckets: below one second every millisecond is its own bucket (exact); from one second up each
 * bucket is 2 % wide (bucket k holds [1000·1.02^(k-1000), 1000·1.02^(k-999)) ms). Each bucket keeps
 * the count and the sum of its times, and a median is the mean of the bucket its rank falls in: exact
 * below one second or when a bucket's times are all equal, otherwise within 2 % of the exact median.
 */

/** ln(1.02), written out so SQLite and PostgreSQL divide by the same double. */
const LOG_STEP = '0.0198026272961797';

/** The bucket of a delivery time, as SQL over an expression giving milliseconds (same text for both databases). */
export function deliveryBucketSql(ms: string): string {
  return `(case when ${ms} < 1000 then ${ms} else 1000 + cast(floor(ln(cast(${ms} as double precision) / 1000) / ${LOG_STEP}) as integer) end)`;
}

export interface HistogramBucket {
  bucket: number;
  deliveries: number;
  totalMs: number;
}

/**
 * The median of the times in `buckets` (any order, buckets may repeat and counts may be zero) in
 * milliseconds, or null when there are none. Middle ranks as the exact SQL had them:
 * (n+1)/2 and (n+2)/2, averaged.
 */
export function medianMs(buckets: HistogramBucket[]): number | null {
  const merged = new Map<number, { deliveries: number; totalMs: number }>();
  for (const b of buckets) {
    const m = merged.get(b.bucket) ?? { deliveries: 0, totalMs: 0 };
    m.deliveries += b.deliveries;
    m.totalMs += b.totalMs;
    merged.set(b.bucket, m);
  }
  const sorted = [...merged].filter(([, m]) => m.deliveries > 0).sort(([a], [b]) => a - b);
  const n = sorted.reduce((sum, [, m]) => sum + m.deliveries, 0);
  if (n === 0) return null;
  const ranks = [Math.floor((n + 1) / 2), Math.floor((n + 2) / 2)];
  const values: number[] = [];
  let seen = 0;
  for (const [, m] of sorted) {
    const upTo = seen + m.deliveries;
    for (const r of ranks) if (r > seen && r <= upTo) values.push(m.totalMs / m.deliveries);
    seen = upTo;
  }
  return (values[0] + values[1]) / 2;
}
