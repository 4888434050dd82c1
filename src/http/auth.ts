import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasScope, OPERATOR, type Caller, type Scope } from '../domain/api-keys.js';
import { AppError, UnauthorizedError } from '../domain/errors.js';
import type { ApiKeyService } from '../services/api-key-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; set before any route with a `scope` runs. */
    caller: Caller;
  }
  interface FastifyContextConfig {
    /** The scope a key needs for this route; routes without one (health, docs, provider webhooks) are open. */
    scope?: Scope;
  }
}

export class ForbiddenError extends AppError {
  constructor(detail: string) {
    super(403, 'Forbidden', detail);
  }
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`; Basic auth is left to the routes that speak it. */
function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && /^bearer\s+/i.test(header)) return header.replace(/^bearer\s+/i, '').trim();
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
}

/**
 * Decides who calls each route that declares a scope: a valid key (401 when unknown or revoked,
 * 403 without the scope), or with `API_KEY_REQUIRED=false` and no key, the operator. A key
 * given while keys are optional is still checked, so a client learns of a bad key at once.
 */
export const authentication = fp<{ keys: ApiKeyService; required: boolean }>(async (app: FastifyInstance, { keys, required }) => {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (request) => {
    const scope = request.routeOptions.config?.scope;
    if (scope === undefined) return;
    const key = presentedKey(request);
    if (key === undefined) {
      if (required) throw new UnauthorizedError('an API key is required: Authorization: Bearer <key> or X-API-Key');
      request.caller = OPERATOR;
      return;
    }
    const caller = key.length > 200 ? undefined : await keys.authenticate(key);
    if (!caller) throw new UnauthorizedError('the API key is unknown or revoked');
    // Set before the scope check: a refused call is audited under the key that made it.
    request.caller = caller;
    if (!hasScope(caller, scope)) throw new ForbiddenError(`this key lacks the ${scope} scope`);
  });
});
