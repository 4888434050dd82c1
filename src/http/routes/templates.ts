import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/container.js';
import { BODY_LIMITS } from '../body-limits.js';
import { GUARDED, NoContent, Page, problems, TemplateRender, TemplateVersions, TemplateView, WITH_BODY } from '../reply-schemas.js';
import { IdParams, Offset, SmsTypeSchema, VariablesSchema } from '../schemas.js';

const TemplateId = Type.String({ pattern: '^[a-z0-9_-]{1,64}$', description: 'client-chosen slug' });
const Variables = Type.Array(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' }), { maxItems: 100 });

const CreateTemplate = Type.Object({
  id: Type.Optional(TemplateId),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  content: Type.String({ minLength: 1, maxLength: 10_000 }),
  variables: Type.Optional(Variables),
  category: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
  sms_type: Type.Optional(SmsTypeSchema),
  is_active: Type.Optional(Type.Boolean()),
});

const UpdateTemplate = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  content: Type.Optional(Type.String({ minLength: 1, maxLength: 10_000 })),
  variables: Type.Optional(Variables),
  category: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
  sms_type: Type.Optional(SmsTypeSchema),
  is_active: Type.Optional(Type.Boolean()),
});

const ListTemplates = Type.Object({
  category: Type.Optional(Type.String()),
  sms_type: Type.Optional(SmsTypeSchema),
  is_active: Type.Optional(Type.Boolean()),
  search: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  offset: Type.Optional(Offset),
});

export const templateRoutes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  const { templates } = services;
  const params = IdParams('template_id');

  app.post('/api/templates', { bodyLimit: BODY_LIMITS.template, config: { scope: 'templates:write' }, schema: { tags: ['templates'], summary: 'Create a template ({{variable}} placeholders)', body: CreateTemplate, response: { 201: TemplateView, ...problems(...GUARDED, ...WITH_BODY, 409) } } }, async (request, reply) =>
    reply.code(201).send(await templates.create(request.body, request.caller)));

  app.get('/api/templates', { config: { scope: 'read' }, schema: { tags: ['templates'], summary: 'List templates', querystring: ListTemplates, response: { 200: Page(TemplateView, 'Templates, newest first'), ...problems(...GUARDED, 422) } } }, async (request) =>
    templates.list(request.query));

  app.get('/api/templates/:template_id', { config: { scope: 'read' }, schema: { tags: ['templates'], summary: 'A template', params, response: { 200: TemplateView, ...problems(...GUARDED, 404, 422) } } }, async (request) =>
    templates.get(request.params.template_id));

  app.put('/api/templates/:template_id', { bodyLimit: BODY_LIMITS.template, config: { scope: 'templates:write' }, schema: { tags: ['templates'], summary: 'Change a template: a new version', params, body: UpdateTemplate, response: { 200: TemplateView, ...problems(...GUARDED, ...WITH_BODY, 404) } } }, async (request) =>
    templates.update(request.params.template_id, request.body));

  app.delete('/api/templates/:template_id', {
    config: { scope: 'templates:write' },
    schema: { tags: ['templates'], summary: 'Delete a template (messages keep the version they used)', params, response: { 204: NoContent('Deleted'), ...problems(...GUARDED, 404, 422) } },
  }, async (request, reply) => {
    await templates.remove(request.params.template_id);
    return reply.code(204).send();
  });

  app.get('/api/templates/:template_id/versions', { config: { scope: 'read' }, schema: { tags: ['templates'], summary: 'Every version, oldest first', params, response: { 200: TemplateVersions, ...problems(...GUARDED, 404, 422) } } }, async (request) =>
    templates.versions(request.params.template_id));

  app.post('/api/templates/:template_id/render', {
    config: { scope: 'read' },
    schema: {
      tags: ['templates'], summary: 'Preview with segments and encoding', params, body: Type.Object({ variables: Type.Optional(VariablesSchema) }),
      response: { 200: TemplateRender, ...problems(...GUARDED, ...WITH_BODY, 404) },
    },
  }, async (request) => templates.render(request.params.template_id, request.body?.variables ?? {}));
};
