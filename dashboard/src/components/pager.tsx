import { formatNumber } from '../format';

/** Previous / next over `offset` pages; the total is what the API counted. */
export function Pager({ offset, limit, total, shown, onOffset, label }: { offset: number; limit: number; total: number; shown: number; onOffset(offset: number): void; label: string }) {
  const first = total === 0 ? 0 : offset + 1;
  const last = offset + shown;
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <span>{formatNumber(first)}–{formatNumber(last)} of {formatNumber(total)}</span>
      <button type="button" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>Previous</button>
      <button type="button" disabled={last >= total} onClick={() => onOffset(offset + limit)}>Next</button>
    </nav>
  );
}
