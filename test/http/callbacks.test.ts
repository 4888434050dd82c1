import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { dropDatabase, freshDatabaseUrl } from '../helpers/database.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

const SECRET = 'whsec_callbacks';

interface Received {
  body: any;
  raw: string;
  signature: string;
}

let server: Server;
let url: string;
let received: Received[];
let failNext: number;
let databaseUrl: string;
const gateways: TestGateway[] = [];

beforeEach(async () => {
  received = [];
  failNext = 0;
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(500).end();
        return;
      }
      received.push({ body: JSON.parse(raw), raw, signature: String(req.headers['x-webhook-signature']) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as any).port}/hook`;
  databaseUrl = await freshDatabaseUrl();
});

afterEach(async () => {
  for (const g of gateways.splice(0)) await g.stop();
  await dropDatabase(databaseUrl);
  server.close();
});

async function gateway(env: Record<string, string> = {}) {
  const g = await startGateway({
    DATABASE_URL: databaseUrl, WEBHOOK_SECRET: SECRET, CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true',
    WEBHOOK_RETRY_DELAY: '0', WEBHOOK_RETRY_ATTEMPTS: '3', ...env,
  });
  gateways.push(g);
  return g;
}

describe('status callbacks', () => {
  it('posts every status change, signed over "t.body"', async () => {
    const gw = await gateway();
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url: url, custom_id: 'c1', metadata: { order: 7 } });
    await drain(gw.services);
    expect(received.map((r) => r.body.status)).toEqual(['sending', 'sent', 'delivered']);
    const last = received[2];
    expect(last.body).toMatchObject({
      event: 'message.status', message_id: res.body.messages[0].id, batch_id: res.body.batch_id, custom_id: 'c1',
      status: 'delivered', previous_status: 'sent', error_code: null, metadata: { order: 7 },
    });
    const [, t, v1] = last.signature.match(/^t=(\d+),v1=([0-9a-f]{64})$/)!;
    expect(v1).toBe(createHmac('sha256', SECRET).update(`${t}.${last.raw}`).digest('hex'));
    expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('retries a failing receiver and records each attempt', async () => {
    const gw = await gateway();
    failNext = 2;
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url: url });
    for (let i = 0; i < 5; i++) await drain(gw.services);
    expect(received.map((r) => r.body.status)).toEqual(expect.arrayContaining(['sending', 'sent', 'delivered']));
    expect(received).toHaveLength(3);
    const attempts = (await get(gw.app, `/api/sms/${res.body.messages[0].id}/callbacks`)).body.items as any[];
    expect(attempts.filter((a) => a.status_code === 500)).toHaveLength(2);
    expect(attempts[0]).toMatchObject({ url, event_status: 'sending', attempt: 1, status_code: 500, error: 'HTTP 500' });
    expect(attempts.filter((a) => a.status_code === 204)).toHaveLength(3);
  });

  it('gives up after WEBHOOK_RETRY_ATTEMPTS retries', async () => {
    const gw = await gateway({ WEBHOOK_RETRY_ATTEMPTS: '2', SIMULATOR_DELIVERY_DELAY_MS: '600000' });
    failNext = 1000;
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url: url });
    for (let i = 0; i < 5; i++) await drain(gw.services);
    const attempts = await gw.services.callbacks.attemptsFor(res.body.messages[0].id);
    // Two callbacks (sending, sent), each tried once and retried twice.
    expect(attempts).toHaveLength(6);
    expect(new Set(attempts.map((a) => a.status))).toEqual(new Set(['failed']));
  });

  it('keeps pending callbacks across a restart', async () => {
    const first = await gateway({ SIMULATOR_DELIVERY_DELAY_MS: '600000' });
    failNext = 1000;
    await post(first.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url: url });
    await drain(first.services, 3);
    await first.stop();
    gateways.splice(gateways.indexOf(first), 1);
    failNext = 0;
    const second = await gateway({ SIMULATOR_DELIVERY_DELAY_MS: '600000' });
    await drain(second.services);
    expect(received.map((r) => r.body.status).sort()).toEqual(['sending', 'sent']);
  });

  it('refuses private addresses at delivery unless allowed', async () => {
    const first = await gateway({ SIMULATOR_DELIVERY_DELAY_MS: '600000' });
    const res = await post(first.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url: url });
    await first.stop();
    gateways.splice(gateways.indexOf(first), 1);
    const strict = await gateway({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'false', SIMULATOR_DELIVERY_DELAY_MS: '600000' });
    await drain(strict.services);
    expect(received).toHaveLength(0);
    const attempts = await strict.services.callbacks.attemptsFor(res.body.messages[0].id);
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.every((a) => a.status === 'refused' && /private/.test(a.error ?? ''))).toBe(true);
    const refusedAtAccept = await post(strict.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url: url });
    expect(refusedAtAccept.status).toBe(422);
  });
});
