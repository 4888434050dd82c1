import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { GUARDED, problems } from '../reply-schemas.js';

const PriceTableReply = Type.Object({
  currency: Type.String(),
  providers: Type.Record(Type.String(), Type.Record(Type.String(), Type.Number()), { description: 'price per segment by provider, then by country (ISO 3166 alpha-2, or `default`)' }),
}, { description: 'The price table (PRICE_TABLE_PATH) estimates are made from' });

/** The price table, so a client can show what a text will cost before sending it, computed as the gateway computes it. */
export const priceRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/api/prices', { config: { scope: 'read' }, schema: { tags: ['providers'], summary: 'Price per segment by provider and country', response: { 200: PriceTableReply, ...problems(...GUARDED) } } }, async () => ({
    currency: services.config.prices.currency,
    providers: services.config.prices.providers,
  }));
};
