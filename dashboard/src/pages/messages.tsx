import { useQuery, keepPreviousData } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, type Query } from '../api/client';
import { Empty, QueryView } from '../components/states';
import { StatusBadge } from '../components/status-badge';
import { formatMoney, formatNumber, formatTime, isoToLocalInput, localInputToIso } from '../format';
import { Link, navigate, useLocation, withSearch } from '../router';

const STATUSES = ['draft', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'expired', 'canceled'] as const;
const SMS_TYPES = ['transactional', 'promotional', 'otp', 'alert', 'marketing'] as const;
const PROVIDERS = ['twilio', 'aws_sns', 'plivo', 'nexmo', 'clickatell', 'simulator'] as const;
const LIMIT = 50;
/** Stands for the first page (no cursor) in the trail of pages before. */
const FIRST = 'first';
const MAX_TRAIL = 50;
const FILTERS = ['status', 'sms_type', 'provider', 'to', 'batch_id', 'date_from', 'date_to'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

/** The message log. Filters and page live in the URL: a filtered view can be shared and reloaded. */
export default function MessagesPage() {
  const { search } = useLocation();
  const applied = Object.fromEntries(FILTERS.map((name) => [name, search.get(name) ?? ''])) as Filters;
  // Keyset pages (`cursor`): as fast a million rows deep as on the first page. `trail` holds the
  // cursors of the pages before, so Previous works and a page's URL can be shared and reloaded.
  const cursor = search.get('cursor') ?? undefined;
  const trail = (search.get('trail') ?? '').split(',').filter(Boolean).slice(-MAX_TRAIL);
  const query = { ...Object.fromEntries(Object.entries(applied).filter(([, v]) => v !== '')), limit: LIMIT, ...(cursor ? { cursor } : {}) } as Query<'/api/sms'>;
  const pageAt = (nextCursor: string | undefined, nextTrail: string[]) =>
    navigate(withSearch('/messages', { ...applied, cursor: nextCursor, trail: nextTrail.join(',') || undefined }));

  const messages = useQuery({
    queryKey: ['messages', query],
    queryFn: ({ signal }) => api.get('/api/sms', { query, signal }),
    placeholderData: keepPreviousData,
  });

  return (
    <>
      <FilterForm key={search.toString()} applied={applied} />
      <QueryView query={messages} what="messages">
        {(page) => page.items.length === 0 ? <Empty>{cursor ? 'No more messages.' : 'No message matches these filters.'}</Empty> : (
          <>
            {/* While the next page loads, the rows shown are the page before's: say so. */}
            <div className="table-wrap" tabIndex={0} aria-busy={messages.isPlaceholderData || undefined}>
              <table className="messages">
                <caption className="visually-hidden">Messages, newest first; statuses update live</caption>
                <thead>
                  <tr><th scope="col">Created</th><th scope="col">To</th><th scope="col">Status</th><th scope="col">Type</th><th scope="col">Provider</th><th scope="col">Segments</th><th scope="col">Cost</th></tr>
                </thead>
                <tbody>
                  {page.items.map((m) => (
                    <tr key={m.id} data-message-id={m.id}>
                      <td><Link to={`/messages/${m.id}`}>{formatTime(m.created_at, true)}</Link></td>
                      <td className="mono">{m.to}</td>
                      <td data-label="status"><StatusBadge status={m.status} /></td>
                      <td>{m.sms_type}</td>
                      <td>{m.provider}</td>
                      <td>{m.segments} · {m.encoding}</td>
                      <td>{formatMoney(m.cost ?? m.estimated_cost, m.currency)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <nav className="pager" aria-label="Messages pages">
              <span>Page {trail.length + 1} · {formatNumber(page.total)} message{page.total === 1 ? '' : 's'}</span>
              <button type="button" disabled={!cursor} onClick={() => {
                const previous = trail[trail.length - 1];
                pageAt(previous === FIRST ? undefined : previous, trail.slice(0, -1));
              }}>Previous</button>
              <button type="button" disabled={!page.next_cursor || page.items.length < LIMIT} onClick={() => pageAt(page.next_cursor ?? undefined, [...trail, cursor ?? FIRST])}>Next</button>
            </nav>
          </>
        )}
      </QueryView>
    </>
  );
}

function FilterForm({ applied }: { applied: Filters }) {
  const [draft, setDraft] = useState<Filters>({ ...applied, date_from: isoToLocalInput(applied.date_from), date_to: isoToLocalInput(applied.date_to) });
  const set = (name: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [name]: e.target.value });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    navigate(withSearch('/messages', { ...draft, to: draft.to.trim(), batch_id: draft.batch_id.trim(), date_from: localInputToIso(draft.date_from), date_to: localInputToIso(draft.date_to) }));
  };
  const select = (name: 'status' | 'sms_type' | 'provider', label: string, values: readonly string[]) => (
    <div className="field">
      <label htmlFor={`f-${name}`}>{label}</label>
      <select id={`f-${name}`} value={draft[name]} onChange={set(name)}>
        <option value="">any</option>
        {values.map((v) => <option key={v} value={v}>{v}</option>)}
      </select>
    </div>
  );
  return (
    <form className="filters" onSubmit={submit} aria-label="Filter messages">
      {select('status', 'Status', STATUSES)}
      {select('sms_type', 'Type', SMS_TYPES)}
      {select('provider', 'Provider', PROVIDERS)}
      <div className="field"><label htmlFor="f-to">Recipient</label><input id="f-to" value={draft.to} onChange={set('to')} placeholder="+14155552671" inputMode="tel" /></div>
      <div className="field"><label htmlFor="f-batch">Batch</label><input id="f-batch" value={draft.batch_id} onChange={set('batch_id')} placeholder="bat_…" /></div>
      <div className="field"><label htmlFor="f-from">From</label><input id="f-from" type="datetime-local" value={draft.date_from} onChange={set('date_from')} /></div>
      <div className="field"><label htmlFor="f-until">Until</label><input id="f-until" type="datetime-local" value={draft.date_to} onChange={set('date_to')} /></div>
      <div className="actions">
        <button type="submit">Apply</button>
        <button type="button" className="secondary" onClick={() => navigate('/messages')}>Clear</button>
      </div>
    </form>
  );
}
