import type { FastifyInstance } from 'fastify';
export { get, post } from '../helpers/http.js';

export async function del(app: FastifyInstance, url: string) {
  const res = await app.inject({ method: 'DELETE', url });
  return { status: res.statusCode };
}
