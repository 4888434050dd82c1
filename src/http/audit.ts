import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { maskPhoneNumbers } from '../logging.js';
import type { AuditStore } from '../store/audit-store.js';

/** How one route is audited. */
export interface AuditSpec {
  /** Stable name of the call: `<resource family>.<verb>`, e.g. `sms.send`, `keys.delete`. */
  action: string;
  /** What kind of thing it acts on: `message`, `batch`, `template`, `key`, `otp_session`, `opt_out`, … */
  resource: string;
  /** The path parameter naming the resource; default: the route's last parameter. */
  param?: string;
  /** For a call that creates (or finds) its resource: the reply field holding the new id. */
  replyField?: string;
  /** The id is a phone number: stored masked to its last four digits, like in the logs. */
  phoneNumber?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** A route that knows its resource's id better than the path or the reply may set it here. */
    auditResourceId: string | null;
  }
  interface FastifyContextConfig {
    /** How to audit this route (overrides AUDITED_ROUTES and the derived name); `false`: never. */
    audit?: AuditSpec | false;
  }
}

/**
 * The action names of the API, `METHOD /route` -> spec. They are part of the API: filters and
 * reports depend on them, so a rename is a breaking change. A route not listed gets a derived
 * name (`deriveAuditSpec`).
 */
export const AUDITED_ROUTES: Record<string, AuditSpec> = {
  'POST /api/sms/send': { action: 'sms.send', resource: 'batch', replyField: 'batch_id' },
  'POST /api/sms/send-batch': { action: 'sms.send_batch', resource: 'batch', replyField: 'batch_id' },
  'POST /api/sms/:sms_id/cancel': { action: 'sms.cancel', resource: 'message' },
  'POST /api/sms/batches/:batch_id/send': { action: 'batches.send', resource: 'batch' },
  'POST /api/sms/batches/:batch_id/cancel': { action: 'batches.cancel', resource: 'batch' },
  'POST /api/otp/generate': { action: 'otp.generate', resource: 'otp_session', replyField: 'session_id' },
  'POST /api/otp/verify': { action: 'otp.verify', resource: 'otp_session', replyField: 'session_id' },
  'POST /api/otp/resend/:session_id': { action: 'otp.resend', resource: 'otp_session' },
  'POST /api/templates': { action: 'templates.create', resource: 'template', replyField: 'id' },
  'PUT /api/templates/:template_id': { action: 'templates.update', resource: 'template' },
  'DELETE /api/templates/:template_id': { action: 'templates.delete', resource: 'template' },
  'POST /api/templates/:template_id/render': { action: 'templates.render', resource: 'template' },
  'POST /api/keys': { action: 'keys.create', resource: 'key', replyField: 'id' },
  'DELETE /api/keys/:key_id': { action: 'keys.delete', resource: 'key' },
  'POST /api/opt-outs': { action: 'opt_outs.create', resource: 'opt_out', replyField: 'number', phoneNumber: true },
  'DELETE /api/opt-outs/:number': { action: 'opt_outs.delete', resource: 'opt_out', phoneNumber: true },
  'POST /api/inbound': { action: 'inbound.create', resource: 'inbound_message', replyField: 'id' },
  'POST /api/smpp/accounts': { action: 'smpp_accounts.create', resource: 'smpp_account', replyField: 'system_id' },
  'DELETE /api/smpp/accounts/:system_id': { action: 'smpp_accounts.delete', resource: 'smpp_account' },
};

const VERB_BY_METHOD: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' };

/**
 * The name of a route nobody listed, from its path below `/api/`, `-` written `_`:
 * - ending in a parameter, or a bare collection: the static segments and the method's verb
 *   (`DELETE /api/widgets/:id` -> `widgets.delete`, `POST /api/widgets` -> `widgets.create`);
 * - ending in a word: that word is the verb (`POST /api/widgets/:id/archive` -> `widgets.archive`).
 * The resource is the first segment (`widgets`); the id, the last parameter.
 */
