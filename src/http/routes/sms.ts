import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { BadRequestError, UnauthorizedError } from '../../domain/errors.js';
import { bodySignature, safeEqual } from '../../domain/signature.js';
import type { Services } from '../../services/container.js';
import { BODY_LIMITS, sendBodyLimit } from '../body-limits.js';
import {
  BatchCancelReply, BatchView, CallbackAttempts, GUARDED, MessageDetail, MessageView, MessagePage, problems, ReportOutcome, SendBatchReply, SendReply, WITH_BODY,
} from '../reply-schemas.js';
import { DeliveryReportBody, IdParams, ListSmsQuery, SendBatchBody, SendSmsBody } from '../schemas.js';

const idempotencyHeader = Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) });

export const smsRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { send, messages, batches, status, config } = services;
  const bodyLimit = sendBodyLimit(config.maxRecipientsPerRequest);

  app.post('/api/sms/send', {
    bodyLimit,
    config: { scope: 'sms:send' },
    schema: {
      tags: ['sms'], summary: 'Send one text to one or more recipients', body: SendSmsBody, headers: idempotencyHeader,
      // 409: the Idempotency-Key was used with another request.
      response: { 200: SendReply, ...problems(...GUARDED, ...WITH_BODY, 409) },
    },
  }, async (request, reply) => {
    const result = await send.send(request.body, request.headers['idempotency-key'], request.caller);
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(result.statusCode).send(result.body);
  });

  app.post('/api/sms/send-batch', {
    bodyLimit,
    config: { scope: 'sms:send' },
    schema: {
      tags: ['sms'], summary: 'Send a campaign; invalid recipients are listed, not fatal', body: SendBatchBody, headers: idempotencyHeader,
      response: { 200: SendBatchReply, ...problems(...GUARDED, ...WITH_BODY, 409) },
    },
  }, async (request, reply) => {
    const result = await send.sendBatch(request.body, request.headers['idempotency-key'], request.caller);
    if (result.replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(result.statusCode).send(result.body);
  });

  app.get('/api/sms', { config: { scope: 'read' }, schema: { tags: ['sms'], summary: 'List messages, newest first', querystring: ListSmsQuery, response: { 200: MessagePage(MessageView, 'Messages, newest first'), ...problems(...GUARDED, 422) } } }, async (request) =>
    messages.list(request.query, request.caller));

  app.get('/api/sms/batches/:batch_id', { config: { scope: 'read' }, schema: { tags: ['sms'], summary: 'A batch with counts per status', params: IdParams('batch_id'), response: { 200: BatchView, ...problems(...GUARDED, 404, 422) } } }, async (request) =>
    batches.get(request.params.batch_id, request.caller));

  app.post('/api/sms/batches/:batch_id/send', { config: { scope: 'sms:send' }, schema: { tags: ['sms'], summary: 'Release a draft batch', params: IdParams('batch_id'), response: { 200: BatchView, ...problems(...GUARDED, 404, 409, 422) } } }, async (request) =>
    batches.send(request.params.batch_id, request.caller));

  app.post('/api/sms/batches/:batch_id/cancel', { config: { scope: 'sms:send' }, schema: { tags: ['sms'], summary: 'Cancel every message of a batch not yet handed to a provider', params: IdParams('batch_id'), response: { 200: BatchCancelReply, ...problems(...GUARDED, 404, 409, 422) } } }, async (request) =>
    batches.cancel(request.params.batch_id, request.caller));

  app.get('/api/sms/:sms_id', { config: { scope: 'read' }, schema: { tags: ['sms'], summary: 'One message with its status history', params: IdParams('sms_id'), response: { 200: MessageDetail, ...problems(...GUARDED, 404, 422) } } }, async (request) =>
    messages.get(request.params.sms_id, request.caller));

  app.get('/api/sms/:sms_id/callbacks', { config: { scope: 'read' }, schema: { tags: ['sms'], summary: 'Status callback delivery attempts of a message', params: IdParams('sms_id'), response: { 200: CallbackAttempts, ...problems(...GUARDED, 404, 422) } } }, async (request) => {
    await messages.get(request.params.sms_id, request.caller);
    return { items: await services.callbacks.attemptsFor(request.params.sms_id) };
  });

  app.post('/api/sms/:sms_id/cancel', { config: { scope: 'sms:send' }, schema: { tags: ['sms'], summary: 'Cancel a message not yet handed to a provider', params: IdParams('sms_id'), response: { 200: MessageDetail, ...problems(...GUARDED, 404, 409, 422) } } }, async (request) =>
    messages.cancel(request.params.sms_id, request.caller));

  app.post('/api/sms/:sms_id/webhook', {
    bodyLimit: BODY_LIMITS.webhook,
    // Signed reports need no key; without WEBHOOK_SECRET, and keys on, only a key holder may report.
    config: { providerWebhook: true, scope: !config.webhookSecret && config.apiKeyRequired ? 'sms:send' as const : undefined },
    schema: {
      tags: ['webhooks'], summary: 'Delivery report for one message (signed with WEBHOOK_SECRET when set)', params: IdParams('sms_id'), body: DeliveryReportBody,
      // Never rate limited (no 429); 403 only when keys stand in for a missing WEBHOOK_SECRET. 409: the message was never handed to a provider.
      response: { 200: ReportOutcome, ...problems(...WITH_BODY, 401, 403, 404, 409) },
    },
    preValidation: async (request) => {
      if (!config.webhookSecret) return;
      const given = request.headers['x-webhook-signature'];
      if (typeof given !== 'string' || !safeEqual(given, bodySignature(config.webhookSecret, request.rawBody ?? ''))) {
        throw new UnauthorizedError('X-Webhook-Signature is missing or does not match the body');
      }
    },
  }, async (request) => {
    const b = request.body;
    const at = b.timestamp ? Date.parse(b.timestamp) : undefined;
    if (at !== undefined && Number.isNaN(at)) throw new BadRequestError('timestamp is not a date-time');
    return status.applyToMessage(request.params.sms_id, {
      status: b.status,
      timestamp: at,
      errorCode: b.error_code === null || b.error_code === undefined ? undefined : String(b.error_code),
      errorMessage: b.error_message ?? undefined,
      providerMessageId: b.provider_message_id,
    }, b.provider ? `webhook:${b.provider}` : 'webhook');
  });
};
