import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { GUARDED, NoContent, OptOutRecord, Page, problems, WITH_BODY } from '../reply-schemas.js';
import { Offset } from '../schemas.js';

const AddOptOut = Type.Object({
  number: Type.String({ minLength: 1, maxLength: 32, description: 'E.164, or national with DEFAULT_COUNTRY' }),
  reason: Type.Optional(Type.String({ maxLength: 500 })),
});

const ListOptOuts = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  offset: Type.Optional(Offset),
});

/** Numbers that get no promotional or marketing messages; STOP/START replies maintain the same list. */
export const optOutRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { optOuts } = services;

  app.get('/api/opt-outs', { config: { scope: 'read' }, schema: { tags: ['opt-outs'], summary: 'Opted-out numbers, newest first', querystring: ListOptOuts, response: { 200: Page(OptOutRecord, 'Opted-out numbers, newest first'), ...problems(...GUARDED, 422) } } }, async (request) =>
    optOuts.list(request.query));

  // Idempotent: 201 when the number is newly opted out, 200 with the record it already had.
  app.post('/api/opt-outs', {
    config: { scope: 'sms:send' },
    schema: {
      tags: ['opt-outs'], summary: 'Opt a number out of promotional and marketing messages', body: AddOptOut,
      response: { 201: OptOutRecord, 200: Type.Object(OptOutRecord.properties, { description: 'Already opted out: the record it had' }), ...problems(...GUARDED, ...WITH_BODY) },
    },
  }, async (request, reply) => {
    const { created, optOut } = await optOuts.add(request.body.number, request.body.reason);
    return reply.code(created ? 201 : 200).send(optOut);
  });

  app.delete('/api/opt-outs/:number', {
    config: { scope: 'sms:send' },
    schema: {
      tags: ['opt-outs'], summary: 'Opt a number back in (404 when it is not opted out)', params: Type.Object({ number: Type.String({ minLength: 1, maxLength: 32 }) }),
      response: { 204: NoContent('Opted back in'), ...problems(...GUARDED, 404, 422) },
    },
  }, async (request, reply) => {
    await optOuts.remove(request.params.number);
    return reply.code(204).send();
  });
};
