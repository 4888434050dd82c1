import { sql, type Kysely } from 'kysely';
import { PROVIDER_NAMES, type Config } from '../config.js';
import { processLog } from '../logging.js';
import { GatewayMetrics } from '../metrics.js';
import { setUpProviders, type ProviderSetup } from '../providers/registry.js';
import { ProviderEventRelay } from '../providers/provider-events.js';
import { SmppAccountService } from '../smpp-server/account-service.js';
import { localBudgets, ProviderRouter } from '../providers/routing/provider-router.js';
import { loadRoutingFile } from '../providers/routing/routing-file.js';
import { SimulatorProvider } from '../providers/simulator.js';
import { AnalyticsService } from './analytics-service.js';
import { ApiKeyService } from './api-key-service.js';
import { BatchService } from './batch-service.js';
import { CallbackService } from './callback-service.js';
import { InboundService } from './inbound-service.js';
import { MessageService } from './message-service.js';
import { OptOutService } from './opt-out-service.js';
import { OtpService } from './otp-service.js';
import { OptOutPolicy } from './policies/opt-out-policy.js';
import { DestinationRules } from './policies/destination-rules.js';
import { PerNumberCap } from './policies/per-number-cap.js';
import { PumpingGuardPolicy } from './policies/pumping-guard-policy.js';
import { PumpingGuard } from '../domain/pumping-guard.js';
import { TemplateService } from './template-service.js';
import { RecipientPolicies } from './recipient-policy.js';
import { SendService } from './send-service.js';
import { SharedBudget } from './shared-budget.js';
import { SharedCircuits } from './shared-circuits.js';
import { SharedPumpingCounts } from './shared-pumping-counts.js';
import { Retention } from './retention.js';
import { providerHealth, type ProviderHealth } from './provider-health.js';
import { SharedCounters } from './shared-counters.js';
import { createWakeUps, type WakeUps } from './wake-ups.js';
import { SimulatorReports } from './simulator-reports.js';
import { SimulatorOutboxTrim } from './simulator-outbox-trim.js';
import { IdempotencyPurge } from './idempotency-purge.js';
import { StatusService } from './status-service.js';
import { createStore, type SharedWriteTurn, type Store } from '../store/database.js';
import { openReadDb } from '../store/read-thread/dialect.js';
import type { Database } from '../store/schema.js';
import { GroupCommit } from '../store/group-commit.js';
import { loadGatewayKeys, messageKeyRingFromFile } from '../store/key-file.js';
import { FieldCipher } from '../domain/field-cipher.js';
import { storedByStatus } from '../store/message-totals.js';
import { migrate } from '../store/migrations.js';
import { SimulatorOutboxStore } from '../store/simulator-outbox-store.js';
import { Dispatcher } from '../worker.js';
import { TwilioMessageApi } from '../twilio-compat/message-api.js';
import { TwilioVerifyApi } from '../twilio-compat/verify-api.js';

/** Segments per second above which a provider's budget stays per process even with Redis. */
const UNSHARED_BUDGET_ABOVE = 10_000;

/**
 * Everything the routes and the worker use, built once from the config. It knows nothing of
 * HTTP: `npm run worker` builds this alone, and the API wraps it (src/gateway.ts).
 */
