import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Batch } from '../api/client';
import { Pager } from '../components/pager';
import { Empty, ErrorState, QueryView } from '../components/states';
import { StatusBadge } from '../components/status-badge';
import { formatMoney, formatNumber, formatTime } from '../format';
import { Link, navigate, useLocation, withSearch } from '../router';
import { useSession } from '../session';

const LIMIT = 20;
const CANCELABLE = ['draft', 'scheduled', 'queued', 'processing'];

/** Campaigns (send-batch), newest first, with how far each has got. */
export default function BatchesPage() {
  const { search } = useLocation();
  const offset = Math.max(0, Number(search.get('offset')) || 0);
  const batches = useQuery({
    queryKey: ['batches', offset],
    queryFn: ({ signal }) => api.get('/api/sms/batches', { query: { limit: LIMIT, offset }, signal }),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  return (
    <QueryView query={batches} what="batches">
      {(page) => page.items.length === 0 ? <Empty>No campaign yet. Send one from <Link to="/compose">Compose</Link> (Batch).</Empty> : (
        <>
          <ul className="cards">
            {page.items.map((b) => <BatchCard key={b.batch_id} batch={b} />)}
          </ul>
          <Pager label="Batches" offset={offset} limit={LIMIT} total={page.total} shown={page.items.length} onOffset={(next) => navigate(withSearch('/batches', { offset: next || undefined }))} />
        </>
      )}
    </QueryView>
  );
}

function BatchCard({ batch: b }: { batch: Batch }) {
  const { can } = useSession();
  const queries = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => api.post('/api/sms/batches/{batch_id}/cancel', { params: { batch_id: b.batch_id } }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ['batches'] }),
  });
  const count = (...statuses: string[]) => statuses.reduce((sum, s) => sum + (b.counts[s] ?? 0), 0);
  const total = Math.max(1, b.accepted);
  // Each stage counts the messages that reached it or went past it.
  const stages = [
    { label: 'queued', n: b.accepted - count('draft', 'scheduled', 'canceled') },
    { label: 'sent', n: count('sent', 'delivered', 'undelivered') },
    { label: 'delivered', n: count('delivered') },
  ];
  const failed = count('failed', 'undelivered', 'expired');
  return (
    <li className="card batch">
      <div className="batch-head">
        <h2 className="small">{b.name ?? b.batch_id}</h2>
        <StatusBadge status={b.status} />
      </div>
      <p className="muted">
        {formatTime(b.created_at)} · {b.sms_type} · {formatNumber(b.accepted)} accepted of {formatNumber(b.total_recipients)}
        {b.rejected > 0 ? `, ${formatNumber(b.rejected)} rejected` : ''} · cost {formatMoney(b.cost_so_far, b.currency)} of {formatMoney(b.estimated_cost, b.currency)} estimated
      </p>
      {stages.map((s) => (
        <div className="progress-row" key={s.label}>
          <span>{s.label}</span>
          <progress max={total} value={Math.max(0, s.n)} aria-label={`${b.name ?? b.batch_id}: ${s.label}`} />
          <span>{formatNumber(Math.max(0, s.n))}</span>
        </div>
      ))}
      {failed > 0 && <p className="muted">{formatNumber(failed)} failed, undelivered or expired; {formatNumber(count('canceled'))} canceled.</p>}
      <div className="actions">
        <Link to={withSearch('/messages', { batch_id: b.batch_id })}>Its messages</Link>
        {can('sms:send') && CANCELABLE.includes(b.status) && (
          <button type="button" className="secondary" disabled={cancel.isPending} onClick={() => window.confirm(`Cancel every message of ${b.name ?? b.batch_id} not yet sent?`) && cancel.mutate()}>Cancel</button>
        )}
      </div>
      {cancel.isError && <ErrorState error={cancel.error} />}
    </li>
  );
}
