import type { FastifyInstance } from 'fastify';

export async function post(app: FastifyInstance, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await app.inject({
    method: 'POST', url, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, body: res.body ? res.json() : undefined };
}

export async function get(app: FastifyInstance, url: string) {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, headers: res.headers, body: String(res.headers['content-type'] ?? '').includes('json') ? res.json() : res.body };
}
