/**
 * The dashboard's files as the gateway serves them (src/http/routes/dashboard.ts), over a small
 * build of our own: the SPA fallback, content types, cache headers, compression, and the answer
 * when there is no build.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { createServices, type Services } from '../../src/services/container.js';
import { dropDatabase } from '../helpers/database.js';
import { testEnv } from '../helpers/gateway.js';

const INDEX = '<!doctype html><html lang="en"><head><script type="module" src="/dashboard/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;

let services: Services;
let databaseUrl: string;
let built: FastifyInstance;
let unbuilt: FastifyInstance;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'smsgw-dashboard-'));
  mkdirSync(join(dir, 'dist', 'assets'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'index.html'), INDEX);
  writeFileSync(join(dir, 'dist', 'assets', 'index-abc123.js'), SCRIPT);
  writeFileSync(join(dir, 'dist', 'assets', 'index-def456.css'), 'body{color:red}');
  writeFileSync(join(dir, 'dist', 'robots.txt'), 'User-agent: *\nDisallow: /\n');
  const env = await testEnv();
  databaseUrl = env.DATABASE_URL;
  services = await createServices(loadConfig(env));
  built = await buildApp(services, { dashboardDir: join(dir, 'dist') });
  unbuilt = await buildApp(services, { dashboardDir: join(dir, 'nothing-here') });
});

afterAll(async () => {
  await built?.close();
  await unbuilt?.close();
  await services?.wakeUps.close();
  await services?.sharedCounters.close();
  await services?.store.close();
  if (databaseUrl) await dropDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /dashboard', () => {
  it('serves index.html at /dashboard and at every page URL, revalidated on each visit', async () => {
    for (const url of ['/dashboard', '/dashboard/', '/dashboard/messages', '/dashboard/messages/msg_01abc', '/dashboard/templates?id=welcome', '/dashboard/no/such/page']) {
      const res = await built.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type'], url).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control'], url).toBe('no-cache');
      expect(res.body, url).toBe(INDEX);
    }
  });

  it('serves hashed assets with their type and a year of immutable caching', async () => {
    const js = await built.inject({ method: 'GET', url: '/dashboard/assets/index-abc123.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body).toBe(SCRIPT);
    const css = await built.inject({ method: 'GET', url: '/dashboard/assets/index-def456.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const txt = await built.inject({ method: 'GET', url: '/dashboard/robots.txt' });
    expect(txt.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(txt.headers['cache-control']).toBe('no-cache');
  });

  it('answers a missing asset with a 404 problem, never with index.html (a browser would run HTML as a script)', async () => {
    for (const url of ['/dashboard/assets/index-gone99.js', '/dashboard/favicon.ico', '/dashboard/assets/']) {
      const res = await built.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/);
    }
  });

  it('never reads outside the build, whatever the path says', async () => {
    for (const url of ['/dashboard/../package.json', '/dashboard/%2e%2e/%2e%2e/package.json', '/dashboard/assets/..%2f..%2fpackage.json']) {
      const res = await built.inject({ method: 'GET', url });
      expect(res.body, url).not.toContain('"dependencies"');
    }
  });

  it('sends gzip to clients that take it, and 304 for a copy it already has', async () => {
    const zipped = await built.inject({ method: 'GET', url: '/dashboard/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('accept-encoding');
    expect(gunzipSync(zipped.rawPayload).toString()).toBe(SCRIPT);
    expect(zipped.rawPayload.length).toBeLessThan(SCRIPT.length / 10);
    const again = await built.inject({ method: 'GET', url: '/dashboard/assets/index-abc123.js', headers: { 'if-none-match': String(zipped.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('carries the gateway\'s Content-Security-Policy: scripts only from the gateway itself, none inline', async () => {
    const res = await built.inject({ method: 'GET', url: '/dashboard/messages' });
    const csp = String(res.headers['content-security-policy']);
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]));
    expect(directives.get('script-src')).toBe("'self'");
    expect(directives.get('default-src')).toBe("'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('says how to build it when there is no build (404: the API still works)', async () => {
    const res = await unbuilt.inject({ method: 'GET', url: '/dashboard/messages' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ title: 'Dashboard not built' });
    expect(res.json().detail).toContain('npm run build:dashboard');
    expect((await unbuilt.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});
