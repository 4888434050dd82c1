import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { describePhone } from '../../domain/phone.js';
import type { Services } from '../../services/container.js';
import { GUARDED, PhoneReport, problems } from '../reply-schemas.js';

export const phoneRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.get('/api/phone/validate/:phone_number', {
    config: { scope: 'read' },
    schema: {
      tags: ['phone'], summary: 'What libphonenumber knows of a number; 200 whatever the verdict',
      params: Type.Object({ phone_number: Type.String({ minLength: 1, maxLength: 64 }) }),
      querystring: Type.Object({ country_code: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })) }),
      response: { 200: PhoneReport, ...problems(...GUARDED, 422) },
    },
  }, async (request) => describePhone(request.params.phone_number, request.query.country_code ?? services.config.defaultCountry));
};
