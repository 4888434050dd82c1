import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ProviderConnections } from '../../providers/provider.js';
import type { Services } from '../../services/container.js';
import { GUARDED, problems, ProvidersReply } from '../reply-schemas.js';

function connectionsView(state: ProviderConnections | undefined) {
  if (!state) return {};
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    connections: {
      binds: state.connections.map((c) => ({ state: c.state, since: iso(c.since)!, last_error: c.lastError, next_attempt_at: iso(c.nextAttemptAt) })),
      reconnects: state.reconnects,
    },
  };
}

/** Every provider the gateway knows: enabled or what it lacks, what it can carry, and how it is doing. */
export const providerRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/api/providers', { config: { scope: 'read' }, schema: { tags: ['providers'], summary: 'Providers, their capabilities, circuit state, budget and recent health', response: { 200: ProvidersReply, ...problems(...GUARDED) } } }, async () => {
    const { router, config } = services;
    const health = await services.providerHealth();
    return {
      items: router.setups.map((setup) => {
        const common = { name: setup.name, enabled: setup.enabled, default: config.defaultProvider === setup.name };
        if (!setup.enabled) return { ...common, missing_variables: setup.missing, capabilities: null, circuit: null, budget_per_second: null, recent: null };
        const c = setup.provider.capabilities;
        return {
          ...common,
          capabilities: { message_types: c.messageTypes, delivery_reports: c.deliveryReports, unicode: c.unicode, max_parts: c.maxParts, lookup: c.lookup },
          circuit: health[setup.name]?.circuit ?? router.breaker(setup.name).state(Date.now()),
          budget_per_second: router.budgetPerSecond(setup.name),
          recent: health[setup.name]?.recent ?? router.recent(setup.name).summary(),
          ...connectionsView(health[setup.name]?.connections),
        };
      }),
    };
  });
};
