import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { BatchView, GUARDED, Page, problems } from '../reply-schemas.js';
import { Offset } from '../schemas.js';

const ListBatchesQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  offset: Type.Optional(Offset),
});

/**
 * `GET /api/sms/batches`: campaigns (`send-batch`), newest first, each as `GET /api/sms/batches/{id}`
 * shows it. A single `send` has a batch too, left out here: it is one message, seen in the message log.
 * A key sees its own campaigns; admin every one.
 */
export const batchListRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/api/sms/batches', {
    config: { scope: 'read' },
    schema: { tags: ['sms'], summary: 'Campaigns, newest first, with counts per status', querystring: ListBatchesQuery, response: { 200: Page(BatchView, 'Campaigns, newest first'), ...problems(...GUARDED, 422) } },
  }, async (request) => services.batches.list(request.query.limit ?? 20, request.query.offset ?? 0, request.caller));
};
