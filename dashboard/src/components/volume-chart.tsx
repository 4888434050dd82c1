import { formatPercent, formatTime } from '../format';

export interface SeriesPoint {
  period_start: string;
  total: number;
  delivered: number;
  delivery_rate: number;
}

const WIDTH = 720;
const HEIGHT = 220;
const PAD = { top: 14, right: 44, bottom: 26, left: 40 };
const BUCKET_MS = { hour: 3_600_000, day: 86_400_000 } as const;

/**
 * Every period between `from` and `to`, the API's points where it has them and zeros elsewhere:
 * the API lists only periods with messages, and a chart that left the others out would hide the
 * quiet hours. Periods start at multiples of their length since 1970, as the API's do.
 */
export function fillPeriods(points: SeriesPoint[], from: number, to: number, groupBy: 'hour' | 'day'): SeriesPoint[] {
  const size = BUCKET_MS[groupBy];
  const byStart = new Map(points.map((p) => [Date.parse(p.period_start), p]));
  const filled: SeriesPoint[] = [];
  for (let start = Math.floor(from / size) * size; start <= to && filled.length < 1000; start += size) {
    filled.push(byStart.get(start) ?? { period_start: new Date(start).toISOString(), total: 0, delivered: 0, delivery_rate: 0 });
  }
  return filled;
}

/**
 * Volume (bars) and delivery rate (line, over periods with messages) drawn as SVG: a chart
 * library would cost more than the rest of the first page. The figures are also in a table
 * beside it, for screen readers and for anyone who wants the numbers.
 */
export function VolumeChart({ points, groupBy }: { points: SeriesPoint[]; groupBy: string }) {
  const maxTotal = Math.max(1, ...points.map((p) => p.total));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const step = innerW / Math.max(1, points.length);
  const barW = Math.max(1, step * 0.72);
  const x = (i: number) => PAD.left + i * step + (step - barW) / 2;
  const yCount = (n: number) => PAD.top + innerH - (n / maxTotal) * innerH;
  const yRate = (r: number) => PAD.top + innerH - r * innerH;
  const rated = points.map((p, i) => ({ p, i })).filter(({ p }) => p.total > 0);
  const line = rated.map(({ p, i }, n) => `${n === 0 ? 'M' : 'L'}${(x(i) + barW / 2).toFixed(1)},${yRate(p.delivery_rate).toFixed(1)}`).join(' ');
  const total = points.reduce((sum, p) => sum + p.total, 0);
  const label = `Messages per ${groupBy}: ${total} in all, at most ${maxTotal} in one ${groupBy}; and the delivery rate of each ${groupBy}, from 0 to 100%.`;
  const first = points[0]?.period_start;
  const last = points[points.length - 1]?.period_start;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label}>
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={PAD.top + innerH} y2={PAD.top + innerH} className="axis" />
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={PAD.top} y2={PAD.top} className="grid" />
        <text x={PAD.left - 6} y={PAD.top + 4} className="tick" textAnchor="end">{maxTotal}</text>
        <text x={PAD.left - 6} y={PAD.top + innerH} className="tick" textAnchor="end">0</text>
        <text x={WIDTH - PAD.right + 6} y={PAD.top + 4} className="tick">100%</text>
        <text x={WIDTH - PAD.right + 6} y={PAD.top + innerH} className="tick">0%</text>
        {first && <text x={PAD.left} y={HEIGHT - 6} className="tick">{formatTime(first, true)}</text>}
        {last && points.length > 1 && <text x={WIDTH - PAD.right} y={HEIGHT - 6} className="tick" textAnchor="end">{formatTime(last, true)}</text>}
        {points.map((p, i) => p.total > 0 && (
          <rect key={p.period_start} x={x(i)} y={yCount(p.total)} width={barW} height={PAD.top + innerH - yCount(p.total)} className="bar">
            <title>{`${formatTime(p.period_start, true)}: ${p.total} messages, ${formatPercent(p.delivery_rate)} delivered`}</title>
          </rect>
        ))}
        {rated.length > 1 && <path d={line} className="rate" fill="none" />}
        {rated.map(({ p, i }) => <circle key={p.period_start} cx={x(i) + barW / 2} cy={yRate(p.delivery_rate)} r={3.5} className="rate-dot" />)}
      </svg>
      <figcaption>
        <span className="key bar-key" aria-hidden="true" /> messages <span className="key rate-key" aria-hidden="true" /> delivery rate
      </figcaption>
    </figure>
  );
}