export interface Services {
  config: Config;
  store: Store;
  /** Heavy reads (message log, batches, analytics): on a SQLite file read-only connections on threads of their own (src/store/read-thread/), else `store.db`. */
  readDb: Kysely<Database>;
  commits: GroupCommit;
  metrics: GatewayMetrics;
  router: ProviderRouter;
  send: SendService;
  messages: MessageService;
  batches: BatchService;
  status: StatusService;
  analytics: AnalyticsService;
  templates: TemplateService;
  otp: OtpService;
  callbacks: CallbackService;
  dispatcher: Dispatcher;
  simulator: SimulatorProvider | undefined;
  simulatorOutbox: SimulatorOutboxStore | undefined;
  simulatorReports: SimulatorReports | undefined;
  /** SIMULATOR_OUTBOX_KEEP (not 0): the outbox kept to its newest entries. */
  simulatorOutboxTrim: SimulatorOutboxTrim | undefined;
  idempotencyPurge: IdempotencyPurge;
  keys: ApiKeyService;
  optOuts: OptOutService;
  inbound: InboundService;
  /** Logins of ESMEs binding to the SMPP server (SMPP_SERVER_PORT). */
  smppAccounts: SmppAccountService;
  /** New work announced to every dispatcher (in process, PostgreSQL NOTIFY or Redis pub/sub). */
  wakeUps: WakeUps;
  /** The counters behind API limits and per-number caps: Redis when configured, else this process's memory. */
  sharedCounters: SharedCounters;
  /** Circuit breakers kept in step between processes through Redis; undefined without REDIS_URL. */
  sharedCircuits: SharedCircuits | undefined;
  /** MESSAGE_RETENTION_DAYS's and AUDIT_RETENTION_DAYS's purge; undefined when everything is kept. */
  retention: Retention | undefined;
  /** The OTP pumping guard's counts shared between API processes through Redis; undefined without REDIS_URL. */
  sharedPumping: SharedPumpingCounts | undefined;
  /** Seals and opens stored message texts and metadata. */
  cipher: FieldCipher;
  /** The Twilio-compatible API (Messages, Verify) over the services above. */
  twilioMessages: TwilioMessageApi;
  twilioVerify: TwilioVerifyApi;
  readiness(): Promise<Record<string, string>>;
  /** Each enabled provider's circuit, recent outcomes and connections, from the thread that sends (the gateway points this at its dispatch thread). */
  providerHealth(): Promise<Record<string, ProviderHealth>>;
  /** What the operator should know at start (unauthenticated reports, a changed key). */
  startupWarnings: string[];
}

/** `sharedTurn`: on a dispatch thread, the write turn of the main thread's store (see WriteTurn). */
export async function createServices(config: Config, sharedTurn?: SharedWriteTurn): Promise<Services> {
  const store = createStore(config.databaseUrl, config.sqliteDurability, config.databasePool, sharedTurn);
  try {
    return await wireServices(config, store);
  } catch (err) {
    // A bad provider setting or routing file stops the start: leave no connection behind.
    await store.close();
    throw err;
  }
}

