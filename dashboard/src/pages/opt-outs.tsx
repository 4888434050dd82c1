import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { Pager } from '../components/pager';
import { Empty, ErrorState, QueryView } from '../components/states';
import { formatTime } from '../format';
import { navigate, useLocation, withSearch } from '../router';
import { useSession } from '../session';

const LIMIT = 50;

/** Numbers that get no promotional or marketing messages (STOP replies add to the same list). */
export default function OptOutsPage() {
  const { can } = useSession();
  const queries = useQueryClient();
  const { search } = useLocation();
  const offset = Math.max(0, Number(search.get('offset')) || 0);
  const list = useQuery({ queryKey: ['opt-outs', offset], queryFn: ({ signal }) => api.get('/api/opt-outs', { query: { limit: LIMIT, offset }, signal }), placeholderData: keepPreviousData });
  const remove = useMutation({
    mutationFn: (number: string) => api.delete('/api/opt-outs/{number}', { params: { number } }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ['opt-outs'] }),
  });
  return (
    <>
      {can('sms:send') && <AddOptOut />}
      {remove.isError && <ErrorState error={remove.error} />}
      <QueryView query={list} what="opt-outs">
        {(page) => page.items.length === 0 ? <Empty>No number has opted out.</Empty> : (
          <>
            <div className="table-wrap" tabIndex={0}>
              <table>
                <thead><tr><th scope="col">Number</th><th scope="col">Reason</th><th scope="col">Source</th><th scope="col">Since</th>{can('sms:send') && <th scope="col"><span className="visually-hidden">Action</span></th>}</tr></thead>
                <tbody>
                  {page.items.map((o) => (
                    <tr key={o.number}>
                      <th scope="row" className="mono">{o.number}</th><td>{o.reason ?? '—'}</td><td>{o.source}</td><td>{formatTime(o.created_at, true)}</td>
                      {can('sms:send') && (
                        <td><button type="button" className="secondary" disabled={remove.isPending} onClick={() => window.confirm(`Opt ${o.number} back in?`) && remove.mutate(o.number)}>Opt back in<span className="visually-hidden"> {o.number}</span></button></td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager label="Opt-outs" offset={offset} limit={LIMIT} total={page.total} shown={page.items.length} onOffset={(next) => navigate(withSearch('/opt-outs', { offset: next || undefined }))} />
          </>
        )}
      </QueryView>
    </>
  );
}

function AddOptOut() {
  const queries = useQueryClient();
  const [number, setNumber] = useState('');
  const [reason, setReason] = useState('');
  const add = useMutation({
    mutationFn: () => api.post('/api/opt-outs', { body: { number: number.trim(), ...(reason ? { reason } : {}) } }),
    onSuccess: () => {
      setNumber('');
      setReason('');
      void queries.invalidateQueries({ queryKey: ['opt-outs'] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate();
  };
  return (
    <form className="card row wrap" onSubmit={submit} aria-label="Opt a number out">
      <div className="field"><label htmlFor="o-number">Number</label><input id="o-number" required value={number} onChange={(e) => setNumber(e.target.value)} inputMode="tel" /></div>
      <div className="field"><label htmlFor="o-reason">Reason</label><input id="o-reason" value={reason} onChange={(e) => setReason(e.target.value)} /></div>
      <div className="actions"><button type="submit" disabled={add.isPending}>Opt out</button></div>
      {add.isError && <ErrorState error={add.error} />}
    </form>
  );
}
