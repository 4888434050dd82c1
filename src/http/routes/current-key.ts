import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { accountSid, OPERATOR, SCOPES } from '../../domain/api-keys.js';
import { UnauthorizedError } from '../../domain/errors.js';
import type { Services } from '../../services/container.js';
import { presentedCredentials } from '../auth.js';
import { problems } from '../reply-schemas.js';

const CurrentKey = Type.Object({
  key_id: Type.Union([Type.String(), Type.Null()], { description: 'null: no key, and API_KEY_REQUIRED=false (the operator)' }),
  account_sid: Type.Union([Type.String(), Type.Null()]),
  scopes: Type.Array(Type.Enum(SCOPES, { type: 'string' })),
}, { description: 'Who the credentials stand for' });

/**
 * `GET /api/keys/current`: the scopes of the key the request carries, so a client (the dashboard)
 * can offer only what the key may do. Any valid key may ask about itself, whatever its scopes,
 * which is why this route has no `scope` and checks the credentials itself.
 */
export const currentKeyRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/api/keys/current', {
    schema: { tags: ['keys'], summary: 'The key this request is made with, and its scopes', response: { 200: CurrentKey, ...problems(401, 429) } },
  }, async (request) => {
    const presented = presentedCredentials(request);
    if (presented === undefined) {
      if (services.config.apiKeyRequired) throw new UnauthorizedError('an API key is required: Authorization: Bearer <key> or X-API-Key');
      return { key_id: null, account_sid: null, scopes: [...OPERATOR.scopes] };
    }
    const caller = presented.key.length > 200 ? undefined : await services.keys.authenticate(presented.key);
    if (!caller || caller.keyId === null) throw new UnauthorizedError('the API key is unknown or revoked');
    if (presented.accountSid !== undefined && presented.accountSid !== accountSid(caller.keyId)) {
      throw new UnauthorizedError('the account SID is not the one of this key');
    }
    return { key_id: caller.keyId, account_sid: accountSid(caller.keyId), scopes: [...caller.scopes] };
  });
};
