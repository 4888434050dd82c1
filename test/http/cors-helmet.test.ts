import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, US } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const ALLOWED = 'https://dashboard.example.com';

function preflight(origin: string, url = '/api/sms/send') {
  return gw!.app.inject({
    method: 'OPTIONS', url,
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization,idempotency-key' },
  });
}

describe('CORS from ALLOWED_ORIGINS (#8)', () => {
  it('answers a preflight from a listed origin with the allow headers, refuses one from another', async () => {
    gw = await startGateway({ ALLOWED_ORIGINS: `${ALLOWED}, https://other.example.org`, API_KEY_REQUIRED: 'true' });
    const ok = await preflight(ALLOWED);
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(String(ok.headers['access-control-allow-methods'])).toContain('POST');
    expect(String(ok.headers['access-control-allow-headers']).split(/,\s*/)).toEqual(['content-type', 'authorization', 'x-api-key', 'idempotency-key']);
    expect(ok.headers.vary).toMatch(/origin/i);

    const refused = await preflight('https://evil.example.net');
    expect(refused.statusCode).toBe(404);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    for (const header of Object.keys(refused.headers)) expect(header).not.toMatch(/^access-control-/);
  });

  it('puts the CORS headers on answers to a listed origin, refusals included, and exposes the rate-limit headers', async () => {
    gw = await startGateway({ ALLOWED_ORIGINS: ALLOWED, API_KEY_REQUIRED: 'true' });
    const { key } = await gw.services.keys.create('web', ['sms:send']);
    const sent = await gw.app.inject({
      method: 'POST', url: '/api/sms/send', headers: { origin: ALLOWED, authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: { to: [{ number: US }], message: 'hi' },
    });
    expect(sent.statusCode).toBe(200);
    expect(sent.headers['access-control-allow-origin']).toBe(ALLOWED);
    const exposed = String(sent.headers['access-control-expose-headers']).toLowerCase().split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after']));
    // A browser can read why it was refused.
    const unauthorized = await gw.app.inject({ method: 'GET', url: '/api/sms', headers: { origin: ALLOWED } });
    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.headers['access-control-allow-origin']).toBe(ALLOWED);
    // Another origin's call still runs (CORS is the browser's rule) but gets no header that would let a page read it.
    const other = await gw.app.inject({ method: 'GET', url: '/health', headers: { origin: 'https://evil.example.net' } });
    expect(other.statusCode).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends no CORS headers at all without ALLOWED_ORIGINS', async () => {
    gw = await startGateway();
    const res = await preflight(ALLOWED);
    expect(res.statusCode).toBe(404);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('security headers (#8)', () => {
  it('puts helmet\'s headers on /health and on API answers', async () => {
    gw = await startGateway();
    for (const url of ['/health', '/api/sms/msg_unknown']) {
      const res = await gw.app.inject({ method: 'GET', url });
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(res.headers['x-powered-by']).toBeUndefined();
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain("frame-ancestors 'self'");
    }
  });

  it('keeps Swagger UI working at /docs under a CSP without inline script', async () => {
    gw = await startGateway({ PUBLIC_URL: 'http://gateway.internal:8000' });
    const page = await gw.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    const scriptSrc = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src '))!;
    expect(scriptSrc).toBe("script-src 'self'");
    expect(csp).toContain("connect-src 'self' http://gateway.internal:8000");
    // Over plain HTTP the page's assets must not be rewritten to https.
    expect(csp).not.toContain('upgrade-insecure-requests');
    // Every script of the page is a file of the same origin, which 'self' allows.
    const scripts = [...page.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, inline] of scripts) {
      expect(attributes).toMatch(/src="/);
      expect(inline.trim()).toBe('');
    }
    for (const [, src] of page.body.matchAll(/src="([^"]+)"/g)) {
      const asset = await gw.app.inject({ method: 'GET', url: new URL(src, 'http://x/docs/').pathname });
      expect(asset.statusCode, src).toBe(200);
    }
    expect((await gw.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
  });

  it('asks browsers to upgrade to https when the gateway is served over https', async () => {
    gw = await startGateway({ PUBLIC_URL: 'https://sms.example.com' });
    const res = await gw.app.inject({ method: 'GET', url: '/health' });
    expect(String(res.headers['content-security-policy'])).toContain('upgrade-insecure-requests');
  });
});

describe('body size limit (#8)', () => {
  it('refuses a 20 MB body with 413 problem+json before the client has finished sending it', async () => {
    gw = await startGateway();
    await gw.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = gw.app.server.address() as { port: number };
    const size = 20 * 1024 * 1024;
    const started = Date.now();

    const outcome = await new Promise<{ reply: string; sentWhenAnswered: number; sent: number }>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      let sentWhenAnswered = -1;
      let reply = '';
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        socket.destroy();
        resolve({ reply, sentWhenAnswered, sent });
      };
      socket.on('data', (d) => {
        if (sentWhenAnswered < 0) sentWhenAnswered = sent;
        reply += d.toString('utf8');
        if (reply.includes('\r\n\r\n') && /"status":413/.test(reply)) done();
      });
      socket.on('error', () => done());
      socket.on('close', () => done());
      const pump = () => {
        while (!finished && sent < size) {
          const more = socket.write(chunk);
          sent += chunk.length;
          if (!more) return void socket.once('drain', pump);
        }
      };
      socket.on('connect', () => {
        socket.write(`POST /api/sms/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n{"to":[{"number":"${US}"}],"message":"`);
        pump();
      });
      setTimeout(() => reject(new Error(`no answer; sent ${sent} bytes`)), 10_000).unref();
    });

    expect(outcome.reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(outcome.reply.toLowerCase()).toContain('content-type: application/problem+json');
    expect(outcome.reply.toLowerCase()).toContain('connection: close');
    const body = JSON.parse(outcome.reply.slice(outcome.reply.indexOf('\r\n\r\n') + 4));
    expect(body).toMatchObject({ status: 413, type: expect.stringContaining('payload-too-large') });
    // Answered from the Content-Length: most of the body had not even left the client.
    expect(outcome.sentWhenAnswered).toBeGreaterThanOrEqual(0);
    expect(outcome.sentWhenAnswered).toBeLessThan(size / 2);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await gw.services.store.db.selectFrom('messages').select('id').execute()).toHaveLength(0);
  });
});
