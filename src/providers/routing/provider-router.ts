import { ConfigError, type ProviderName } from '../../config.js';
import { CircuitBreaker, type CircuitChangeOrigin, type CircuitState } from '../../domain/circuit-breaker.js';
import { pricePerSegment, type PriceTable } from '../../domain/pricing.js';
import { LocalBudget, pacedBudget, type ProviderBudget } from '../../domain/rate-limit.js';
import type { SmsProvider } from '../provider.js';
import { RecentOutcomes } from '../recent-outcomes.js';
import type { ProviderSetup } from '../registry.js';
import { planRoute, type Destination, type PriceOf, type ProviderDescription, type RoutingFile } from './route-plan.js';

export interface RouterSettings {
  defaultProvider: ProviderName | undefined;
  routing: RoutingFile | undefined;
  prices: PriceTable;
  /** `<PROVIDER>_MAX_PER_SECOND`, which wins over the routing file's budgets. */
  budgets: Partial<Record<ProviderName, number>>;
  circuit: { failureThreshold: number; coolDownMs: number };
  onCircuitChange?: (provider: string, from: CircuitState, to: CircuitState, origin: CircuitChangeOrigin) => void;
  /** Makes a provider's sending budget: this process's own unless given (shared through Redis by the container). */
  budgetFactory?: (provider: string, perSecond: number) => ProviderBudget;
}

/** Each process's own budget, paced (see `pacedBudget`). */
export const localBudgets = (_provider: string, perSecond: number): ProviderBudget => new LocalBudget(pacedBudget(perSecond, Date.now()));

/** What the dispatcher and the API keep per enabled provider. */
interface ProviderState {
  provider: SmsProvider;
  breaker: CircuitBreaker;
  budget: ProviderBudget;
  perSecond: number;
  recent: RecentOutcomes;
}

/**
 * The providers of this gateway: which are enabled, the route a message takes through them,
 * and each one's circuit breaker, sending budget and recent health.
 */
export class ProviderRouter {
  private readonly states = new Map<string, ProviderState>();
  /** What planRoute needs to know of each provider; the setups do not change once started. */
  private readonly descriptions: ProviderDescription[];
  private readonly priceOf: PriceOf;
  private readonly plans = new Map<string, readonly string[]>();

  constructor(readonly setups: readonly ProviderSetup[], private readonly settings: RouterSettings) {
    this.descriptions = setups.map((s) => ({ name: s.name, enabled: s.enabled, messageTypes: s.enabled ? s.provider.capabilities.messageTypes : [] }));
    this.priceOf = (provider, country) => (settings.prices.providers[provider] ? pricePerSegment(settings.prices, provider, country) : undefined);
    const makeBudget = settings.budgetFactory ?? localBudgets;
    for (const setup of setups) {
      if (!setup.enabled) continue;
      const perSecond = settings.budgets[setup.name] ?? settings.routing?.budgets[setup.name]?.per_second ?? setup.defaultMaxPerSecond;
      this.states.set(setup.name, {
        provider: setup.provider,
        breaker: new CircuitBreaker(settings.circuit, (from, to, origin) => settings.onCircuitChange?.(setup.name, from, to, origin)),
        budget: makeBudget(setup.name, perSecond),
        perSecond,
        recent: new RecentOutcomes(),
      });
    }
    const preferred = settings.defaultProvider;
    if (preferred !== undefined && !this.states.has(preferred)) {
      const setup = setups.find((s) => s.name === preferred);
      const missing = setup && !setup.enabled ? setup.missing.join(', ') : 'its settings';
      throw new ConfigError('DEFAULT_PROVIDER', `names ${preferred}, which is not enabled: set ${missing}`);
    }
  }

  get(name: string): SmsProvider | undefined {
    return this.states.get(name)?.provider;
  }

  all(): SmsProvider[] {
    return [...this.states.values()].map((s) => s.provider);
  }

  breaker(name: string): CircuitBreaker {
    return this.state(name).breaker;
  }

  /** Every enabled provider's breaker, by name. */
  breakers(): Map<string, CircuitBreaker> {
    return new Map([...this.states].map(([name, s]) => [name, s.breaker]));
  }

  budget(name: string): ProviderBudget {
    return this.state(name).budget;
  }

  budgetPerSecond(name: string): number | undefined {
    return this.states.get(name)?.perSecond;
  }

  recent(name: string): RecentOutcomes {
    return this.state(name).recent;
  }

  /** Providers whose circuit is open now: failover and routing go around them while another is available. */
  unavailable(now: number): Set<string> {
    const down = new Set<string>();
    for (const [name, s] of this.states) if (s.breaker.state(now) === 'open') down.add(name);
    return down;
  }

  /**
   * The ordered providers a message may go to. Providers with an open circuit go last rather
   * than out: a message must still have somewhere to wait when every provider is down.
   */
  route(dest: Destination, requested: ProviderName | undefined, now = Date.now()): readonly string[] {
    const providers = this.plan(dest, requested);
    if (providers.length === 1) return providers;
    const down = this.unavailable(now);
    if (down.size === 0) return providers;
    return [...providers.filter((p) => !down.has(p)), ...providers.filter((p) => down.has(p))];
  }

  /**
   * planRoute's answer. Without routing rules it depends only on the requested provider and the
   * message type, so it is worked out once per pair rather than for every recipient of every request.
   */
  private plan(dest: Destination, requested: ProviderName | undefined): readonly string[] {
    const key = this.settings.routing?.routes.length ? undefined : `${requested ?? ''} ${dest.messageType}`;
    const known = key === undefined ? undefined : this.plans.get(key);
    if (known) return known;
    // Throws for a provider or message type nothing can take: such answers are not kept.
    const { providers } = planRoute(dest, requested, this.settings.routing, this.descriptions, this.settings.defaultProvider, this.priceOf);
    if (key !== undefined) this.plans.set(key, providers);
    return providers;
  }

  private state(name: string): ProviderState {
    const state = this.states.get(name);
    if (!state) throw new Error(`provider ${name} is not enabled`);
    return state;
  }
}
