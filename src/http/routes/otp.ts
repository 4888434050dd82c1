import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { GUARDED, OtpSession, OtpSessionDetail, OtpVerifyReply, problems, WITH_BODY } from '../reply-schemas.js';
import { IdParams, MetadataSchema } from '../schemas.js';

const Phone = Type.Object({
  number: Type.String({ minLength: 1, maxLength: 32 }),
  country_code: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })),
  name: Type.Optional(Type.String({ maxLength: 200 })),
});

const Generate = Type.Object({
  phone_number: Phone,
  length: Type.Optional(Type.Integer({ minimum: 4, maximum: 10 })),
  expiry_minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 })),
  alphanumeric: Type.Optional(Type.Boolean()),
  custom_message: Type.Optional(Type.String({ minLength: 1, maxLength: 1600 })),
  template_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  metadata: Type.Optional(MetadataSchema),
});

const Verify = Type.Object({
  phone_number: Phone,
  otp_code: Type.String({ minLength: 1, maxLength: 20 }),
  session_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
});

export const otpRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { otp } = services;
  app.post('/api/otp/generate', { config: { scope: 'otp' }, schema: { tags: ['otp'], summary: 'Send a one-time passcode', body: Generate, response: { 200: OtpSession, ...problems(...GUARDED, ...WITH_BODY) } } }, async (request) =>
    otp.generate(request.body, request.caller));
  app.post('/api/otp/verify', { config: { scope: 'otp' }, schema: { tags: ['otp'], summary: 'Check a code (constant time; locks after OTP_MAX_ATTEMPTS)', body: Verify, response: { 200: OtpVerifyReply, ...problems(...GUARDED, ...WITH_BODY, 404) } } }, async (request) =>
    otp.verify(request.body));
  app.post('/api/otp/resend/:session_id', { config: { scope: 'otp' }, schema: { tags: ['otp'], summary: 'Send a fresh code for a pending session', params: IdParams('session_id'), response: { 200: OtpSession, ...problems(...GUARDED, 404, 409, 422) } } }, async (request) =>
    otp.resend(request.params.session_id));
  app.get('/api/otp/sessions/:session_id', { config: { scope: 'otp' }, schema: { tags: ['otp'], summary: 'A session\'s state, never its code', params: IdParams('session_id'), response: { 200: OtpSessionDetail, ...problems(...GUARDED, 404, 422) } } }, async (request) =>
    otp.get(request.params.session_id));
};
