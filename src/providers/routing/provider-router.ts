import { ConfigError, type ProviderName } from '../../config.js';
import { CircuitBreaker, type CircuitChangeOrigin, type CircuitState } from '../../domain/circuit-breaker.js';
import { pricePerSegment, type PriceTable } from '../../domain/pricing.js';
import { LocalBudget, pacedBudget, type ProviderBudget } from '../../domain/rate-limit.js';
import type { SmsProvider } from '../provider.js';
import { RecentOutcomes } from '../recent-outcomes.js';
import type { ProviderSetup } from '../registry.js';
import { planRoute, type Destination, type RoutingFile } from './route-plan.js';

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

  constructor(readonly setups: readonly ProviderSetup[], private readonly settings: RouterSettings) {
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
    return new Set([...this.states].filter(([, s]) => s.breaker.state(now) === 'open').map(([name]) => name));
  }

  /**
   * The ordered providers a message may go to. Providers with an open circuit go last rather
   * than out: a message must still have somewhere to wait when every provider is down.
   */
  route(dest: Destination, requested: ProviderName | undefined, now = Date.now()): string[] {
    const descriptions = this.setups.map((s) => ({
      name: s.name, enabled: s.enabled, messageTypes: s.enabled ? s.provider.capabilities.messageTypes : [],
    }));
    const priceOf = (provider: string, country: string | undefined) =>
      this.settings.prices.providers[provider] ? pricePerSegment(this.settings.prices, provider, country) : undefined;
    const { providers } = planRoute(dest, requested, this.settings.routing, descriptions, this.settings.defaultProvider, priceOf);
    const down = this.unavailable(now);
    return [...providers.filter((p) => !down.has(p)), ...providers.filter((p) => down.has(p))];
  }

  private state(name: string): ProviderState {
    const state = this.states.get(name);
    if (!state) throw new Error(`provider ${name} is not enabled`);
    return state;
  }
}
