import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { NotFoundError } from '../../domain/errors.js';
import type { Services } from '../../services/container.js';
import { webhookRequest } from '../webhook-request.js';
import { BODY_LIMITS } from '../body-limits.js';
import { GUARDED, InboundReceipt, InboundView, Page, problems, WITH_BODY } from '../reply-schemas.js';
import { IdParams, Offset, ProviderSchema } from '../schemas.js';

const RecordInbound = Type.Object({
  from: Type.String({ minLength: 1, maxLength: 32 }),
  to: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  // Empty is possible: a picture message without words.
  text: Type.String({ maxLength: 10_000 }),
  provider: Type.Optional(ProviderSchema),
});

const ListInbound = Type.Object({
  from: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  offset: Type.Optional(Offset),
});

/**
 * Twilio and Plivo read the answer as instructions (TwiML, Plivo XML); an empty Response means
 * "no reply" (https://www.twilio.com/docs/usage/webhooks/messaging-webhooks,
 * https://www.plivo.com/docs/messaging/xml/request/messages). Vonage only needs a 2xx.
 */
const XML_REPLY = new Set(['twilio', 'plivo']);
const EMPTY_RESPONSE = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

export const inboundRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { inbound } = services;

  app.post('/api/inbound', { config: { scope: 'sms:send' }, schema: { tags: ['inbound'], summary: 'Record an inbound message; STOP/START keywords opt the sender out or in', body: RecordInbound, response: { 201: InboundView, ...problems(...GUARDED, ...WITH_BODY) } } }, async (request, reply) =>
    reply.code(201).send(await inbound.recordGeneric(request.body)));

  app.get('/api/inbound', { config: { scope: 'read' }, schema: { tags: ['inbound'], summary: 'Inbound messages, newest first', querystring: ListInbound, response: { 200: Page(InboundView, 'Inbound messages, newest first'), ...problems(...GUARDED, 422) } } }, async (request) =>
    inbound.list(request.query));

  const providerInbound = async (request: FastifyRequest<{ Params: { provider: string } }>, reply: FastifyReply) => {
    const provider = services.router.get(request.params.provider);
    // Like delivery reports: a provider without credentials, or without an inbound format, takes nothing.
    if (!provider) throw new NotFoundError('enabled provider', request.params.provider);
    if (!provider.parseInbound) throw new NotFoundError('inbound message format of provider', provider.name);
    const messages = provider.parseInbound(webhookRequest(request, services.config.publicUrl));
    let stored = 0;
    for (const sms of messages) if (!(await inbound.recordFromProvider(provider.name, sms)).duplicate) stored++;
    if (XML_REPLY.has(provider.name)) return reply.type('application/xml').send(EMPTY_RESPONSE);
    return { received: messages.length, stored };
  };
  const options = {
    schema: {
      tags: ['webhooks'], summary: "Inbound messages in a provider's own format", params: IdParams('provider'),
      response: {
        // The XML is text as it is: only the JSON answer has a schema to serialise with.
        200: {
          description: 'Twilio and Plivo get an empty XML Response (no reply message); other providers a JSON receipt',
          content: { 'application/json': { schema: InboundReceipt }, 'application/xml': { schema: Type.String() } },
        },
        // Never rate limited, and open to providers without a key; 401 is a signature that does not match.
        ...problems(...WITH_BODY, 401, 404),
      },
    },
    config: { providerWebhook: true },
    bodyLimit: BODY_LIMITS.webhook,
  };
  app.post('/api/webhooks/:provider/inbound', options, providerInbound);
  // Twilio, Plivo and Vonage can each be set to call with GET.
  app.get('/api/webhooks/:provider/inbound', options, providerInbound);
};
