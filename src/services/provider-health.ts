import type { CircuitState } from '../domain/circuit-breaker.js';
import type { ProviderConnections } from '../providers/provider.js';
import type { ProviderRouter } from '../providers/routing/provider-router.js';

/** How an enabled provider is doing, as seen by the thread that sends to it. */
export interface ProviderHealth {
  circuit: CircuitState;
  recent: { attempts: number; success_rate: number | null; p50_ms: number | null };
  connections?: ProviderConnections;
}

/** This thread's view of every enabled provider, by name. */
export function providerHealth(router: ProviderRouter, now = Date.now()): Record<string, ProviderHealth> {
  const health: Record<string, ProviderHealth> = {};
  for (const provider of router.all()) {
    const connections = provider.connections?.();
    health[provider.name] = {
      circuit: router.breaker(provider.name).state(now),
      recent: router.recent(provider.name).summary(),
      ...(connections ? { connections } : {}),
    };
  }
  return health;
}
