import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../services/container.js';
import { GUARDED, problems, Stats } from '../reply-schemas.js';
import { StatsQuery } from '../schemas.js';

export const analyticsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/api/analytics/stats', { config: { scope: 'read' }, schema: { tags: ['analytics'], summary: 'Delivery, cost and OTP statistics', querystring: StatsQuery, response: { 200: Stats, ...problems(...GUARDED, 422) } } }, async (request) =>
    services.analytics.stats(request.query));
};
