import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { normalisePhone } from '../../domain/phone.js';
import type { Services } from '../../services/container.js';
import { GUARDED, OutboxEntry, Page, problems } from '../reply-schemas.js';
import { Offset } from '../schemas.js';

/** What the simulated phones received, OTP codes included: the only place a code can be read. */
export const simulatorRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  // It holds every code in clear: `read` at least, like the messages themselves.
  app.get('/api/simulator/outbox', {
    config: { scope: 'read' },
    schema: {
      tags: ['simulator'], summary: 'Messages the simulator "delivered", newest first',
      querystring: Type.Object({
        to: Type.Optional(Type.String()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        offset: Type.Optional(Offset),
      }),
      response: { 200: Page(OutboxEntry, 'What the simulator "delivered", newest first'), ...problems(...GUARDED, 422) },
    },
  }, async (request) => {
    const { to, limit = 50, offset = 0 } = request.query;
    let number = to;
    if (to) {
      const parsed = normalisePhone(to, services.config.defaultCountry, 'format');
      if (parsed.ok) number = parsed.phone.e164;
    }
    const { items, total } = await services.simulatorOutbox!.list(number, limit, offset);
    return {
      items: items.map((i) => ({
        id: i.id, message_id: i.message_id, to: i.to_number, from: i.from_number, body: i.body, encoding: i.encoding, segments: i.segments,
        accepted_at: new Date(i.accepted_at).toISOString(), delivery_status: i.reported_at === null ? 'pending' : i.report_status,
      })),
      total, limit, offset,
    };
  });
};
