import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AuditStore } from '../../store/audit-store.js';
import { AuditRecord, GUARDED, Page, problems } from '../reply-schemas.js';
import { Offset } from '../schemas.js';

const AuditQuery = Type.Object({
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'e.g. sms.send, keys.delete' })),
  key_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  date_from: Type.Optional(Type.String({ format: 'date-time' })),
  date_to: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  offset: Type.Optional(Offset),
});

/** Admin only: the audit log, newest first. Read-only, like everything that touches the table but the recorder. */
export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditStore }> = async (app, { audit }) => {
  app.get('/api/audit', { config: { scope: 'admin' }, schema: { tags: ['audit'], summary: 'Audit log of API calls and admin actions, newest first', querystring: AuditQuery, response: { 200: Page(AuditRecord, 'Audit records, newest first'), ...problems(...GUARDED, 422) } } }, async (request) => {
    const { action, key_id, date_from, date_to } = request.query;
    const limit = request.query.limit ?? 50;
    const offset = request.query.offset ?? 0;
    // Rows still buffered would be missing from the answer: an admin reads the calls just made.
    // A failed write is reported by the store and retried; the rows already written are still listed.
    await audit.flush().catch(() => undefined);
    const { items, total } = await audit.list({
      action, key_id,
      date_from: date_from === undefined ? undefined : Date.parse(date_from),
      date_to: date_to === undefined ? undefined : Date.parse(date_to),
    }, limit, offset);
    return { items, total, limit, offset };
  });
};
