import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { SCOPES } from '../../domain/api-keys.js';
import type { Services } from '../../services/container.js';
import { MAX_PASSWORD_LENGTH, MAX_SYSTEM_ID_LENGTH } from '../../smpp-server/account-service.js';
import { GUARDED, NoContent, problems, WITH_BODY } from '../reply-schemas.js';
import { IdParams } from '../schemas.js';

const CreateAccount = Type.Object({
  system_id: Type.String({ minLength: 1, maxLength: MAX_SYSTEM_ID_LENGTH, pattern: '^[!-~]+$', description: 'printable ASCII, no spaces' }),
  password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH, pattern: '^[ -~]+$', description: 'SMPP 3.4 passwords are at most 8 characters' }),
  throughput_per_second: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'submits per second over all its binds; past it ESME_RTHROTTLED (default 100)' })),
  max_binds: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'binds it may hold at once (default 4)' })),
  scopes: Type.Optional(Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), { minItems: 1, maxItems: SCOPES.length, description: 'default ["sms:send"]; submitting needs sms:send' })),
}, { additionalProperties: false });

const AccountView = Type.Object({
  system_id: Type.String(),
  throughput_per_second: Type.Integer(),
  max_binds: Type.Integer(),
  scopes: Type.Array(Type.String()),
  created_at: Type.String({ description: 'ISO 8601 UTC' }),
}, { description: 'An SMPP account (never its password)' });

/** SMPP accounts for ESMEs binding to SMPP_SERVER_PORT. Admin only; the password is never shown again. */
export const smppAccountRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const config = { scope: 'admin' as const };
  const params = IdParams('system_id');
  app.post('/api/smpp/accounts', { config, schema: { tags: ['smpp'], summary: 'Create an SMPP account for an ESME', body: CreateAccount, response: { 201: AccountView, ...problems(...GUARDED, ...WITH_BODY, 409) } } }, async (request, reply) =>
    reply.code(201).send(await services.smppAccounts.create(request.body)));
  app.get('/api/smpp/accounts', { config, schema: { tags: ['smpp'], summary: 'SMPP accounts', response: { 200: Type.Object({ items: Type.Array(AccountView) }), ...problems(...GUARDED) } } }, async () =>
    services.smppAccounts.list());
  app.get('/api/smpp/accounts/:system_id', { config, schema: { tags: ['smpp'], summary: 'One SMPP account', params, response: { 200: AccountView, ...problems(...GUARDED, 404, 422) } } }, async (request) =>
    services.smppAccounts.get(request.params.system_id));
  app.delete('/api/smpp/accounts/:system_id', { config, schema: { tags: ['smpp'], summary: 'Delete an SMPP account (its binds are closed within seconds)', params, response: { 204: NoContent('Deleted'), ...problems(...GUARDED, 404, 422) } } }, async (request, reply) => {
    await services.smppAccounts.delete(request.params.system_id);
    return reply.code(204).send();
  });
};
