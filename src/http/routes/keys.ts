import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { SCOPES } from '../../domain/api-keys.js';
import type { Services } from '../../services/container.js';
import { ApiKeyList, ApiKeyView, CreatedApiKey, GUARDED, problems, WITH_BODY } from '../reply-schemas.js';
import { IdParams } from '../schemas.js';

const CreateKey = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  scopes: Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), { minItems: 1, maxItems: SCOPES.length }),
});

/** Admin only. The key itself is in the creation reply and nowhere else, ever. */
export const keyRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const config = { scope: 'admin' as const };
  app.post('/api/keys', { config, schema: { tags: ['keys'], summary: 'Create an API key (the key is shown once)', body: CreateKey, response: { 201: CreatedApiKey, ...problems(...GUARDED, ...WITH_BODY) } } }, async (request, reply) =>
    reply.code(201).send(await services.keys.create(request.body.name, request.body.scopes)));
  app.get('/api/keys', { config, schema: { tags: ['keys'], summary: 'API keys, never their secrets', response: { 200: ApiKeyList, ...problems(...GUARDED) } } }, async () => services.keys.list());
  app.delete('/api/keys/:key_id', { config, schema: { tags: ['keys'], summary: 'Revoke a key, at once in every process', params: IdParams('key_id'), response: { 200: ApiKeyView, ...problems(...GUARDED, 404, 422) } } }, async (request) =>
    services.keys.revoke(request.params.key_id));
};
