import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** Every Prometheus series the gateway exports, on one registry per app (tests build many apps). */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** Other threads of this process (the dispatch thread) whose series /metrics adds to this registry's. */
  readonly remote: Array<() => Promise<MetricObjectWithValues<MetricValue<string>>[]>> = [];
  readonly accepted = new Counter({ name: 'sms_messages_accepted_total', help: 'Messages accepted by the API', labelNames: ['provider', 'sms_type'], registers: [this.registry] });
  readonly sent = new Counter({ name: 'sms_messages_sent_total', help: 'Messages handed to a provider', labelNames: ['provider', 'sms_type'], registers: [this.registry] });
  readonly failed = new Counter({ name: 'sms_messages_failed_total', help: 'Messages that ended failed, undelivered or expired', labelNames: ['provider', 'sms_type', 'status'], registers: [this.registry] });
  readonly delivered = new Counter({ name: 'sms_messages_delivered_total', help: 'Messages reported delivered', labelNames: ['provider'], registers: [this.registry] });
  readonly sendRetries = new Counter({ name: 'sms_send_retries_total', help: 'Sends queued again for the same provider: after a transient error, or an interrupted send the provider never received', labelNames: ['provider'], registers: [this.registry] });
  readonly dispatchSeconds = new Histogram({
    name: 'sms_dispatch_duration_seconds', help: 'Time a provider took to answer a send', labelNames: ['provider'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  readonly queueWaitSeconds = new Histogram({
    name: 'sms_queue_wait_seconds', help: 'Time from due to handed to a provider', labelNames: ['provider'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300], registers: [this.registry],
  });
  readonly httpSeconds = new Histogram({
    name: 'http_request_duration_seconds', help: 'API latency', labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [this.registry],
  });
  readonly circuitChanges = new Counter({ name: 'sms_provider_circuit_changes_total', help: 'Circuit breaker state changes, by provider and new state', labelNames: ['provider', 'to'], registers: [this.registry] });
  readonly sendAttempts = new Counter({ name: 'sms_send_attempts_total', help: 'Send attempts by provider and outcome (accepted, rejected, retry, unknown)', labelNames: ['provider', 'outcome'], registers: [this.registry] });
  readonly failovers = new Counter({ name: 'sms_failovers_total', help: 'Messages moved to the next provider of their route', labelNames: ['from', 'to'], registers: [this.registry] });
  readonly otpPumpingThrottled = new Counter({
    name: 'sms_otp_pumping_throttled_total', help: 'OTPs refused because their country is throttled for suspected SMS pumping', labelNames: ['country'], registers: [this.registry],
  });
  /** Countries the OTP pumping guard throttles now; whoever keeps the guard says how to read it. */
  throttledCountries: () => number = () => 0;
  readonly callbacks = new Counter({ name: 'sms_callbacks_total', help: 'Status callback attempts by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly retentionPurged = new Counter({ name: 'sms_retention_purged_total', help: 'Rows deleted by MESSAGE_RETENTION_DAYS and AUDIT_RETENTION_DAYS, by kind (message, batch, otp_session, inbound, audit)', labelNames: ['kind'], registers: [this.registry] });

  constructor(queueDepth: () => Promise<Record<string, number>>) {
    collectDefaultMetrics({ register: this.registry });
    const metrics = this;
    new Gauge({
      name: 'sms_otp_pumping_throttled_countries', help: 'Countries whose OTPs are throttled for suspected SMS pumping', registers: [this.registry],
      collect() {
        this.set(metrics.throttledCountries());
      },
    });
    new Gauge({
      name: 'sms_queue_depth', help: 'Messages waiting, by status (from the running totals at scrape time)', labelNames: ['status'], registers: [this.registry],
      // Every thread counts the same table: merged, one count, not their sum.
      aggregator: 'max',
      async collect() {
        const depth = await queueDepth();
        for (const [status, n] of Object.entries(depth)) this.set({ status }, n);
      },
    });
  }

  /** Providers that hold connections (SMPP binds): how many are in each state, and how often they were lost. */
  watchProviderConnections(read: () => Array<{ provider: string; states: string[]; reconnects: number }>): void {
    new Gauge({
      name: 'sms_provider_connections', help: 'Connections of providers that hold them (SMPP binds), by state: bound, connecting, waiting (to reconnect), closed',
      labelNames: ['provider', 'state'], registers: [this.registry],
      collect() {
        this.reset();
        for (const { provider, states } of read()) {
          for (const state of ['bound', 'connecting', 'waiting', 'closed']) this.set({ provider, state }, states.filter((s) => s === state).length);
        }
      },
    });
    new Gauge({
      name: 'sms_provider_reconnects', help: 'Connections (SMPP binds) lost or refused since the process started, each followed by a new attempt',
      labelNames: ['provider'], registers: [this.registry],
      collect() {
        for (const { provider, reconnects } of read()) this.set({ provider }, reconnects);
      },
    });
  }

  /** 1 while limits are shared through Redis, 0 while Redis is away (limits per process); absent without REDIS_URL. */
  watchSharedCounters(status: () => 'off' | 'ok' | 'unavailable'): void {
    new Gauge({
      name: 'sms_shared_limits_up', help: '1 when rate limits are shared through Redis, 0 when each process enforces them alone', registers: [this.registry],
      aggregator: 'min',
      collect() {
        const now = status();
        if (now !== 'off') this.set(now === 'ok' ? 1 : 0);
      },
    });
  }

  /** The exposition text: this registry's series, with the other threads' added (counters summed). */
  async text(): Promise<string> {
    if (this.remote.length === 0) return this.registry.metrics();
    const others = await Promise.all(this.remote.map((read) => read()));
    // Process figures are the process's, already here; a thread's event-loop figures would be summed into nonsense.
    const own = others.map((metrics) => metrics.filter((m) => !m.name.startsWith('process_') && !m.name.startsWith('nodejs_')));
    return AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), ...own]).metrics();
  }
}
