import Fastify, { LogController, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { BadRequestError, RateLimitedError } from '../domain/errors.js';
import { WindowLimiter } from '../domain/rate-limit.js';
import type { Services } from '../gateway.js';
import { errorHandler, sendProblem } from './problem.js';
import { analyticsRoutes } from './routes/analytics.js';
import { healthRoutes } from './routes/health.js';
import { phoneRoutes } from './routes/phone.js';
import { simulatorRoutes } from './routes/simulator.js';
import { otpRoutes } from './routes/otp.js';
import { smsRoutes } from './routes/sms.js';
import { templateRoutes } from './routes/templates.js';
import { webhookRoutes } from './routes/webhooks.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}

/** Provider callbacks are never rate limited: dropping a delivery report loses a status. */
function isProviderWebhook(url: string): boolean {
  return url.startsWith('/api/webhooks/') || /^\/api\/sms\/[^/]+\/webhook/.test(url);
}

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    logger: { level: config.logLevel },
    // Per-request log lines cost more than the request on the hot path; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 5 * 1024 * 1024,
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: true, useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Keep the raw text: webhook signatures are computed over the exact bytes received.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    request.rawBody = text;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new BadRequestError(`malformed JSON: ${(err as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, 404, 'Not found', `no route ${request.method} ${request.url.split('?')[0]}`));

  const limiter = new WindowLimiter(config.rateLimits);
  // Hooks on every request are callback-style: an async hook costs a promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.url.startsWith('/api/') || isProviderWebhook(request.url)) return done();
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
  if (services.simulatorOutbox) await app.register(simulatorRoutes, { services });
  return app;
}
