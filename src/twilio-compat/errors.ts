import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldError } from '../domain/errors.js';

/**
 * An error answered in Twilio's shape `{code, message, more_info, status}`, which twilio-node
 * turns into a RestException carrying `code`. Extends AppError so that, should one ever escape to
 * a native route, it is still a problem+json with the right status rather than a 500.
 */
export class TwilioError extends AppError {
  constructor(status: number, readonly code: number, message: string, headers: Record<string, string> = {}) {
    super(status, 'Twilio API error', message, [], headers);
  }
}

export function twilioErrorBody(status: number, code: number, message: string) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/** Which API's generic "invalid parameter" code a refusal without a better one gets. */
export type TwilioApi = 'messages' | 'verify';
const INVALID_PARAMETER: Record<TwilioApi, number> = { messages: 60701, verify: 60200 };

/** Which Twilio API a path belongs to, if any: their clients read Twilio's error shape, whatever refused the request. */
export function twilioApiOf(url: string): TwilioApi | undefined {
  if (/^\/2010-04-01(\/|\?|$)/.test(url)) return 'messages';
  if (/^\/v2(\/|\?|$)/.test(url)) return 'verify';
  return undefined;
}

export const invalidParameter = (api: TwilioApi, message: string) => new TwilioError(400, INVALID_PARAMETER[api], message);
export const notFound = (path: string) => new TwilioError(404, 20404, `The requested resource ${path} was not found`);

function fieldsText(errors: FieldError[], fallback: string): string {
  return errors.length > 0 ? errors.map((e) => `${e.field} ${e.message}`).join('; ') : fallback;
}

/**
 * Any error a Twilio route meets, in Twilio's terms: the services' own refusals are mapped
 * where they are called (they know which parameter failed); what reaches here unmapped is
 * authentication, scopes, rate limits, body limits and the unexpected.
 */
export function toTwilioError(error: FastifyError | Error, api: TwilioApi, path: string): TwilioError {
  if (error instanceof TwilioError) return error;
  if (error instanceof AppError) {
    switch (error.status) {
      case 401:
        return new TwilioError(401, 20003, `Authentication Error - ${error.message}`, { 'www-authenticate': 'Basic realm="Twilio API"', ...error.headers });
      case 403:
        return new TwilioError(403, 70051, `Authorization Failed - ${error.message}`, error.headers);
      case 404:
        return new TwilioError(404, 20404, `The requested resource ${path} was not found`, error.headers);
      case 429:
        return new TwilioError(429, 20429, `Too Many Requests - ${error.message}`, error.headers);
      case 413:
        return new TwilioError(413, INVALID_PARAMETER[api], error.message, error.headers);
      default:
        if (error.status < 500) return new TwilioError(400, INVALID_PARAMETER[api], fieldsText(error.errors, error.message), error.headers);
    }
  }
  const fastify = error as FastifyError;
  if (fastify.validation) return new TwilioError(400, INVALID_PARAMETER[api], error.message);
  const status = fastify.statusCode ?? 500;
  if (status >= 400 && status < 500) return new TwilioError(status, INVALID_PARAMETER[api], error.message);
  return new TwilioError(500, 20500, 'An internal server error has occurred');
}

/** The error handler of the Twilio-compatible routes: Twilio's JSON, never problem+json. */
export function twilioErrorHandler(api: TwilioApi) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = toTwilioError(error, api, request.url.split('?')[0]);
    if (mapped.status >= 500) request.log.error({ err: error }, 'unhandled error');
    for (const [name, value] of Object.entries(mapped.headers)) reply.header(name, value);
    return reply.code(mapped.status).type('application/json').send(twilioErrorBody(mapped.status, mapped.code, mapped.message));
  };
}
