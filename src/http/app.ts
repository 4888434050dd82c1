import Fastify, { LogController, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError } from '../domain/errors.js';
import type { Services } from '../services/container.js';
import { loggerOptions, logsRequests, type LogStream } from '../logging.js';
import { AuditStore } from '../store/audit-store.js';
import { auditTrail } from './audit.js';
import { securityHeaders } from './security-headers.js';
import { authentication } from './auth.js';
import { trackForClose } from './close-app.js';
import { limitConnectionsPerClient } from './connection-limit.js';
import { parseJsonBody } from './json-body.js';
import { requestLogger } from './request-logger.js';
import { ApiRateLimiter, limitApiCalls } from './rate-limit.js';
import { clientErrorHandler, errorHandler, frameworkErrorHandler, sendProblem } from './problem.js';
import { BODY_LIMITS } from './body-limits.js';
import { validatorCompiler } from './validation.js';
import { analyticsRoutes } from './routes/analytics.js';
import { auditRoutes } from './routes/audit.js';
import { batchListRoutes } from './routes/batch-list.js';
import { currentKeyRoutes } from './routes/current-key.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { inboundRoutes } from './routes/inbound.js';
import { keyRoutes } from './routes/keys.js';
import { optOutRoutes } from './routes/opt-outs.js';
import { phoneRoutes } from './routes/phone.js';
import { priceRoutes } from './routes/prices.js';
import { providerRoutes } from './routes/providers.js';
import { simulatorRoutes } from './routes/simulator.js';
import { otpRoutes } from './routes/otp.js';
import { smsRoutes } from './routes/sms.js';
import { templateRoutes } from './routes/templates.js';
import { twilioMessageRoutes } from './routes/twilio-messages.js';
import { twilioVerifyRoutes } from './routes/twilio-verify.js';
import { smppAccountRoutes } from './routes/smpp-accounts.js';
import { webhookRoutes } from './routes/webhooks.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
  interface FastifyContextConfig {
    /** Provider delivery reports: never rate limited, since dropping one loses a status. */
    providerWebhook?: boolean;
  }
}

export interface AppOptions {
  /** Where log lines go (default stdout): tests read what would have been logged. */
  logStream?: LogStream;
  /** The built dashboard (default dashboard/dist): tests serve a build of their own. */
  dashboardDir?: string;
}

