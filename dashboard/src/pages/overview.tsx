import { useQuery } from '@tanstack/react-query';
import { api, type ProviderItem, type Stats } from '../api/client';
import { Empty, QueryView } from '../components/states';
import { StatusBadge } from '../components/status-badge';
import { fillPeriods, VolumeChart } from '../components/volume-chart';
import { formatMoney, formatMs, formatNumber, formatPercent } from '../format';
import { Link, navigate, useLocation, withSearch } from '../router';

const PERIODS = { '24h': { ms: 86_400_000, groupBy: 'hour' }, '7d': { ms: 7 * 86_400_000, groupBy: 'day' }, '30d': { ms: 30 * 86_400_000, groupBy: 'day' } } as const;
type Period = keyof typeof PERIODS;

const FAILED = ['failed', 'undelivered', 'expired'] as const;

function Figure({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div className="figure">
      <dt>{label}</dt>
      <dd>{value}{hint && <span className="hint"> {hint}</span>}</dd>
    </div>
  );
}

export default function OverviewPage() {
  const { search } = useLocation();
  const period: Period = (search.get('period') as Period) in PERIODS ? (search.get('period') as Period) : '24h';
  const { ms, groupBy } = PERIODS[period];

  const stats = useQuery({
    queryKey: ['stats', period],
    queryFn: () => {
      // To the minute, so that a refetch asks the same question and the cache key stays stable.
      const now = Math.ceil(Date.now() / 60_000) * 60_000;
      return api.get('/api/analytics/stats', { query: { date_from: new Date(now - ms).toISOString(), date_to: new Date(now).toISOString(), group_by: groupBy } });
    },
    refetchInterval: 15_000,
  });
  // Waiting now, whatever the period: counted on the dispatch index, never by reading rows.
  const queue = useQuery({
    queryKey: ['queue'],
    queryFn: async () => {
      const [queued, sending] = await Promise.all([
        api.get('/api/sms', { query: { status: 'queued', limit: 1 } }),
        api.get('/api/sms', { query: { status: 'sending', limit: 1 } }),
      ]);
      return { queued: queued.total, sending: sending.total };
    },
    refetchInterval: 5_000,
  });
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => api.get('/api/providers'), refetchInterval: 10_000 });

  return (
    <>
      <div className="toolbar">
        <label htmlFor="period">Period</label>
        <select id="period" value={period} onChange={(e) => navigate(withSearch('/', { period: e.target.value }), { replace: true })}>
          <option value="24h">Last 24 hours</option>
          <option value="7d">Last 7 days</option>
          <option value="30d">Last 30 days</option>
        </select>
      </div>
      <QueryView query={stats} what="statistics">
        {(s) => <Totals stats={s} queue={queue.data} period={period} />}
      </QueryView>
      <section aria-labelledby="volume-heading">
        <h2 id="volume-heading">Volume and delivery rate</h2>
        <QueryView query={stats} what="the series">
          {(s) => (s.time_series.length === 0 ? <Empty>No messages in this period.</Empty> : (
            <>
              <VolumeChart points={fillPeriods(s.time_series, Date.parse(s.date_from ?? ''), Date.parse(s.date_to ?? ''), s.group_by)} groupBy={s.group_by} />
              <details>
                <summary>The figures as a table</summary>
                <div className="table-wrap" tabIndex={0}>
                  <table>
                    <thead><tr><th scope="col">Period start</th><th scope="col">Messages</th><th scope="col">Delivered</th><th scope="col">Delivery rate</th></tr></thead>
                    <tbody>
                      {s.time_series.map((p) => (
                        <tr key={p.period_start}><td>{new Date(p.period_start).toLocaleString()}</td><td>{formatNumber(p.total)}</td><td>{formatNumber(p.delivered)}</td><td>{formatPercent(p.delivery_rate)}</td></tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </details>
            </>
          ))}
        </QueryView>
      </section>
      <section aria-labelledby="providers-heading">
        <h2 id="providers-heading">Providers</h2>
        <QueryView query={providers} what="providers">
          {(p) => <ProviderHealth providers={p.items} stats={stats.data} />}
        </QueryView>
      </section>
      <section aria-labelledby="otp-heading">
        <h2 id="otp-heading">OTP conversion by country</h2>
        <QueryView query={stats} what="OTP figures">
          {(s) => <OtpConversion stats={s} />}
        </QueryView>
      </section>
    </>
  );
}

function Totals({ stats, queue, period }: { stats: Stats; queue?: { queued: number; sending: number }; period: Period }) {
  const failed = FAILED.reduce((sum, status) => sum + (stats.by_status[status] ?? 0), 0);
  const currency = useQuery({ queryKey: ['prices'], queryFn: () => api.get('/api/prices'), staleTime: Infinity }).data?.currency;
  return (
    <dl className="figures" aria-label={`Totals for the last ${period}`}>
      <Figure label="Messages" value={formatNumber(stats.total_messages)} />
      <Figure label="Delivered" value={formatNumber(stats.by_status.delivered ?? 0)} />
      <Figure label="Failed" value={formatNumber(failed)} hint="incl. undelivered, expired" />
      <Figure label="Delivery rate" value={formatPercent(stats.delivery_rate)} />
      <Figure label="Cost" value={formatMoney(stats.total_cost, currency)} />
      <Figure label="Queue" value={queue ? formatNumber(queue.queued + queue.sending) : '…'} hint={queue ? `${formatNumber(queue.sending)} sending` : undefined} />
    </dl>
  );
}

function ProviderHealth({ providers, stats }: { providers: ProviderItem[]; stats?: Stats }) {
  const enabled = providers.filter((p) => p.enabled);
  if (enabled.length === 0) return <Empty>No provider is enabled.</Empty>;
  const byName = new Map(stats?.providers.map((p) => [p.provider, p]) ?? []);
  return (
    <div className="table-wrap" tabIndex={0}>
      <table>
        <thead>
          <tr><th scope="col">Provider</th><th scope="col">Circuit</th><th scope="col">Recent success</th><th scope="col">p50 latency</th><th scope="col">Delivery rate</th><th scope="col">Median to delivery</th></tr>
        </thead>
        <tbody>
          {enabled.map((p) => {
            const s = byName.get(p.name);
            return (
              <tr key={p.name}>
                <th scope="row"><Link to="/providers">{p.name}</Link></th>
                <td><StatusBadge status={p.circuit} /></td>
                <td>{p.recent && p.recent.attempts > 0 ? `${formatPercent(p.recent.success_rate)} of ${p.recent.attempts}` : 'no recent sends'}</td>
                <td>{formatMs(p.recent?.p50_ms)}</td>
                <td>{s ? formatPercent(s.delivery_rate) : '—'}</td>
                <td>{s?.median_delivery_seconds !== null && s?.median_delivery_seconds !== undefined ? `${s.median_delivery_seconds} s` : '—'}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function OtpConversion({ stats }: { stats: Stats }) {
  const pumping = stats.otp.pumping;
  const rows = pumping?.by_country ?? [];
  return (
    <>
      <p>
        {formatNumber(stats.otp.generated)} codes sent, {formatNumber(stats.otp.verified)} verified ({formatPercent(stats.otp.otp_success_rate)}) in this period.
        {pumping && pumping.throttled_countries.length > 0 && (
          <strong> Throttled by the pumping guard: {pumping.throttled_countries.map((t) => `${t.country} until ${new Date(t.throttled_until).toLocaleTimeString()}`).join(', ')}.</strong>
        )}
      </p>
      {rows.length === 0 ? <Empty>No OTP traffic in the pumping guard's window.</Empty> : (
        <div className="table-wrap" tabIndex={0}>
          <table>
            <caption>The pumping guard's own window (OTP_PUMPING_WINDOW_MINUTES)</caption>
            <thead><tr><th scope="col">Country</th><th scope="col">Sent</th><th scope="col">Verified</th><th scope="col">Conversion</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.country}><th scope="row">{r.country}</th><td>{formatNumber(r.generated)}</td><td>{formatNumber(r.verified)}</td><td>{formatPercent(r.conversion)}</td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