export function deriveAuditSpec(method: string, url: string): AuditSpec {
  const segments = url.replace(/^\/api\//, '').split('/').filter(Boolean);
  const words = segments.filter((s) => !s.startsWith(':')).map((s) => s.replace(/-/g, '_'));
  const endsInWord = segments.length > 0 && !segments[segments.length - 1].startsWith(':');
  const parts = endsInWord && words.length > 1 ? words : [...words, VERB_BY_METHOD[method] ?? method.toLowerCase()];
  const param = [...segments].reverse().find((s) => s.startsWith(':'))?.slice(1);
  return { action: parts.join('.'), resource: words[0] ?? 'api', ...(param && /number|phone/i.test(param) ? { phoneNumber: true } : {}) };
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Audits every state-changing call of the API (POST, PUT, PATCH, DELETE on a route under
 * `/api/`, or any route with `config.audit`), refused ones included, whatever refused them
 * (401, 403, 413, 422, 429): one row with time, key, action, resource id, HTTP status and
 * client address. Provider webhooks are provider traffic, not API calls, and are not audited.
 * Never a body, a code or a key: the resource id comes from the path, from a reply's id field,
 * or from `request.auditResourceId`.
 */
export const auditTrail = fp<{ store: AuditStore }>(async (app: FastifyInstance, { store }) => {
  const specs = new Map<string, AuditSpec | null>();
  const specFor = (request: FastifyRequest): AuditSpec | null => {
    const route = request.routeOptions;
    if (route.url === undefined) return null;
    const key = `${request.method} ${route.url}`;
    let spec = specs.get(key);
    if (spec === undefined) {
      const own = route.config?.audit;
      const found = own === false ? null
        : own ? own
          : route.config?.providerWebhook || !route.url.startsWith('/api/') ? null
            : AUDITED_ROUTES[key] ?? deriveAuditSpec(request.method, route.url);
      const lastParam = route.url.split('/').reverse().find((s) => s.startsWith(':'))?.slice(1);
      spec = found && { ...found, param: found.param ?? lastParam };
      specs.set(key, spec);
    }
    return spec;
  };

  app.decorateRequest('auditResourceId', null);

  // The reply object, before it is serialized: its id is read without parsing anything.
  app.addHook('preSerialization', (request, reply, payload, done) => {
    if (!WRITES.has(request.method) || reply.statusCode >= 300 || request.auditResourceId !== null) return done(null, payload);
    const field = specFor(request)?.replyField;
    const value = field !== undefined && payload !== null && typeof payload === 'object' ? (payload as Record<string, unknown>)[field] : undefined;
    if (typeof value === 'string') request.auditResourceId = value;
    done(null, payload);
  });

  // onSend, not onResponse: a client that hangs up while its call runs gets no response, and
  // onResponse never fires, but the call still changed state and is still answered to onSend.
  const recorded = new WeakSet<FastifyRequest>();
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!WRITES.has(request.method) || recorded.has(request)) return done(null, payload);
    const spec = specFor(request);
    if (spec === null) return done(null, payload);
    recorded.add(request);
    let resourceId = request.auditResourceId;
    if (resourceId === null) {
      const params = request.params as Record<string, unknown> | undefined;
      const value = spec.param === undefined ? undefined : params?.[spec.param];
      if (typeof value === 'string' && value !== '') resourceId = value;
    }
    if (resourceId !== null && spec.phoneNumber) resourceId = maskPhoneNumbers(resourceId);
    store.append({
      // Known once the key was checked: a 403 (key without the scope) names it, a 401 cannot.
      keyId: request.caller?.keyId ?? null,
      action: spec.action,
      resource: spec.resource,
      resourceId,
      result: reply.statusCode,
      ip: request.ip ?? null,
    });
    done(null, payload);
  });

  app.addHook('onClose', async () => {
    try {
      await store.close();
    } catch (err) {
      app.log.error({ err }, 'audit rows could not be written at shutdown');
    }
  });
});
