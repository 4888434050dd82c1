import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { accountSid, hasScope, OPERATOR, type Caller, type Scope } from '../domain/api-keys.js';
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

/**
 * `Authorization: Bearer <key>`, `X-API-Key: <key>`, or Twilio's `Authorization: Basic
 * base64(AccountSid:AuthToken)` with the key as the auth token (then `accountSid` is the SID it claims).
 */
export function presentedCredentials(request: FastifyRequest): { key: string; accountSid?: string } | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && /^bearer\s+/i.test(header)) return { key: header.replace(/^bearer\s+/i, '').trim() };
  if (typeof header === 'string' && /^basic\s+/i.test(header)) {
    const decoded = Buffer.from(header.replace(/^basic\s+/i, '').trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? { key: '', accountSid: decoded } : { key: decoded.slice(colon + 1), accountSid: decoded.slice(0, colon) };
  }
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? { key: apiKey } : undefined;
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
    const presented = presentedCredentials(request);
    if (presented === undefined) {
      if (required) throw new UnauthorizedError('an API key is required: Authorization: Bearer <key>, X-API-Key, or Basic <account SID>:<key>');
      request.caller = OPERATOR;
      return;
    }
    const caller = presented.key.length > 200 ? undefined : await keys.authenticate(presented.key);
    if (!caller) throw new UnauthorizedError('the API key is unknown or revoked');
    // A SID that is not the key's: the credentials do not hold together, so no key is credited with the call.
    if (presented.accountSid !== undefined && presented.accountSid !== accountSid(caller.keyId!)) {
      throw new UnauthorizedError('the account SID is not the one of this key (Basic credentials are the key\'s account_sid and the key)');
    }
    // Set before the scope check: a refused call is audited under the key that made it.
    request.caller = caller;
    if (!hasScope(caller, scope)) throw new ForbiddenError(`this key lacks the ${scope} scope`);
  });
});
