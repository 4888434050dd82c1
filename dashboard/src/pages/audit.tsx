import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { Pager } from '../components/pager';
import { Empty, QueryView } from '../components/states';
import { formatTime } from '../format';
import { navigate, useLocation, withSearch } from '../router';

const LIMIT = 50;

/** Admin: who did what through the API, newest first. */
export default function AuditPage() {
  const { search } = useLocation();
  const action = search.get('action') ?? '';
  const keyId = search.get('key_id') ?? '';
  const offset = Math.max(0, Number(search.get('offset')) || 0);
  const query = { ...(action ? { action } : {}), ...(keyId ? { key_id: keyId } : {}), limit: LIMIT, offset };
  const log = useQuery({ queryKey: ['audit', query], queryFn: ({ signal }) => api.get('/api/audit', { query, signal }), placeholderData: keepPreviousData });
  return (
    <>
      <AuditFilters key={search.toString()} action={action} keyId={keyId} />
      <QueryView query={log} what="the audit log">
        {(page) => page.items.length === 0 ? <Empty>No record matches.</Empty> : (
          <>
            <div className="table-wrap" tabIndex={0}>
              <table>
                <thead><tr><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Resource</th><th scope="col">Result</th><th scope="col">Key</th><th scope="col">Address</th></tr></thead>
                <tbody>
                  {page.items.map((r) => (
                    <tr key={r.id}>
                      <td>{formatTime(r.time, true)}</td><td>{r.action}</td><td className="mono">{r.resource}{r.resource_id ? ` ${r.resource_id}` : ''}</td>
                      <td>{r.result}</td><td className="mono">{r.key_id ?? 'operator'}</td><td className="mono">{r.ip ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager label="Audit log" offset={offset} limit={LIMIT} total={page.total} shown={page.items.length} onOffset={(next) => navigate(withSearch('/audit', { action, key_id: keyId, offset: next || undefined }))} />
          </>
        )}
      </QueryView>
    </>
  );
}

function AuditFilters({ action, keyId }: { action: string; keyId: string }) {
  const [draftAction, setAction] = useState(action);
  const [draftKey, setKey] = useState(keyId);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    navigate(withSearch('/audit', { action: draftAction.trim(), key_id: draftKey.trim() }));
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Filter the audit log">
      <div className="field"><label htmlFor="a-action">Action</label><input id="a-action" value={draftAction} onChange={(e) => setAction(e.target.value)} placeholder="keys.delete" /></div>
      <div className="field"><label htmlFor="a-key">Key id</label><input id="a-key" value={draftKey} onChange={(e) => setKey(e.target.value)} placeholder="key_…" /></div>
      <div className="actions"><button type="submit">Apply</button></div>
    </form>
  );
}
