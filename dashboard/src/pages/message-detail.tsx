import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type MessageDetail } from '../api/client';
import { Empty, ErrorState, QueryView } from '../components/states';
import { StatusBadge } from '../components/status-badge';
import { formatMoney, formatMs, formatTime } from '../format';
import { Link, withSearch } from '../router';
import { useSession } from '../session';

const PENDING = ['draft', 'scheduled', 'queued'];

/** One message: what was sent, every status change with its source, every send and callback attempt. */
export default function MessageDetailPage({ params }: { params: Record<string, string> }) {
  const id = params.id;
  const message = useQuery({ queryKey: ['message', id], queryFn: ({ signal }) => api.get('/api/sms/{sms_id}', { params: { sms_id: id }, signal }) });
  const callbacks = useQuery({ queryKey: ['callbacks', id], queryFn: ({ signal }) => api.get('/api/sms/{sms_id}/callbacks', { params: { sms_id: id }, signal }) });
  return (
    <QueryView query={message} what="the message">
      {(m) => (
        <>
          <Summary message={m} />
          <section aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">Status timeline</h2>
            {m.events.length === 0 ? <Empty>No status change recorded yet.</Empty> : (
              <ol className="timeline">
                {m.events.map((e, i) => (
                  <li key={`${e.timestamp}-${i}`}>
                    <StatusBadge status={e.status} />
                    <time dateTime={e.timestamp}>{formatTime(e.timestamp)}</time>
                    <span className="source">from {e.previous_status ?? '—'}, by {e.source}</span>
                    {e.detail && <span className="detail">{e.detail}</span>}
                  </li>
                ))}
              </ol>
            )}
          </section>
          <section aria-labelledby="attempts-heading">
            <h2 id="attempts-heading">Send attempts</h2>
            {m.send_attempts.length === 0 ? <Empty>Not handed to a provider yet.</Empty> : (
              <div className="table-wrap" tabIndex={0}>
                <table>
                  <thead><tr><th scope="col">At</th><th scope="col">Provider</th><th scope="col">Outcome</th><th scope="col">Provider id</th><th scope="col">Error</th><th scope="col">Took</th></tr></thead>
                  <tbody>
                    {m.send_attempts.map((a, i) => (
                      <tr key={`${a.at}-${i}`}>
                        <td>{formatTime(a.at, true)}</td><td>{a.provider}</td><td><StatusBadge status={a.outcome} /></td>
                        <td className="mono">{a.provider_message_id ?? '—'}</td>
                        <td>{[a.error_code, a.provider_error_code, a.error_message].filter(Boolean).join(' · ') || '—'}</td>
                        <td>{formatMs(a.duration_ms)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
          <section aria-labelledby="callbacks-heading">
            <h2 id="callbacks-heading">Callback attempts</h2>
            <QueryView query={callbacks} what="callback attempts">
              {(c) => c.items.length === 0 ? <Empty>{m.callback_url ? 'No callback attempt yet.' : 'This message has no callback URL.'}</Empty> : (
                <div className="table-wrap" tabIndex={0}>
                  <table>
                    <thead><tr><th scope="col">At</th><th scope="col">For status</th><th scope="col">Attempt</th><th scope="col">Result</th><th scope="col">HTTP</th><th scope="col">Error</th></tr></thead>
                    <tbody>
                      {c.items.map((a, i) => (
                        <tr key={`${a.callback_id}-${a.attempt}-${i}`}>
                          <td>{formatTime(a.attempted_at, true)}</td><td>{a.event_status}</td><td>{a.attempt}</td>
                          <td><StatusBadge status={a.status} /></td><td>{a.status_code ?? '—'}</td><td>{a.error ?? '—'}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </QueryView>
          </section>
        </>
      )}
    </QueryView>
  );
}

function Summary({ message: m }: { message: MessageDetail }) {
  const { can } = useSession();
  const queries = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => api.post('/api/sms/{sms_id}/cancel', { params: { sms_id: m.id } }),
    onSuccess: (updated) => queries.setQueryData(['message', m.id], updated),
  });
  return (
    <section aria-label="Message" className="card">
      <dl className="facts">
        <div><dt>Status</dt><dd data-testid="message-status"><StatusBadge status={m.status} /></dd></div>
        <div><dt>To</dt><dd className="mono">{m.to}{m.country_code ? ` (${m.country_code})` : ''}</dd></div>
        <div><dt>From</dt><dd>{m.from_number ?? 'provider default'}</dd></div>
        <div><dt>Id</dt><dd className="mono">{m.id}</dd></div>
        <div><dt>Batch</dt><dd><Link to={withSearch('/messages', { batch_id: m.batch_id })} className="mono">{m.batch_id}</Link></dd></div>
        <div><dt>Type</dt><dd>{m.sms_type} · {m.message_type} · priority {m.priority}</dd></div>
        <div><dt>Provider</dt><dd>{m.provider}{m.route.length > 1 ? ` (route: ${m.route.join(' → ')})` : ''}</dd></div>
        <div><dt>Provider id</dt><dd className="mono">{m.provider_message_id ?? '—'}</dd></div>
        <div><dt>Segments</dt><dd>{m.segments} · {m.encoding}</dd></div>
        <div><dt>Cost</dt><dd>{formatMoney(m.cost, m.currency)} (estimated {formatMoney(m.estimated_cost, m.currency)})</dd></div>
        <div><dt>Attempts</dt><dd>{m.attempts}</dd></div>
        <div><dt>Error</dt><dd>{m.error_code ? `${m.error_code}${m.error_message ? `: ${m.error_message}` : ''}` : '—'}</dd></div>
        <div><dt>Created</dt><dd>{formatTime(m.created_at)}</dd></div>
        <div><dt>Sent</dt><dd>{formatTime(m.sent_at)}</dd></div>
        <div><dt>Completed</dt><dd>{formatTime(m.completed_at)}</dd></div>
        {m.template_id && <div><dt>Template</dt><dd>{m.template_id} v{m.template_version}</dd></div>}
        {m.custom_id && <div><dt>Custom id</dt><dd>{m.custom_id}</dd></div>}
      </dl>
      <h2 className="small">Text</h2>
      <pre className="sms-text">{m.message}</pre>
      {Object.keys(m.metadata).length > 0 && (<><h2 className="small">Metadata</h2><pre className="sms-text">{JSON.stringify(m.metadata, null, 2)}</pre></>)}
      {can('sms:send') && PENDING.includes(m.status) && (
        <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>Cancel this message</button>
      )}
      {cancel.isError && <ErrorState error={cancel.error} />}
    </section>
  );
}
