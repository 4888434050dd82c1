import type { FastifyRequest } from 'fastify';
import type { WebhookRequest } from '../providers/provider.js';

/** A provider's request as its parsers see it: the URL as the provider called (and signed) it, the raw body beside the parsed one. */
export function webhookRequest(request: FastifyRequest, publicUrl: string): WebhookRequest {
  return {
    url: `${publicUrl}${request.url}`,
    method: request.method === 'GET' ? 'GET' : 'POST',
    headers: request.headers,
    rawBody: request.rawBody ?? '',
    body: request.body,
    query: (request.query ?? {}) as Record<string, string>,
  };
}
