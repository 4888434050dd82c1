import Fastify, { LogController, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { AppError, RateLimitedError } from '../domain/errors.js';
import { WindowLimiter } from '../domain/rate-limit.js';
import type { Services } from '../gateway.js';
import { authentication } from './auth.js';
import { limitConnectionsPerClient } from './connection-limit.js';
import { parseJsonBody } from './json-body.js';
import { clientErrorHandler, errorHandler, frameworkErrorHandler, sendProblem } from './problem.js';
import { BODY_LIMITS } from './body-limits.js';
import { validatorCompiler } from './validation.js';
import { analyticsRoutes } from './routes/analytics.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';
import { phoneRoutes } from './routes/phone.js';
import { providerRoutes } from './routes/providers.js';
import { simulatorRoutes } from './routes/simulator.js';
import { otpRoutes } from './routes/otp.js';
import { smsRoutes } from './routes/sms.js';
import { templateRoutes } from './routes/templates.js';
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

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    logger: { level: config.logLevel },
    // Per-request log lines cost more than the request on the hot path; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
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

  const limiter = new WindowLimiter(config.rateLimits);
  // Hooks on every request are callback-style: an async hook costs a promise per request.
  await app.register(authentication, { keys: services.keys, required: config.apiKeyRequired });

  // Decided by the matched route, never the raw URL: a request line in absolute form
  // (`POST http://x/api/sms/send`) reaches the same route and must meet the same limit.
  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions;
    if (route.config?.providerWebhook || (route.url !== undefined && !route.url.startsWith('/api/'))) return done();
    const verdict = limiter.hit(request.ip, Date.now());
    reply.header('ratelimit-limit', verdict.limit).header('ratelimit-remaining', verdict.remaining).header('ratelimit-reset', verdict.resetSeconds);
    if (!verdict.allowed) return done(new RateLimitedError(`rate limit of ${verdict.limit} requests exceeded; retry in ${verdict.resetSeconds} s`, verdict.resetSeconds));
    done();
  });

  if (config.allowedOrigins.length > 0) {
    app.addHook('onRequest', async (request, reply) => {
      const origin = request.headers.origin;
      if (!origin || !(config.allowedOrigins.includes(origin) || config.allowedOrigins.includes('*'))) return;
      reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
      if (request.method === 'OPTIONS') {
        reply.header('access-control-allow-methods', 'GET,POST,PUT,DELETE,OPTIONS')
          .header('access-control-allow-headers', 'content-type,authorization,x-api-key,idempotency-key')
          .code(204).send();
      }
    });
  }

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
  if (services.simulatorOutbox) await app.register(simulatorRoutes, { services });
  return app;
}