async function wireServices(config: Config, store: Store): Promise<Services> {
  await migrate(store.db, store.dialect);
  const { db, dialect } = store;
  const readDb = openReadDb(config.databaseUrl, store);
  const commits = new GroupCommit(db, dialect, store.walSync, store.writeTurn);
  const metrics = new GatewayMetrics(() => storedByStatus(db, ['scheduled', 'queued', 'sending']));

  const { keys, warnings } = await loadGatewayKeys(db, {
    otpHashKey: config.otp.hashKey, messageEncryptionKey: config.messageEncryptionKey, previousMessageKeys: config.previousMessageEncryptionKeys,
  }, config.keysFile);
  const otpKey = keys.otpHashKey;
  const fromKeyFile = config.messageEncryptionKey === undefined;
  // After `npm run keys -- rotate` the key file names a new key: values sealed under it are opened by reloading the file.
  const cipher = new FieldCipher({ current: keys.messageEncryptionKey, previous: keys.previousMessageKeys },
    fromKeyFile ? () => messageKeyRingFromFile(config.keysFile) : undefined);
  if (fromKeyFile) warnings.push(`MESSAGE_ENCRYPTION_KEY is not set: message texts and metadata are encrypted with a key generated into ${config.keysFile}; back that file up`);

  // Providers that hear reports on their own connections (SMPP) hand them here once the services below exist.
  const providerEvents = new ProviderEventRelay();
  const setups: ProviderSetup[] = setUpProviders(config.providerEnv, { fetch: globalThis.fetch, events: providerEvents });
  let simulator: SimulatorProvider | undefined;
  let simulatorOutbox: SimulatorOutboxStore | undefined;
  if (config.simulator.enabled) {
    simulatorOutbox = new SimulatorOutboxStore(db, commits, cipher);
    simulator = new SimulatorProvider(simulatorOutbox, { ...config.simulator, webhookSecret: config.webhookSecret });
    // No network behind it: unlimited unless SIMULATOR_MAX_PER_SECOND says otherwise.
    setups.push({ name: 'simulator', enabled: true, provider: simulator, defaultMaxPerSecond: 1_000_000 });
  } else {
    setups.push({ name: 'simulator', enabled: false, missing: ['SIMULATOR_ENABLED=true'], defaultMaxPerSecond: 1_000_000 });
  }
  const routing = config.routingFile ? loadRoutingFile(config.routingFile, PROVIDER_NAMES) : undefined;
  // API limits, per-number caps and provider budgets: shared through Redis when configured.
  const sharedCounters = new SharedCounters(config.redisUrl, config.redisPrefix);
  // Or the first sends of a starting worker would be counted in its memory alone.
  await sharedCounters.connected();
  let router: ProviderRouter;
  let sharedCircuits: SharedCircuits | undefined;
  try {
    router = new ProviderRouter(setups, {
      defaultProvider: config.defaultProvider, routing, prices: config.prices, budgets: config.providerBudgets,
      circuit: config.circuit,
      // A budget this high (the simulator's unlimited one) protects nothing worth a Redis round trip per send.
      budgetFactory: config.redisUrl
        ? (provider, perSecond) => (perSecond > UNSHARED_BUDGET_ABOVE ? localBudgets(provider, perSecond) : new SharedBudget(provider, perSecond, sharedCounters))
        : undefined,
      onCircuitChange: (provider, from, to, origin) => {
        metrics.circuitChanges.inc({ provider, to });
        processLog.warn(`circuit of provider ${provider}: ${from} -> ${to}${origin === 'shared' ? ' (another process\'s breaker)' : ''}`);
        // Time moves a circuit to half_open in every process alike; openings and closings are news.
        if (origin === 'local' && to !== 'half_open') sharedCircuits?.announce(provider, to, router.breaker(provider).openedSince);
      },
    });
  } catch (err) {
    // A bad DEFAULT_PROVIDER stops the start: leave no Redis connection behind.
    await sharedCounters.close();
    throw err;
  }
  if (sharedCounters.redis) sharedCircuits = new SharedCircuits(sharedCounters.redis, router.breakers(), config.circuit.coolDownMs, config.redisPrefix);
  const status = new StatusService(commits, metrics);
  if (!config.webhookSecret) {
    warnings.push('WEBHOOK_SECRET is not set: POST /api/sms/{id}/webhook accepts unauthenticated delivery reports, and callbacks go out unsigned');
  }
  const templates = new TemplateService(db, commits);
  const sharedPumping = sharedCounters.redis ? new SharedPumpingCounts(sharedCounters.redis, config.redisPrefix) : undefined;
  const pumping = new PumpingGuard(config.otp.pumping, sharedPumping?.record);
  sharedPumping?.attach(pumping);
  // Refusals first, the counting cap last: a recipient refused for another reason uses up no hour.
  metrics.watchSharedCounters(() => sharedCounters.status());
  const policies = new RecipientPolicies([
    new DestinationRules(config), new OptOutPolicy(db), new PumpingGuardPolicy(pumping, metrics), new PerNumberCap(config.maxSmsPerNumberPerHour, sharedCounters.factory),
  ]);
  const wakeUps = createWakeUps(config.databaseUrl, config.redisUrl, config.redisPrefix);
  const send = new SendService(config, db, commits, router, metrics, templates, cipher, policies, wakeUps);
  const otp = new OtpService(config, db, commits, send, templates, otpKey, cipher, pumping, readDb);
  const messages = new MessageService(config, db, commits, cipher, readDb);
  const services: Services = {
    config, store, readDb, commits, metrics, router, status, simulator, simulatorOutbox, send, templates, otp, startupWarnings: warnings, cipher, wakeUps, sharedCounters, sharedCircuits, sharedPumping,
    keys: new ApiKeyService(db, otpKey),
    optOuts: new OptOutService(config, readDb, commits),
    inbound: new InboundService(config, readDb, commits, cipher),
    smppAccounts: new SmppAccountService(db, otpKey),
    messages,
    twilioMessages: new TwilioMessageApi(config, db, commits, send, messages, cipher),
    twilioVerify: new TwilioVerifyApi(config, db, commits, otp),
    batches: new BatchService(readDb, commits),
    analytics: new AnalyticsService(readDb, (from, to) => otp.stats(from, to)),
    callbacks: new CallbackService(config, db, dialect, commits, metrics, cipher),
    dispatcher: new Dispatcher({ config, dialect, commits, router, metrics, cipher, status, wakeUps }),
    simulatorReports: simulator && simulatorOutbox ? new SimulatorReports(simulator, simulatorOutbox, status, commits) : undefined,
    simulatorOutboxTrim: simulatorOutbox && config.simulator.outboxKeep > 0 ? new SimulatorOutboxTrim(db, commits, config.simulator.outboxKeep) : undefined,
    retention: config.retention ? new Retention(config.retention, commits, metrics) : undefined,
    idempotencyPurge: new IdempotencyPurge(commits),
    providerHealth: async () => providerHealth(router),
    async readiness() {
      const checks: Record<string, string> = {};
      try {
        await sql`select 1`.execute(db);
        checks.database = 'ok';
        checks.queue = 'ok';
        // Not a reason to be unready: limits carry on per process while Redis is away.
        checks.shared_limits = sharedCounters.status() === 'unavailable' ? 'ok, degraded: Redis unavailable, each process enforces limits alone' : 'ok';
      } catch (err) {
        checks.database = (err as Error).message;
        checks.queue = 'unavailable: the queue lives in the database';
      }
      return checks;
    },
  };
  providerEvents.connect({
    statusReports: async (provider, reports) => {
      const outcomes = await services.status.applyProviderReports(provider, reports);
      return { kept: outcomes.filter((o) => o.message_id === null && o.provider_message_id !== null).map((o) => o.provider_message_id!) };
    },
    applyKept: (provider, ids) => services.commits.run((trx) => services.status.applyEarlyReports(trx, provider, ids)),
    inbound: async (provider, sms) => void await services.inbound.recordFromProvider(provider, sms),
  });
  metrics.watchProviderConnections(() => router.all().flatMap((p) => {
    const state = p.connections?.();
    return state ? [{ provider: p.name, states: state.connections.map((c) => c.state), reconnects: state.reconnects }] : [];
  }));
  return services;
}

