import { formatPercent, formatTime } from '../format';

export interface SeriesPoint {
  period_start: string;
  total: number;
  delivered: number;
  delivery_rate: number;
}

const WIDTH = 640;
const HEIGHT = 200;
const PAD = { top: 12, right: 40, bottom: 24, left: 40 };

/**
 * Volume (bars) and delivery rate (line) over time, drawn as SVG: a chart library would cost
 * more than the rest of the first page. The same figures are in the table below it, for screen
 * readers and for anyone who wants the numbers.
 */
export function VolumeChart({ points, groupBy }: { points: SeriesPoint[]; groupBy: string }) {
  const maxTotal = Math.max(1, ...points.map((p) => p.total));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const step = innerW / Math.max(1, points.length);
  const barW = Math.max(2, step * 0.7);
  const x = (i: number) => PAD.left + i * step + (step - barW) / 2;
  const yCount = (n: number) => PAD.top + innerH - (n / maxTotal) * innerH;
  const yRate = (r: number) => PAD.top + innerH - r * innerH;
  const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${(x(i) + barW / 2).toFixed(1)},${yRate(p.delivery_rate).toFixed(1)}`).join(' ');
  const total = points.reduce((sum, p) => sum + p.total, 0);
  const label = `Messages per ${groupBy}: ${total} in ${points.length} periods, up to ${maxTotal} in one; delivery rate line from 0 to 100%.`;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label} preserveAspectRatio="none">
        <line x1={PAD.left} x2={WIDTH - PAD.right} y1={PAD.top + innerH} y2={PAD.top + innerH} className="axis" />
        <text x={PAD.left - 6} y={PAD.top + 8} className="tick" textAnchor="end">{maxTotal}</text>
        <text x={PAD.left - 6} y={PAD.top + innerH} className="tick" textAnchor="end">0</text>
        <text x={WIDTH - PAD.right + 6} y={PAD.top + 8} className="tick">100%</text>
        <text x={WIDTH - PAD.right + 6} y={PAD.top + innerH} className="tick">0%</text>
        {points.map((p, i) => (
          <rect key={p.period_start} x={x(i)} y={yCount(p.total)} width={barW} height={Math.max(0, PAD.top + innerH - yCount(p.total))} className="bar">
            <title>{`${formatTime(p.period_start, true)}: ${p.total} messages, ${formatPercent(p.delivery_rate)} delivered`}</title>
          </rect>
        ))}
        {points.length > 0 && <path d={line} className="rate" fill="none" />}
      </svg>
      <figcaption>
        <span className="key bar-key" aria-hidden="true" /> messages <span className="key rate-key" aria-hidden="true" /> delivery rate
      </figcaption>
    </figure>
  );
}
