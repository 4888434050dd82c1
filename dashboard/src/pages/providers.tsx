import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { Empty, QueryView } from '../components/states';
import { StatusBadge } from '../components/status-badge';
import { formatMs, formatNumber, formatPercent } from '../format';

/** Every provider the gateway knows: what it can carry, its circuit, budget and recent health; a disabled one, what it lacks. */
export default function ProvidersPage() {
  const providers = useQuery({ queryKey: ['providers'], queryFn: ({ signal }) => api.get('/api/providers', { signal }), refetchInterval: 5_000 });
  return (
    <QueryView query={providers} what="providers">
      {(p) => p.items.length === 0 ? <Empty>No provider configured.</Empty> : (
        <ul className="cards">
          {p.items.map((provider) => (
            <li key={provider.name} className="card">
              <div className="batch-head">
                <h2 className="small">{provider.name}{provider.default ? ' (default)' : ''}</h2>
                {provider.enabled ? <StatusBadge status={provider.circuit} /> : <span className="badge muted">disabled</span>}
              </div>
              {provider.enabled && provider.capabilities ? (
                <dl className="facts compact">
                  <div><dt>Circuit</dt><dd>{provider.circuit?.replace('_', ' ')}</dd></div>
                  <div><dt>Recent sends</dt><dd>{provider.recent ? formatNumber(provider.recent.attempts) : '—'}</dd></div>
                  <div><dt>Success rate</dt><dd>{formatPercent(provider.recent?.success_rate)}</dd></div>
                  <div><dt>p50 latency</dt><dd>{formatMs(provider.recent?.p50_ms)}</dd></div>
                  <div><dt>Budget</dt><dd>{provider.budget_per_second ? `${formatNumber(provider.budget_per_second)} segments/s` : 'unlimited'}</dd></div>
                  <div><dt>Carries</dt><dd>{provider.capabilities.message_types.join(', ')}</dd></div>
                  <div><dt>Delivery reports</dt><dd>{provider.capabilities.delivery_reports ? 'yes' : 'no'}</dd></div>
                  <div><dt>Parts</dt><dd>up to {provider.capabilities.max_parts}</dd></div>
                  <div><dt>Lookup</dt><dd>{provider.capabilities.lookup}</dd></div>
                </dl>
              ) : (
                <p className="muted">Set {provider.missing_variables?.join(', ') ?? 'its credentials'} to enable it.</p>
              )}
            </li>
          ))}
        </ul>
      )}
    </QueryView>
  );
}