export async function buildApp(services: Services, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    // Masked and redacted at every level: no number, body, code, key or credential header (see logging.ts).
    logger: loggerOptions(config.logLevel, options.logStream),
    // Per-request log lines cost more than the request on the hot path; errors are still logged.
    // At debug and trace the operator asked for them.
    logController: new LogController({ disableRequestLogging: !logsRequests(config.logLevel) }),
    childLoggerFactory: requestLogger,
    // Routes that take more set their own limit (BODY_LIMITS); a larger body is refused from its Content-Length, unread.
    bodyLimit: BODY_LIMITS.default,
    // Ids are at most 100 characters (the route schemas say so and name the field); longer paths are still a problem+json.
    routerOptions: { maxParamLength: 1000 },
    // A client trickling a body or headers a byte at a time must not hold a connection for minutes.
    requestTimeout: config.http.requestTimeoutMs,
    http: { headersTimeout: config.http.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());
  limitConnectionsPerClient(app.server, config.http.maxConnectionsPerClient);
  trackForClose(app);

  // Keep the raw text: webhook signatures are computed over the exact bytes received.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const parsed = parseJsonBody(body as Buffer);
    request.rawBody = parsed.text;
    if (parsed.ok) return done(null, parsed.value);
    done(new AppError(parsed.status, parsed.status === 400 ? 'Bad request' : 'Validation failed', parsed.detail, parsed.errors), undefined);
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  // Path and query values are text too: the same refusals as JSON strings, before any route reads them.
  app.addHook('preValidation', (request, _reply, done) => {
    for (const [part, values] of [['path', request.params], ['query', request.query]] as const) {
      for (const [name, value] of Object.entries((values ?? {}) as Record<string, unknown>)) {
        for (const text of Array.isArray(value) ? value : [value]) {
          if (typeof text === 'string' && (text.includes('\u0000') || !text.isWellFormed())) {
            return done(new AppError(422, 'Validation failed', `${name} (${part}) holds a NUL or a lone surrogate`, [{ field: name, message: 'contains a NUL character or is not valid Unicode' }]));
          }
        }
      }
    }
    done();
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, 404, 'Not found', `no route ${request.method} ${request.url.split('?')[0]}`));

  // Security and CORS headers come before authentication and rate limits, so refusals carry them
  // too (a browser can read a 401 or a 429 only with CORS headers on it). helmet's defaults give a
  // CSP with no inline script, under which Swagger UI (/docs) runs as is.
  await app.register(securityHeaders, {
    helmet: {
      contentSecurityPolicy: {
        directives: {
          // Swagger UI's "Try it out" calls the server the OpenAPI document names.
          'connect-src': ["'self'", new URL(config.publicUrl).origin],
          // Over plain HTTP (a LAN address) the browser would rewrite /docs' assets to https and fail.
          'upgrade-insecure-requests': config.publicUrl.startsWith('https:') ? [] : null,
        },
      },
    },
  });
  if (config.allowedOrigins.length > 0) {
    const anyOrigin = config.allowedOrigins.includes('*');
    await app.register(cors, {
      // An origin not listed gets no CORS header at all; its preflight finds no route (404).
      origin: (origin, callback) => callback(null, origin !== undefined && (anyOrigin || config.allowedOrigins.includes(origin)) ? (anyOrigin ? '*' : origin) : false),
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['content-type', 'authorization', 'x-api-key', 'idempotency-key'],
      exposedHeaders: ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after', 'idempotent-replayed'],
      maxAge: 600,
      // An OPTIONS that is not a preflight gets the headers, not a text/plain 400.
      strictPreflight: false,
    });
  }

  // Hooks on every request are callback-style: an async hook costs a promise per request.
  await app.register(authentication, { keys: services.keys, required: config.apiKeyRequired });
  // After authentication: the limit is per key when the call has one.
  limitApiCalls(app, new ApiRateLimiter(config.rateLimits, services.sharedCounters.factory));

  const audit = new AuditStore(services.readDb, services.commits, (err, { pending, dropped }) => {
    app.log.error({ err, pending, dropped }, dropped > 0 ? `audit log: ${dropped} rows dropped` : 'audit log write failed; retrying');
  });
  await app.register(auditTrail, { store: audit });

  app.addHook('onResponse', (request, reply, done) => {
    services.metrics.httpSeconds.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode },
      reply.elapsedTime / 1000,
    );
    done();
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'SMS gateway', version: '0.1.0', description: 'Send SMS and one-time passcodes through Twilio, AWS SNS, Plivo, Vonage, Clickatell or the built-in simulator.' },
      servers: [{ url: config.publicUrl }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { services });
  await app.register(smsRoutes, { services });
  await app.register(webhookRoutes, { services });
  await app.register(templateRoutes, { services });
  await app.register(otpRoutes, { services });
  await app.register(phoneRoutes, { services });
  await app.register(analyticsRoutes, { services });
  await app.register(providerRoutes, { services });
  await app.register(keyRoutes, { services });
  await app.register(auditRoutes, { audit });
  await app.register(optOutRoutes, { services });
  await app.register(inboundRoutes, { services });
  await app.register(twilioMessageRoutes, { services });
  await app.register(twilioVerifyRoutes, { services });
  await app.register(smppAccountRoutes, { services });
  if (services.simulatorOutbox) await app.register(simulatorRoutes, { services });
  await app.register(currentKeyRoutes, { services });
  await app.register(batchListRoutes, { services });
  await app.register(priceRoutes, { services });
  await app.register(eventRoutes, { services });
  await app.register(dashboardRoutes, { dir: options.dashboardDir });
  return app;
}
