import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { onPostgres } from '../helpers/database.js';
import { startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';

let gw: TestGateway;
afterEach(async () => gw?.stop());

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, key?: string, body?: unknown, header: 'bearer' | 'x-api-key' = 'bearer') {
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (key !== undefined) headers[header === 'bearer' ? 'authorization' : 'x-api-key'] = header === 'bearer' ? `Bearer ${key}` : key;
  const res = await gw.app.inject({ method, url, headers, payload: body === undefined ? undefined : JSON.stringify(body) });
  const type = String(res.headers['content-type'] ?? '');
  return { status: res.statusCode, type, body: res.body && type.includes('json') ? res.json() : res.body };
}

describe('API keys with API_KEY_REQUIRED=true', () => {
  it('refuses calls without a key or with a wrong one (401), and leaves health, metrics and provider webhooks open', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true' });
    const none = await call('POST', '/api/sms/send', undefined, { to: [{ number: US }], message: 'hi' });
    expect(none.status).toBe(401);
    expect(none.type).toContain('application/problem+json');
    expect((await call('GET', '/api/sms', 'sgw_not-a-key')).status).toBe(401);
    expect((await call('GET', '/api/simulator/outbox')).status).toBe(401);
    for (const open of ['/health', '/ready', '/metrics']) expect((await call('GET', open)).status, open).toBe(200);
    expect((await call('POST', '/api/webhooks/simulator', undefined, [])).status).toBe(200);
  });

  it('checks scopes (403), accepts Bearer and X-API-Key, and admin implies every scope', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true' });
    const sender = await gw.services.keys.create('sender', ['sms:send']);
    const admin = await gw.services.keys.create('ops', ['admin']);
    expect((await call('POST', '/api/otp/generate', sender.key, { phone_number: { number: US } })).status).toBe(403);
    expect((await call('POST', '/api/sms/send', sender.key, { to: [{ number: US }], message: 'hi' }, 'x-api-key')).status).toBe(200);
    expect((await call('POST', '/api/otp/generate', admin.key, { phone_number: { number: US2 } })).status).toBe(200);
    expect((await call('POST', '/api/keys', sender.key, { name: 'x', scopes: ['read'] })).status).toBe(403);
  });

  it('revokes at once, and never shows a secret after creation', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true' });
    const admin = await gw.services.keys.create('ops', ['admin']);
    const created = await call('POST', '/api/keys', admin.key, { name: 'app', scopes: ['sms:send', 'read'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'app', scopes: ['sms:send', 'read'] });
    expect(created.body.key).toMatch(/^sgw_/);
    expect(created.body.account_sid).toMatch(/^AC[0-9a-f]{32}$/);
    expect((await call('GET', '/api/sms', created.body.key)).status).toBe(200);
    const listed = await call('GET', '/api/keys', admin.key);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect(listed.body.items.find((k: any) => k.id === created.body.id)).toMatchObject({ name: 'app', revoked_at: null });
    expect((await gw.services.store.db.selectFrom('api_keys').select('key_hash').execute()).map((r) => r.key_hash)).not.toContain(created.body.key);
    expect((await call('DELETE', `/api/keys/${created.body.id}`, admin.key)).status).toBe(200);
    expect((await call('GET', '/api/sms', created.body.key)).status).toBe(401);
  });

  it('shows a key without admin only its own messages', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true' });
    const a = await gw.services.keys.create('a', ['sms:send', 'read']);
    const b = await gw.services.keys.create('b', ['sms:send', 'read']);
    const admin = await gw.services.keys.create('ops', ['admin']);
    const sentA = await call('POST', '/api/sms/send', a.key, { to: [{ number: US }], message: 'from a' });
    await call('POST', '/api/sms/send', b.key, { to: [{ number: US2 }], message: 'from b' });
    const mine = await call('GET', '/api/sms', b.key);
    expect(mine.body.items.map((m: any) => m.message)).toEqual(['from b']);
    expect(mine.body.total).toBe(1);
    expect((await call('GET', '/api/sms?provider=simulator', b.key)).body.total).toBe(1);
    expect((await call('GET', `/api/sms/${sentA.body.messages[0].id}`, b.key)).status).toBe(404);
    expect((await call('GET', `/api/sms/batches/${sentA.body.batch_id}`, b.key)).status).toBe(404);
    expect((await call('POST', `/api/sms/${sentA.body.messages[0].id}/cancel`, b.key)).status).toBe(404);
    expect((await call('GET', '/api/sms', admin.key)).body.total).toBe(2);
    const stored = await gw.services.store.db.selectFrom('messages').select(['key_id']).execute();
    expect(stored.map((m) => m.key_id).sort()).toEqual([a.id, b.id].sort());
  });

  it('keeps idempotency keys per API key', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true' });
    const a = await gw.services.keys.create('a', ['sms:send']);
    const b = await gw.services.keys.create('b', ['sms:send']);
    const body = { to: [{ number: US }], message: 'hi' };
    const first = await gw.app.inject({ method: 'POST', url: '/api/sms/send', headers: { 'content-type': 'application/json', authorization: `Bearer ${a.key}`, 'idempotency-key': 'k1' }, payload: JSON.stringify(body) });
    const other = await gw.app.inject({ method: 'POST', url: '/api/sms/send', headers: { 'content-type': 'application/json', authorization: `Bearer ${b.key}`, 'idempotency-key': 'k1' }, payload: JSON.stringify(body) });
    expect(other.statusCode).toBe(200);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.json().batch_id).not.toBe(first.json().batch_id);
  });
});

describe.skipIf(onPostgres)('npm run apikey', () => {
  it('creates, lists and revokes keys on the gateway database, printing the key on a line of its own', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true' });
    const env = { ...process.env, DATABASE_URL: gw.services.config.databaseUrl, LOG_LEVEL: 'silent' };
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'src', 'cli', 'apikey.ts'), ...args], { env, encoding: 'utf8' });
    const created = cli('create', '--name', 'app', '--scopes', 'sms:send,otp');
    expect(created.status).toBe(0);
    const key = created.stdout.split('\n').find((line) => /^sgw_[A-Za-z0-9_-]{43}$/.test(line))!;
    expect(key).toBeDefined();
    expect((await call('POST', '/api/sms/send', key, { to: [{ number: US }], message: 'hi' })).status).toBe(200);
    const id = created.stdout.match(/^id: (\S+)$/m)![1];
    expect(cli('list').stdout).toContain(id);
    expect(cli('revoke', id).status).toBe(0);
    expect((await call('POST', '/api/sms/send', key, { to: [{ number: US }], message: 'hi' })).status).toBe(401);
    expect(cli('create', '--name', 'x', '--scopes', 'everything').status).toBe(64);
  });
});
