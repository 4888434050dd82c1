import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, US } from '../helpers/gateway.js';
import { countRows, discoverRoutes, problemDefect, rowChanges } from '../helpers/hostile.js';

/**
 * With API_KEY_REQUIRED=true, every route under random, truncated, oversized, revoked and
 * under-scoped keys: never a 5xx, always problem+json, and nothing written by a refused call.
 */
let gw: TestGateway;
let valid: string;
let revoked: string;
let readOnly: string;

beforeAll(async () => {
  gw = await startGateway({ API_KEY_REQUIRED: 'true' });
  valid = (await gw.services.keys.create('all', ['admin'])).key;
  const gone = await gw.services.keys.create('gone', ['admin']);
  await gw.services.keys.revoke(gone.id);
  revoked = gone.key;
  readOnly = (await gw.services.keys.create('reader', ['read'])).key;
});
afterAll(async () => gw.stop());

const keyValue = () => fc.oneof(
  fc.constant(undefined),
  fc.string({ maxLength: 80 }),
  fc.constant('').map(() => revoked),
  fc.nat({ max: 50 }).map((n) => valid.slice(0, n)),
  fc.nat({ max: 5 }).map((n) => valid + 'x'.repeat(n + 1)),
  fc.constant('').map(() => `sgw_${'A'.repeat(5000)}`),
  fc.constant('').map(() => readOnly),
);

const header = () => fc.oneof(
  keyValue().map((k) => (k === undefined ? {} : { authorization: `Bearer ${k}` })),
  keyValue().map((k) => (k === undefined ? {} : { 'x-api-key': k })),
  keyValue().map((k) => (k === undefined ? {} : { authorization: `Basic ${Buffer.from(`AC123:${k}`).toString('base64')}` })),
  fc.string({ maxLength: 60 }).map((garbage) => ({ authorization: garbage })),
);

describe('hostile API keys', () => {
  it('never answers a 5xx or a non-problem error, and writes nothing when it refuses', async () => {
    const routes = discoverRoutes(gw.app).filter((r) => r.url.startsWith('/api/'));
    expect(routes.length).toBeGreaterThan(20);
    const body = JSON.stringify({ to: [{ number: US }], message: 'hi', recipients: [{ number: US }], phone_number: { number: US }, name: 'n', content: 'c', scopes: ['read'], number: US, from: US, text: 'hi' });
    await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), header(), async (route, headers) => {
      const url = route.url.replace(/:([A-Za-z0-9_]+)/g, 'x1');
      const before = await countRows(gw.services.store.db);
      const res = await gw.app.inject({
        method: route.method as 'GET', url, headers: { ...headers, ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { 'content-type': 'application/json' }) },
        payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : body,
      });
      expect(res.statusCode, `${route.method} ${url}`).toBeLessThan(500);
      if (res.statusCode >= 400 && !route.url.startsWith('/api/webhooks/')) {
        expect(problemDefect({ status: res.statusCode, headers: res.headers, body: res.body }), `${route.method} ${url}`).toBeUndefined();
        expect(rowChanges(before, await countRows(gw.services.store.db)), `${route.method} ${url} ${res.statusCode}`).toEqual([]);
      }
    }), { numRuns: 400 });
  });

  it('refuses the revoked, truncated and oversized keys it generates', async () => {
    for (const key of [revoked, valid.slice(0, 20), `${valid}x`, `sgw_${'A'.repeat(5000)}`]) {
      const res = await gw.app.inject({ method: 'GET', url: '/api/sms', headers: { authorization: `Bearer ${key}` } });
      expect(res.statusCode).toBe(401);
    }
    expect((await gw.app.inject({ method: 'GET', url: '/api/sms', headers: { authorization: `Bearer ${valid}` } })).statusCode).toBe(200);
  });
});
