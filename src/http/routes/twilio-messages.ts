import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { twilioErrorBody, twilioErrorHandler } from '../../twilio-compat/errors.js';
import { resolveAccount, type Form } from '../../twilio-compat/message-api.js';
import { NoContent, TwilioMediaPage, TwilioMessage, TwilioMessagePage, twilioErrors } from '../../twilio-compat/reply-schemas.js';
import { messageIdFromSid } from '../../twilio-compat/sids.js';
import { presentedCredentials } from '../auth.js';

const AccountParams = Type.Object({ AccountSid: Type.String({ maxLength: 100 }) });
const MessageParams = Type.Object({ AccountSid: Type.String({ maxLength: 100 }), Sid: Type.String({ maxLength: 100 }) });
const tags = ['twilio-compat'];
const formNote = 'Form-encoded as Twilio documents the Message resource; errors are Twilio\'s {code, message, more_info, status}. See README "Moving from Twilio".';

/**
 * Twilio's 2010-04-01 Messages resource, for the official SDKs pointed at the gateway. Its own
 * scope under /2010-04-01 answers every error, a 404 included, in Twilio's JSON shape.
 */
export const twilioMessageRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const api = services.twilioMessages;
  await app.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    scope.setErrorHandler(twilioErrorHandler('messages'));
    scope.setNotFoundHandler((request, reply) =>
      reply.code(404).type('application/json').send(twilioErrorBody(404, 20404, `The requested resource ${request.url.split('?')[0]} was not found`)));

    scope.post('/Accounts/:AccountSid/Messages.json', {
      // `Sid`: no path parameter names the message before it exists (not the AccountSid); the handler names it.
      config: { scope: 'sms:send', apiCall: true, audit: { action: 'twilio.messages.create', resource: 'message', param: 'Sid' } },
      schema: { tags, summary: 'Send a message (Twilio Message resource)', description: formNote, params: AccountParams, response: { 201: TwilioMessage, ...twilioErrors(400, 401, 403, 404, 413, 429) } },
    }, async (request, reply) => {
      const account = resolveAccount(request.caller, request.params.AccountSid, request.url.split('?')[0]);
      const message = await api.create(account, (request.body ?? {}) as Form, presentedCredentials(request)?.key);
      request.auditResourceId = messageIdFromSid(message.sid) ?? null;
      return reply.code(201).send(message);
    });

    scope.get('/Accounts/:AccountSid/Messages.json', {
      config: { scope: 'read', apiCall: true },
      schema: { tags, summary: 'List messages (To, From, DateSent, DateSent<, DateSent>, PageSize, Page, PageToken)', description: formNote, params: AccountParams, response: { 200: TwilioMessagePage, ...twilioErrors(400, 401, 403, 404, 429) } },
    }, async (request) => {
      const account = resolveAccount(request.caller, request.params.AccountSid, request.url.split('?')[0]);
      return api.list(account, request.query as Record<string, unknown>);
    });

    scope.get('/Accounts/:AccountSid/Messages/:Sid.json', {
      config: { scope: 'read', apiCall: true },
      schema: { tags, summary: 'Fetch a message', description: formNote, params: MessageParams, response: { 200: TwilioMessage, ...twilioErrors(401, 403, 404, 429) } },
    }, async (request) => {
      const account = resolveAccount(request.caller, request.params.AccountSid, request.url.split('?')[0]);
      return api.fetch(account, request.params.Sid);
    });

    scope.post('/Accounts/:AccountSid/Messages/:Sid.json', {
      config: { scope: 'sms:send', apiCall: true, audit: { action: 'twilio.messages.update', resource: 'message', param: 'Sid' } },
      schema: {
        tags, summary: 'Cancel a scheduled message (Status=canceled) or redact a finished one (Body=)', description: formNote, params: MessageParams,
        response: { 200: TwilioMessage, ...twilioErrors(400, 401, 403, 404, 413, 429) },
      },
    }, async (request) => {
      request.auditResourceId = messageIdFromSid(request.params.Sid) ?? null;
      const account = resolveAccount(request.caller, request.params.AccountSid, request.url.split('?')[0]);
      return api.update(account, request.params.Sid, (request.body ?? {}) as Form);
    });

    scope.delete('/Accounts/:AccountSid/Messages/:Sid.json', {
      config: { scope: 'sms:send', apiCall: true, audit: { action: 'twilio.messages.delete', resource: 'message', param: 'Sid' } },
      schema: {
        tags, summary: 'Delete a finished message from the Twilio API (its text is erased)', description: formNote, params: MessageParams,
        response: { 204: NoContent('Deleted'), ...twilioErrors(401, 403, 404, 409, 429) },
      },
    }, async (request, reply) => {
      request.auditResourceId = messageIdFromSid(request.params.Sid) ?? null;
      const account = resolveAccount(request.caller, request.params.AccountSid, request.url.split('?')[0]);
      await api.remove(account, request.params.Sid);
      return reply.code(204).send();
    });

    // An SMS has no media; the subresource every Message names answers an empty list rather than a 404.
    scope.get('/Accounts/:AccountSid/Messages/:Sid/Media.json', {
      config: { scope: 'read', apiCall: true },
      schema: { tags, summary: 'A message\'s media: always none (SMS only)', params: MessageParams, response: { 200: TwilioMediaPage, ...twilioErrors(401, 403, 404, 429) } },
    }, async (request) => {
      const account = resolveAccount(request.caller, request.params.AccountSid, request.url.split('?')[0]);
      await api.fetch(account, request.params.Sid);
      const uri = request.url.split('?')[0];
      return { media_list: [], page: 0, page_size: 50, start: 0, end: 0, uri, first_page_uri: `${uri}?PageSize=50&Page=0`, next_page_uri: null, previous_page_uri: null };
    });
  }, { prefix: '/2010-04-01' });
};
