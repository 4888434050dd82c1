import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services/container.js';
import { freshDatabaseUrl } from '../helpers/database.js';
import { drain, startGateway, testEnv, type TestGateway, US, US2 } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

async function count(table: 'messages' | 'batches' | 'idempotency_keys'): Promise<number> {
  const row = await gw!.services.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Sends raw bytes over a socket and returns what came back, for requests no HTTP client will form. */
function rawRequest(port: number, text: string | Buffer, waitMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => { received += d.toString('utf8'); });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(text);
    setTimeout(() => socket.end(), waitMs);
  });
}

async function listening(overrides: Record<string, string> = {}): Promise<number> {
  gw = await startGateway(overrides);
  await gw.app.listen({ port: 0, host: '127.0.0.1' });
  return (gw.app.server.address() as { port: number }).port;
}

describe('rate limits by matched route (#6.2)', () => {
  it('limits a request line in absolute form like any other', async () => {
    const port = await listening({ RATE_LIMIT_PER_SECOND: '3', RATE_LIMIT_PER_MINUTE: '1000', RATE_LIMIT_PER_HOUR: '1000' });
    const body = JSON.stringify({ to: [{ number: US }], message: 'hi' });
    const request = `POST http://x/api/sms/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const reply = await rawRequest(port, request.replace('Host: x\r\n', 'Host: x\r\nConnection: close\r\n'), 1000);
      statuses.push(Number(reply.slice(9, 12)));
    }
    expect(statuses).toHaveLength(6);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
  });
});

describe('delivery reports move only messages a provider has (#6.3)', () => {
  it('refuses a report on a draft with 409 and changes nothing', async () => {
    gw = await startGateway();
    const batch = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }], message: 'later', send_immediately: false });
    const id = (await get(gw.app, `/api/sms?batch_id=${batch.body.batch_id}`)).body.items[0].id;
    const res = await post(gw.app, `/api/sms/${id}/webhook`, { status: 'sent' });
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('draft');
    expect((await post(gw.app, `/api/sms/${id}/cancel`)).status).toBe(200);
  });

  it('refuses "delivered" on a message scheduled for later, and statuses no provider reports', async () => {
    gw = await startGateway();
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', schedule_at: '2099-01-01T00:00:00Z' });
    const id = res.body.messages[0].id;
    expect((await post(gw.app, `/api/sms/${id}/webhook`, { status: 'delivered' })).status).toBe(409);
    for (const status of ['queued', 'sending', 'expired']) {
      const bad = await post(gw.app, `/api/sms/${id}/webhook`, { status });
      expect(bad.status).toBe(422);
      expect(bad.body.errors[0].field).toBe('status');
    }
    const stored = (await get(gw.app, `/api/sms/${id}`)).body;
    expect(stored).toMatchObject({ status: 'scheduled', cost: null });
  });

  it('still applies a report to a message the provider has', async () => {
    gw = await startGateway({ SIMULATOR_DELIVERY_DELAY_MS: '600000' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    await drain(gw.services);
    const reply = await post(gw.app, `/api/sms/${res.body.messages[0].id}/webhook`, { status: 'delivered' });
    expect(reply.body).toMatchObject({ applied: true, status: 'delivered', previous_status: 'sent' });
  });

  it('needs a key for unsigned reports when keys are required', async () => {
    gw = await startGateway({ API_KEY_REQUIRED: 'true', SIMULATOR_DELIVERY_DELAY_MS: '600000' });
    const { key } = await gw.services.keys.create('app', ['sms:send', 'read']);
    const auth = { authorization: `Bearer ${key}` };
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' }, auth);
    await drain(gw.services);
    const id = res.body.messages[0].id;
    expect((await post(gw.app, `/api/sms/${id}/webhook`, { status: 'delivered' })).status).toBe(401);
    expect((await gw.services.messages.get(id)).status).toBe('sent');
    expect((await post(gw.app, `/api/sms/${id}/webhook`, { status: 'delivered' }, auth)).body).toMatchObject({ applied: true, status: 'delivered' });
  });

  it('warns at start that generic reports are unauthenticated without WEBHOOK_SECRET', async () => {
    gw = await startGateway();
    expect(gw.services.startupWarnings.join('\n')).toMatch(/WEBHOOK_SECRET is not set/);
    await gw.stop();
    gw = await startGateway({ WEBHOOK_SECRET: 'whsec_x' });
    expect(gw.services.startupWarnings.join('\n')).not.toMatch(/WEBHOOK_SECRET/);
  });
});

describe('bad input is a 4xx problem naming the field (#6.4, #6.5)', () => {
  it('refuses offsets past any real table and impossible dates', async () => {
    gw = await startGateway();
    for (const url of ['/api/sms?offset=99999999999999999999', '/api/sms?offset=1e20', '/api/sms?date_from=2016-12-31T23:59:60Z', '/api/analytics/stats?date_from=2016-12-31T23:59:60Z']) {
      const res = await get(gw.app, url);
      expect(res.status, url).toBe(422);
      expect(res.body.errors[0].field).toMatch(/offset|date_from/);
    }
  });

  it('answers too many reports in one request with a 4xx problem, not an SQL error', async () => {
    gw = await startGateway();
    const reports = (n: number) => Array.from({ length: n }, (_, i) => ({ message_sid: `sim_${i}`, status: 'delivered' }));
    // 40,000 reports are more bytes than any provider posts at once: refused unread.
    expect((await post(gw.app, '/api/webhooks/simulator', reports(40_000))).status).toBe(413);
    const res = await post(gw.app, '/api/webhooks/simulator', reports(1_500));
    expect(res.status).toBe(422);
    expect(res.body.errors[0].field).toBe('body');
  });

  it('turns routing and parser errors into problem+json', async () => {
    const port = await listening();
    for (const path of ['/api/sms/%', '/api/sms/%ZZ', '/api/phone/validate/%ED%A0%80', `/api/sms/${'a'.repeat(2000)}`]) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(res.headers.get('content-type'), path).toContain('application/problem+json');
    }
    const longId = await fetch(`http://127.0.0.1:${port}/api/sms/${'a'.repeat(150)}`);
    expect(longId.status).toBe(422);
    expect((await longId.json()).errors[0].field).toBe('sms_id');
    const reply = await rawRequest(port, `GET /health HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${'k'.repeat(20_000)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431/);
    expect(reply).toContain('application/problem+json');
  });
});

describe('JSON bodies are typed and well-formed (#6.6, #6.7)', () => {
  it('refuses numbers, booleans and arrays where text is expected, and text where a number is', async () => {
    gw = await startGateway();
    for (const [field, value] of [['message', 12345], ['message', true], ['message', ['a']], ['priority', '3']] as const) {
      const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'hi', [field]: value });
      expect(res.status, `${field}=${JSON.stringify(value)}`).toBe(422);
      expect(res.body.errors.map((e: any) => e.field)).toContain(field);
    }
    expect(await count('messages')).toBe(0);
    // Query strings are text by nature: numbers in them are still read as numbers.
    expect((await get(gw.app, '/api/sms?limit=5')).body.limit).toBe(5);
  });

  it('refuses lone surrogates and bytes that are not UTF-8, naming the field', async () => {
    gw = await startGateway();
    const surrogate = await post(gw.app, '/api/sms/send', `{"to":[{"number":"${US}"}],"message":"a\\ud800b"}`);
    expect(surrogate.status).toBe(422);
    expect(surrogate.body.errors[0].field).toBe('message');
    const bytes = Buffer.concat([Buffer.from(`{"to":[{"number":"${US}"}],"message":"`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const res = await gw.app.inject({ method: 'POST', url: '/api/sms/send', headers: { 'content-type': 'application/json' }, payload: bytes });
    expect(res.statusCode).toBe(422);
    expect(res.json().errors[0].field).toBe('message');
    expect(await count('messages')).toBe(0);
  });

  it('refuses nesting deeper than any request needs, without walking it', async () => {
    gw = await startGateway();
    const deep = `{"to":[{"number":"${US}"}],"message":"hi","metadata":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const res = await post(gw.app, '/api/sms/send', deep);
    expect(res.status).toBe(422);
    expect(res.body.detail).toMatch(/nested deeper/);
  });
});

describe('number fields hold numbers (#6.8)', () => {
  it('refuses numbers inside free text and numbers with extensions', async () => {
    gw = await startGateway();
    for (const number of ['call +14155552671 now', '+14155552671 ext. 5', 'tel:+14155552671']) {
      const res = await post(gw.app, '/api/sms/send', { to: [{ number }], message: 'hi' });
      expect(res.status, number).toBe(422);
      expect(res.body.errors[0].field).toBe('to[0].number');
    }
    const typed = await post(gw.app, '/api/sms/send', { to: [{ number: '+1 (415) 555-2671' }], message: 'hi' });
    expect(typed.status).toBe(200);
    expect(typed.body.messages[0].to).toBe(US);
    expect((await get(gw.app, `/api/phone/validate/${encodeURIComponent('+14155552671 ext. 5')}`)).body).toMatchObject({ valid: false });
  });
});

describe('keys live outside the database (#6.9)', () => {
  it('keeps no key in the database and writes the key file once, readable by its owner only', async () => {
    gw = await startGateway();
    const secrets = await gw.services.store.db.selectFrom('secrets').select(['name', 'value']).execute();
    expect(secrets.map((s) => s.name).sort()).toEqual(['message_encryption_key_check', 'otp_hash_key_check']);
    const file = gw.services.config.keysFile;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const keys = JSON.parse(readFileSync(file, 'utf8'));
    for (const s of secrets) expect(s.value).not.toBe(keys.otp_hash_key);
  });

  it('says so when the database was used with another OTP hash key', async () => {
    const DATABASE_URL = await freshDatabaseUrl();
    const first = await createServices(loadConfig(await testEnv({ DATABASE_URL, OTP_HASH_KEY: 'the-first-key-0123456789' })));
    expect(first.startupWarnings.join()).not.toMatch(/another OTP hash key/);
    await first.store.close();
    const second = await createServices(loadConfig(await testEnv({ DATABASE_URL, OTP_HASH_KEY: 'another-key-9876543210' })));
    expect(second.startupWarnings.join()).toMatch(/another OTP hash key/);
    await second.store.close();
  });

  it('moves keys an older install kept in the database into the key file', async () => {
    const DATABASE_URL = await freshDatabaseUrl();
    const keysFile = join(mkdtempSync(join(tmpdir(), 'smsgw-keys-')), 'keys.json');
    const before = await createServices(loadConfig(await testEnv({ DATABASE_URL, KEYS_FILE: keysFile })));
    const old = Buffer.alloc(32, 7).toString('base64');
    await before.store.db.deleteFrom('secrets').execute();
    await before.store.db.insertInto('secrets').values({ name: 'otp_hmac_key', value: old, created_at: 1 }).execute();
    await before.store.close();
    const after = await createServices(loadConfig(await testEnv({ DATABASE_URL, KEYS_FILE: `${keysFile}.new` })));
    expect(JSON.parse(readFileSync(`${keysFile}.new`, 'utf8')).otp_hash_key).toBe(old);
    expect(await after.store.db.selectFrom('secrets').select('name').where('name', '=', 'otp_hmac_key').execute()).toEqual([]);
    await after.store.close();
  });
});

describe('slow clients are cut off (#6.10)', () => {
  it('closes a connection whose body trickles past REQUEST_TIMEOUT_MS', async () => {
    const port = await listening({ REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '1000' });
    const started = Date.now();
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (d) => { received += d; });
      socket.on('close', () => resolve(received));
      socket.on('error', () => undefined);
      socket.write('POST /api/sms/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{');
      const trickle = setInterval(() => (socket.writable ? socket.write(' ') : clearInterval(trickle)), 300);
      socket.on('close', () => clearInterval(trickle));
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
  });

  it('refuses connections past MAX_CONNECTIONS_PER_CLIENT', async () => {
    const port = await listening({ MAX_CONNECTIONS_PER_CLIENT: '3' });
    const sockets = await Promise.all(Array.from({ length: 3 }, () => new Promise<ReturnType<typeof connect>>((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
    })));
    await new Promise((r) => setTimeout(r, 100));
    const fourth = await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 500).catch(() => '');
    expect(fourth).toBe('');
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await rawRequest(port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 500)).toMatch(/^HTTP\/1\.1 200/);
  });
});

describe('smaller state bugs (#6.12)', () => {
  it('does not mark a finished batch canceled', async () => {
    gw = await startGateway();
    const res = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: US2 }], message: 'hi' });
    await drain(gw.services);
    const cancel = await post(gw.app, `/api/sms/batches/${res.body.batch_id}/cancel`);
    expect(cancel.status).toBe(409);
    expect((await get(gw.app, `/api/sms/batches/${res.body.batch_id}`)).body.status).toBe('completed');
  });

  it('treats one Idempotency-Key as one request across endpoints, and compares bodies in canonical form', async () => {
    gw = await startGateway();
    const headers = { 'idempotency-key': 'order-42' };
    const first = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'hi', sms_type: 'alert' }, headers);
    const reordered = await post(gw.app, '/api/sms/send', { sms_type: 'alert', message: 'hi', to: [{ number: US }] }, headers);
    expect(reordered.status).toBe(200);
    expect(reordered.headers['idempotent-replayed']).toBe('true');
    expect(reordered.body.batch_id).toBe(first.body.batch_id);
    const other = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }], message: 'hi', sms_type: 'alert' }, headers);
    expect(other.status).toBe(409);
    expect(await count('messages')).toBe(1);
  });
});

describe('bounded cost per request (#6.1)', () => {
  it('refuses oversized metadata and variables, naming them, and stores shared metadata once', async () => {
    gw = await startGateway();
    const big = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'hi', metadata: { note: 'x'.repeat(501) } });
    expect(big.status).toBe(422);
    expect(big.body.errors[0].field).toBe('metadata.note');
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'hi', metadata: many })).status).toBe(422);
    const heavy = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'y'.repeat(450)]));
    expect((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'hi', metadata: heavy })).body.errors[0].field).toBe('metadata');
    const variable = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'hi {{v}}', template_variables: { v: 'z'.repeat(10_001) } });
    expect(variable.status).toBe(422);
    expect(variable.body.errors[0].field).toBe('template_variables.v');
    expect(await count('messages')).toBe(0);

    const ok = await post(gw.app, '/api/sms/send-batch', { recipients: [{ number: US }, { number: US2 }], message: 'hi', metadata: { campaign: 'welcome' } });
    const rows = await gw.services.store.db.selectFrom('messages').select('metadata').execute();
    expect(rows.map((r) => r.metadata)).toEqual([null, null]);
    const listed = (await get(gw.app, `/api/sms?batch_id=${ok.body.batch_id}`)).body.items;
    expect(listed.map((m: any) => m.metadata)).toEqual([{ campaign: 'welcome' }, { campaign: 'welcome' }]);
  });

  it('stops rendering once a text is over MAX_MESSAGE_LENGTH', async () => {
    gw = await startGateway({ MAX_MESSAGE_LENGTH: '160' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: '{{v}}{{v}}{{v}}', template_variables: { v: 'w'.repeat(9000) } });
    expect(res.status).toBe(422);
    expect(res.body.errors[0].message).toMatch(/MAX_MESSAGE_LENGTH/);
  });

  it('refuses a body larger than the route needs with 413 problem+json', async () => {
    gw = await startGateway();
    const res = await post(gw.app, '/api/otp/generate', { phone_number: { number: US }, metadata: { a: 'x'.repeat(70_000) } });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });
});
