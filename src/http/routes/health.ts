import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { sendProblem } from '../problem.js';
import { oneOf, problems } from '../reply-schemas.js';

export const healthRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/health', { schema: { tags: ['health'], summary: 'The process is up', response: { 200: Type.Object({ status: oneOf(['ok']) }, { description: 'Up' }) } } }, async () => ({ status: 'ok' }));

  app.get('/ready', {
    schema: {
      tags: ['health'], summary: 'Database and queue reachable',
      response: {
        200: Type.Object({ status: oneOf(['ready']), checks: Type.Record(Type.String(), Type.String(), { description: 'each check: ok' }) }, { description: 'Ready' }),
        ...problems(503),
      },
    },
  }, async (_request, reply) => {
    const checks = await services.readiness();
    const ready = Object.values(checks).every((c) => c.startsWith('ok'));
    if (!ready) return sendProblem(reply, 503, 'Not ready', Object.entries(checks).map(([k, v]) => `${k}: ${v}`).join('; '));
    return { status: 'ready', checks };
  });

  app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    reply.type(services.metrics.registry.contentType);
    return services.metrics.text();
  });
};
