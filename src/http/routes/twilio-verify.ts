import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { twilioErrorBody, twilioErrorHandler } from '../../twilio-compat/errors.js';
import type { Form } from '../../twilio-compat/message-api.js';
import { NoContent, Verification, VerificationCheck, VerifyService, VerifyServicePage, twilioErrors } from '../../twilio-compat/reply-schemas.js';
import { verifyAccount } from '../../twilio-compat/verify-api.js';

const ServiceParams = Type.Object({ ServiceSid: Type.String({ maxLength: 100 }) });
const VerificationParams = Type.Object({ ServiceSid: Type.String({ maxLength: 100 }), Sid: Type.String({ maxLength: 100 }) });
const tags = ['twilio-compat'];
const formNote = 'Twilio Verify v2, form-encoded; codes go through the gateway\'s OTP engine. Errors are Twilio\'s {code, message, more_info, status}. See README "Moving from Twilio".';

/** Twilio Verify v2 (Services, Verifications, VerificationCheck) under /v2, errors in Twilio's JSON shape. */
export const twilioVerifyRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const api = services.twilioVerify;
  await app.register(async (plain) => {
    const scope = plain.withTypeProvider<TypeBoxTypeProvider>();
    scope.setErrorHandler(twilioErrorHandler('verify'));
    scope.setNotFoundHandler((request, reply) =>
      reply.code(404).type('application/json').send(twilioErrorBody(404, 20404, `The requested resource ${request.url.split('?')[0]} was not found`)));
    // `param: 'Sid'` on a create: the resource is named by the reply, not by the service in the path.
    const config = (action: string, resource: string, extra: { param?: string; replyField?: string } = {}) =>
      ({ scope: 'otp' as const, apiCall: true, audit: { action, resource, ...extra } });
    const read = { scope: 'otp' as const, apiCall: true };

    scope.post('/Services', {
      config: config('twilio.verify.services.create', 'verify_service', { replyField: 'sid' }),
      schema: { tags, summary: 'Create a Verify service (FriendlyName, CodeLength)', description: formNote, response: { 201: VerifyService, ...twilioErrors(400, 401, 403, 413, 429) } },
    }, async (request, reply) => reply.code(201).send(await api.createService(verifyAccount(request.caller), (request.body ?? {}) as Form)));

    scope.get('/Services', { config: read, schema: { tags, summary: 'List Verify services', description: formNote, response: { 200: VerifyServicePage, ...twilioErrors(400, 401, 403, 429) } } }, async (request) =>
      api.listServices(verifyAccount(request.caller), request.query as Record<string, unknown>));

    scope.get('/Services/:ServiceSid', { config: read, schema: { tags, summary: 'Fetch a Verify service', params: ServiceParams, response: { 200: VerifyService, ...twilioErrors(401, 403, 404, 429) } } }, async (request) =>
      api.fetchService(verifyAccount(request.caller), request.params.ServiceSid));

    scope.post('/Services/:ServiceSid', {
      config: config('twilio.verify.services.update', 'verify_service'),
      schema: { tags, summary: 'Update a Verify service', description: formNote, params: ServiceParams, response: { 200: VerifyService, ...twilioErrors(400, 401, 403, 404, 413, 429) } },
    }, async (request) => api.updateService(verifyAccount(request.caller), request.params.ServiceSid, (request.body ?? {}) as Form));

    scope.delete('/Services/:ServiceSid', {
      config: config('twilio.verify.services.delete', 'verify_service'),
      schema: { tags, summary: 'Delete a Verify service', params: ServiceParams, response: { 204: NoContent('Deleted'), ...twilioErrors(401, 403, 404, 429) } },
    }, async (request, reply) => {
      await api.removeService(verifyAccount(request.caller), request.params.ServiceSid);
      return reply.code(204).send();
    });

    scope.post('/Services/:ServiceSid/Verifications', {
      config: config('twilio.verify.verifications.create', 'verification', { param: 'Sid', replyField: 'sid' }),
      schema: {
        tags, summary: 'Start a verification (To, Channel=sms): sends a code', description: formNote, params: ServiceParams,
        response: { 201: Verification, ...twilioErrors(400, 401, 403, 404, 413, 429) },
      },
    }, async (request, reply) =>
      reply.code(201).send(await api.start(verifyAccount(request.caller), request.params.ServiceSid, (request.body ?? {}) as Form)));

    scope.get('/Services/:ServiceSid/Verifications/:Sid', { config: read, schema: { tags, summary: 'Fetch a pending verification', params: VerificationParams, response: { 200: Verification, ...twilioErrors(401, 403, 404, 429) } } }, async (request) =>
      api.fetch(verifyAccount(request.caller), request.params.ServiceSid, request.params.Sid));

    scope.post('/Services/:ServiceSid/Verifications/:Sid', {
      config: config('twilio.verify.verifications.update', 'verification'),
      schema: {
        tags, summary: 'Cancel or approve a verification (Status=canceled|approved)', description: formNote, params: VerificationParams,
        response: { 200: Verification, ...twilioErrors(400, 401, 403, 404, 413, 429) },
      },
    }, async (request) => api.update(verifyAccount(request.caller), request.params.ServiceSid, request.params.Sid, (request.body ?? {}) as Form));

    scope.post('/Services/:ServiceSid/VerificationCheck', {
      config: config('twilio.verify.verification_checks.create', 'verification', { param: 'Sid', replyField: 'sid' }),
      schema: {
        tags, summary: 'Check a code (To or VerificationSid, Code)', description: formNote, params: ServiceParams,
        response: { 200: VerificationCheck, ...twilioErrors(400, 401, 403, 404, 413, 429) },
      },
    }, async (request) => api.check(verifyAccount(request.caller), request.params.ServiceSid, (request.body ?? {}) as Form));
  }, { prefix: '/v2' });
};