/** The background loops: dispatch, status callbacks, the simulator's delivery reports and outbox trim, retention, the idempotency keys' purge. */
export function startWorkers(services: Services): void {
  // Providers holding connections (SMPP binds) connect where messages are dispatched.
  for (const provider of services.router.all()) provider.start?.();
  services.dispatcher.start();
  services.callbacks.start();
  services.simulatorReports?.start();
  services.simulatorOutboxTrim?.start();
  services.retention?.start();
  services.idempotencyPurge.start();
}

/**
 * Stops the background loops: nothing new is claimed, sends in flight finish and are stored. Waits
 * at most `deadlineMs` (SHUTDOWN_TIMEOUT_SECONDS); returns false when work was still in flight then,
 * which lease recovery takes over, as after a crash.
 */
export async function stopWorkers(services: Services, deadlineMs = services.config.shutdownTimeoutSeconds * 1000): Promise<boolean> {
  const stopped = Promise.all([services.dispatcher.stop(), services.callbacks.stop(), services.simulatorReports?.stop(), services.simulatorOutboxTrim?.stop(), services.retention?.stop(), services.idempotencyPurge.stop()]).then(() => true);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), deadlineMs); });
  const inTime = await Promise.race([stopped, deadline]);
  clearTimeout(timer);
  // After the sends in flight: their answers come on these connections.
  await Promise.all(services.router.all().map((provider) => provider.stop?.()));
  if (!inTime) processLog.warn(`work still in flight after SHUTDOWN_TIMEOUT_SECONDS (${deadlineMs / 1000} s): its claims are recovered after their lease`);
  return inTime;
}

/** Closes every connection the services hold (after `stopWorkers`): Redis clients, then the database. */
export async function closeServices(services: Services): Promise<void> {
  // Circuits and pumping counts first: they use the counters' connection, which that close ends.
  await Promise.allSettled([services.wakeUps.close(), services.sharedCircuits?.close(), services.sharedPumping?.close()]);
  await services.sharedCounters.close();
  if (services.readDb !== services.store.db) await services.readDb.destroy();
  await services.store.close();
}
