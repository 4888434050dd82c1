import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveAuditSpec } from '../../src/http/audit.js';
import { AuditStore } from '../../src/store/audit-store.js';
import type { GroupCommit } from '../../src/store/group-commit.js';
import { createStore } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrations.js';
import { freshDatabaseUrl, dropDatabase } from '../helpers/database.js';
import { drain, startGateway, type TestGateway, US } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

async function call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, key?: string, body?: unknown) {
  const res = await gw!.app.inject({
    method, url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, body: res.body ? res.json() : undefined };
}

async function withKeys(overrides: Record<string, string> = {}) {
  gw = await startGateway({ API_KEY_REQUIRED: 'true', ...overrides });
  const admin = await gw.services.keys.create('admin', ['admin']);
  const sender = await gw.services.keys.create('sender', ['sms:send', 'otp', 'read']);
  return { admin, sender };
}

describe('audit log (#8)', () => {
  it('records writes, refused ones included, with key, action, resource id, status and address; reads and webhooks are not audited', async () => {
    const { admin, sender } = await withKeys();
    const sent = await call('POST', '/api/sms/send', sender.key, { to: [{ number: US }], message: 'top secret body' });
    expect(sent.status).toBe(200);
    expect((await call('POST', '/api/sms/send', undefined, { to: [{ number: US }], message: 'no key' })).status).toBe(401);
    expect((await call('POST', '/api/keys', sender.key, { name: 'x', scopes: ['read'] })).status).toBe(403);
    expect((await call('POST', '/api/sms/send', sender.key, { to: [{ number: 'not a number' }], message: 'x' })).status).toBe(422);
    const made = await call('POST', '/api/keys', admin.key, { name: 'temp', scopes: ['read'] });
    expect(made.status).toBe(201);
    expect((await call('DELETE', `/api/keys/${made.body.id}`, admin.key)).status).toBe(200);
    // Not audited: reads, provider traffic.
    expect((await call('GET', `/api/sms/${sent.body.messages[0].id}`, sender.key)).status).toBe(200);
    await call('POST', `/api/sms/${sent.body.messages[0].id}/webhook`, sender.key, { status: 'delivered' });
    await call('POST', '/api/webhooks/simulator', undefined, []);

    const audit = await call('GET', '/api/audit', admin.key);
    expect(audit.status).toBe(200);
    expect(audit.body.total).toBe(6);
    const rows = audit.body.items.map(({ id, time, ...rest }: Record<string, unknown>) => {
      expect(id).toMatch(/^aud_/);
      expect(Date.parse(time as string)).toBeGreaterThan(Date.now() - 60_000);
      return rest;
    });
    // Newest first.
    expect(rows).toEqual([
      { key_id: admin.id, action: 'keys.delete', resource: 'key', resource_id: made.body.id, result: 200, ip: '127.0.0.1' },
      { key_id: admin.id, action: 'keys.create', resource: 'key', resource_id: made.body.id, result: 201, ip: '127.0.0.1' },
      { key_id: sender.id, action: 'sms.send', resource: 'batch', resource_id: null, result: 422, ip: '127.0.0.1' },
      { key_id: sender.id, action: 'keys.create', resource: 'key', resource_id: null, result: 403, ip: '127.0.0.1' },
      { key_id: null, action: 'sms.send', resource: 'batch', resource_id: null, result: 401, ip: '127.0.0.1' },
      { key_id: sender.id, action: 'sms.send', resource: 'batch', resource_id: sent.body.batch_id, result: 200, ip: '127.0.0.1' },
    ]);
    // Never a body or a key, whatever the reply held (the new key's secret was in the 201).
    const stored = JSON.stringify(await gw!.services.store.db.selectFrom('audit_log').selectAll().execute());
    expect(stored).not.toContain('top secret body');
    expect(stored).not.toContain(made.body.key);
    expect(stored).not.toContain(sender.key);
  });

  it('is admin only, filters by action, key and time, pages newest first, limit at most 500', async () => {
    const { admin, sender } = await withKeys();
    expect((await call('GET', '/api/audit', sender.key)).status).toBe(403);
    for (let i = 0; i < 3; i++) await call('POST', '/api/sms/send', sender.key, { to: [{ number: US }], message: `hello ${i}` });
    await new Promise((r) => setTimeout(r, 5));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    await call('POST', '/api/templates', admin.key, { name: 'welcome', content: 'Hi {{name}}' });

    const sends = (await call('GET', '/api/audit?action=sms.send&limit=2', admin.key)).body;
    expect(sends.total).toBe(3);
    expect(sends.items).toHaveLength(2);
    const next = (await call('GET', '/api/audit?action=sms.send&limit=2&offset=2', admin.key)).body;
    expect(next.items).toHaveLength(1);
    const ids = [...sends.items, ...next.items].map((r: { id: string }) => r.id);
    expect(ids).toEqual([...ids].sort().reverse());

    expect((await call('GET', `/api/audit?key_id=${admin.id}`, admin.key)).body.items.map((r: any) => r.action)).toEqual(['templates.create']);
    expect((await call('GET', `/api/audit?key_id=${sender.id}`, admin.key)).body.total).toBe(3);
    expect((await call('GET', `/api/audit?date_from=${encodeURIComponent(between)}`, admin.key)).body.items.map((r: any) => r.action)).toEqual(['templates.create']);
    expect((await call('GET', `/api/audit?date_to=${encodeURIComponent(between)}`, admin.key)).body.total).toBe(3);

    for (const bad of ['limit=501', 'limit=0', 'date_from=yesterday', 'offset=-1']) {
      const res = await call('GET', `/api/audit?${bad}`, admin.key);
      expect(res.status, bad).toBe(422);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('audits rate-limited calls and OTP sessions, never the code; a number as id is masked', async () => {
    gw = await startGateway();
    // Ten digits, so the code cannot turn up by chance in the stored timestamps and hashes.
    const otp = await call('POST', '/api/otp/generate', undefined, { phone_number: { number: US }, length: 10 });
    expect(otp.status).toBe(200);
    await drain(gw.services);
    const code = (await call('GET', `/api/simulator/outbox?to=${encodeURIComponent(US)}`)).body.items[0].body.match(/\d{10}/)[0];
    expect((await call('POST', '/api/otp/verify', undefined, { phone_number: { number: US }, otp_code: code })).body.verified).toBe(true);
    expect((await call('POST', '/api/opt-outs', undefined, { number: US })).status).toBe(201);
    expect((await call('DELETE', `/api/opt-outs/${encodeURIComponent(US)}`)).status).toBe(204);

    const rows = (await call('GET', '/api/audit')).body.items;
    expect(rows.map((r: any) => [r.action, r.resource, r.resource_id, r.result, r.key_id])).toEqual([
      ['opt_outs.delete', 'opt_out', '+*******2671', 204, null],
      ['opt_outs.create', 'opt_out', '+*******2671', 201, null],
      ['otp.verify', 'otp_session', otp.body.session_id, 200, null],
      ['otp.generate', 'otp_session', otp.body.session_id, 200, null],
    ]);
    const stored = JSON.stringify(await gw!.services.store.db.selectFrom('audit_log').selectAll().execute());
    expect(stored).not.toContain(code);
    expect(stored).not.toContain(US);
  });

  it('audits a call refused by the rate limit', async () => {
    gw = await startGateway({ RATE_LIMIT_PER_SECOND: '2', RATE_LIMIT_PER_MINUTE: '1000', RATE_LIMIT_PER_HOUR: '1000' });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('POST', '/api/sms/send', undefined, { to: [{ number: US }], message: 'hi' })).status);
    expect(statuses).toEqual([200, 200, 429]);
    const rows = await gw.services.store.db.selectFrom('audit_log').selectAll().execute();
    await new Promise((r) => setTimeout(r, 300));
    const later = await gw.services.store.db.selectFrom('audit_log').select(['action', 'result']).orderBy('id').execute();
    // Written by the timer (within ~100 ms), without anyone reading the log.
    expect(rows.length).toBeLessThanOrEqual(3);
    expect(later.map((r) => [r.action, Number(r.result)])).toEqual([['sms.send', 200], ['sms.send', 200], ['sms.send', 429]]);
  });

  it('records a call whose client hung up before the answer', async () => {
    gw = await startGateway();
    await gw.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = gw.app.server.address() as { port: number };
    const body = JSON.stringify({ to: [{ number: US }], message: 'hi' });
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.end(`POST /api/sms/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, () => {
          socket.destroy();
          resolve();
        });
      });
    });
    let rows: any[] = [];
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      rows = (await call('GET', '/api/audit')).body.items;
    }
    const [message] = await gw.services.store.db.selectFrom('messages').select('batch_id').execute();
    expect(rows).toMatchObject([{ action: 'sms.send', resource_id: message.batch_id, result: 200 }]);
  });

  it('writes what is buffered when the app closes', async () => {
    const databaseUrl = await freshDatabaseUrl();
    gw = await startGateway({ DATABASE_URL: databaseUrl });
    for (let i = 0; i < 5; i++) await call('POST', '/api/sms/send', undefined, { to: [{ number: US }], message: 'hi' });
    await gw.stop();
    gw = undefined;
    const store = createStore(databaseUrl);
    try {
      const rows = await store.db.selectFrom('audit_log').select('action').execute();
      expect(rows).toHaveLength(5);
    } finally {
      await store.close();
      await dropDatabase(databaseUrl);
    }
  });
});

describe('audit store', () => {
  async function withStore<T>(fn: (store: ReturnType<typeof createStore>) => Promise<T>): Promise<T> {
    const url = await freshDatabaseUrl();
    const store = createStore(url, 'normal');
    await migrate(store.db, store.dialect);
    try {
      return await fn(store);
    } finally {
      await store.close();
      await dropDatabase(url);
    }
  }
  const entry = (i: number) => ({ keyId: null, action: 'sms.send', resource: 'batch', resourceId: `bat_${i}`, result: 200, ip: '127.0.0.1' });

  it('has no way to change or remove a row', () => {
    const methods = Object.getOwnPropertyNames(AuditStore.prototype);
    expect(methods.filter((m) => /update|delete|remove|clear|truncate|purge|set/i.test(m))).toEqual([]);
  });

  it('writes a full buffer at once, in multi-row inserts, and keeps rows the database refused', async () => {
    await withStore(async (store) => {
      let inserts = 0;
      let refuse = true;
      const commits = {
        run: (job: (trx: any) => Promise<unknown>) => store.db.transaction().execute(async (trx) => {
          if (refuse) throw new Error('database unavailable');
          const counting = new Proxy(trx, {
            get: (target, name) => (name === 'insertInto' ? (...args: unknown[]) => { inserts++; return (target as any).insertInto(...args); } : (target as any)[name]),
          });
          return job(counting);
        }),
      } as unknown as GroupCommit;
      const errors: unknown[] = [];
      const audit = new AuditStore(store.db, commits, (err) => errors.push(err), { flushIntervalMs: 60_000, maxBatch: 500, maxPending: 10_000 });
      for (let i = 0; i < 120; i++) audit.append(entry(i));
      await expect(audit.flush()).rejects.toThrow('database unavailable');
      expect(errors).toHaveLength(1);
      refuse = false;
      for (let i = 120; i < 1234; i++) audit.append(entry(i));
      await audit.close();
      const { items, total } = await audit.list({}, 500, 0);
      expect(total).toBe(1234);
      // 1234 rows = 2×500 + 2×100 + 20 + 5 + 5 + 1 + 1 + 1 + 1: a few statement shapes, never one insert per row.
      expect(inserts).toBeLessThan(15);
      expect(items[0].resource_id).toBe('bat_1233');
    });
  });

  it('after an outage writes the backlog a batch to a transaction, oldest first, letting other writes in between', async () => {
    await withStore(async (store) => {
      let refuse = true;
      const transactions: number[] = [];
      const between: number[] = [];
      let other: Promise<unknown> | undefined;
      const commits = {
        run: (job: (trx: any) => Promise<unknown>) => store.db.transaction().execute(async (trx) => {
          if (refuse) throw new Error('database unavailable');
          const before = Number((await trx.selectFrom('audit_log').select((eb: any) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow() as { n: number }).n);
          await job(trx);
          const after = Number((await trx.selectFrom('audit_log').select((eb: any) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow() as { n: number }).n);
          transactions.push(after - before);
          // Another writer asks for its turn during the first transaction: it must get one before the backlog is done.
          other ??= new Promise((r) => setImmediate(r)).then(() => { between.push(transactions.length); });
        }),
      } as unknown as GroupCommit;
      const audit = new AuditStore(store.db, commits, () => undefined, { flushIntervalMs: 60_000, maxBatch: 500, maxPending: 10_000 });
      for (let i = 0; i < 1234; i++) audit.append(entry(i));
      await expect(audit.flush()).rejects.toThrow('database unavailable');
      refuse = false;
      await audit.flush();
      expect(transactions).toEqual([500, 500, 234]);
      expect(between).toEqual([1]);
      const { items, total } = await audit.list({}, 500, 0);
      expect(total).toBe(1234);
      expect(items[0].resource_id).toBe('bat_1233');
      expect(items[499].resource_id).toBe('bat_734');
    });
  });

  it('stores ids safely: valid Unicode, no control characters, bounded', async () => {
    await withStore(async (store) => {
      const audit = new AuditStore(store.db, { run: (job: any) => store.db.transaction().execute(job) } as unknown as GroupCommit);
      audit.append({ ...entry(0), resourceId: `a\u0000b\ud800${'x'.repeat(500)}` });
      await audit.flush();
      const [row] = (await audit.list({}, 1, 0)).items;
      expect(row.resource_id).toMatch(/^a\ufffdb\ufffdx+…$/);
      expect(row.resource_id!.length).toBe(200);
    });
  });
});

describe('audit action names', () => {
  it('derives a stable name for routes not listed', () => {
    expect(deriveAuditSpec('DELETE', '/api/widgets/:widget_id')).toEqual({ action: 'widgets.delete', resource: 'widgets' });
    expect(deriveAuditSpec('POST', '/api/widgets')).toEqual({ action: 'widgets.create', resource: 'widgets' });
    expect(deriveAuditSpec('PUT', '/api/widgets/:id')).toEqual({ action: 'widgets.update', resource: 'widgets' });
    expect(deriveAuditSpec('POST', '/api/widgets/:id/archive')).toEqual({ action: 'widgets.archive', resource: 'widgets' });
    expect(deriveAuditSpec('POST', '/api/phone-books/:phone_number')).toEqual({ action: 'phone_books.create', resource: 'phone_books', phoneNumber: true });
  });
});
