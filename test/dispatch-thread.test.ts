import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createGateway } from '../src/gateway.js';
import { onPostgres } from './helpers/database.js';
import { testEnv } from './helpers/gateway.js';
import { exited, freePort, outboxCopies, spawnGateway, waitForBatch, waitForHealth } from './helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'smsgw-thread-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const limits = { DISPATCH_THREAD: 'true', RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_PER_HOUR: '10000000', MAX_SMS_PER_NUMBER_PER_HOUR: '1000000' };

// DISPATCH_THREAD=true: one process, the API on the main thread, dispatch on a thread of its own.
describe.skipIf(onPostgres)('the dispatch thread (DISPATCH_THREAD=true)', () => {
  it('sends everything once, and /metrics and GET /api/providers show what the sending thread did', async () => {
    const database = join(dir, 'gateway.db');
    const port = await freePort();
    const gateway = spawnGateway('src/main.ts', { ...limits, DATABASE_URL: `sqlite:${database}`, PORT: String(port), SIMULATOR_DELIVERY_DELAY_MS: '0' });
    children.push(gateway);
    await waitForHealth(port);
    const base = `http://127.0.0.1:${port}`;
    const recipients = Array.from({ length: 200 }, (_, i) => ({ number: `+1415555${String(6000 + i)}` }));
    const { batch_id } = await (await fetch(`${base}/api/sms/send-batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recipients, message: 'thread' }) })).json();
    const batch = await waitForBatch(base, batch_id, 30_000);
    expect(batch.counts).toEqual({ delivered: 200 });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    // Accepted on the API thread, sent and delivered on the dispatch thread: one exposition.
    expect(metrics).toContain('sms_messages_accepted_total{provider="simulator",sms_type="transactional"} 200');
    expect(metrics).toContain('sms_messages_sent_total{provider="simulator",sms_type="transactional"} 200');
    expect(metrics).toContain('sms_messages_delivered_total{provider="simulator"} 200');
    // Counted by both threads in SQL, shown once.
    expect(metrics).toMatch(/sms_queue_depth\{status="queued"\} 0\n/);
    expect(metrics.match(/^process_cpu_user_seconds_total /gm)).toHaveLength(1);
    const simulator = (await (await fetch(`${base}/api/providers`)).json()).items.find((p: { name: string }) => p.name === 'simulator');
    expect(simulator.recent.attempts).toBe(200);
    expect(simulator.circuit).toBe('closed');

    gateway.kill('SIGTERM');
    await exited(gateway);
    expect(gateway.exitCode).toBe(0);
    const copies = outboxCopies(database);
    expect(copies).toHaveLength(200);
    expect(copies.filter((n) => n !== 1)).toEqual([]);
  }, 180_000);

  it('SIGTERM lets the thread finish its sends in flight before the process exits', async () => {
    const database = join(dir, 'slow.db');
    const port = await freePort();
    const gateway = spawnGateway('src/main.ts', { ...limits, DATABASE_URL: `sqlite:${database}`, PORT: String(port), SIMULATOR_LATENCY_MS: '1500', SIMULATOR_DELIVERY_DELAY_MS: '0' });
    children.push(gateway);
    await waitForHealth(port);
    const base = `http://127.0.0.1:${port}`;
    const recipients = Array.from({ length: 5 }, (_, i) => ({ number: `+1415555${String(7000 + i)}` }));
    const { batch_id } = await (await fetch(`${base}/api/sms/send-batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recipients, message: 'slow' }) })).json();
    const deadline = Date.now() + 60_000;
    while (((await (await fetch(`${base}/api/sms/batches/${batch_id}`)).json()).counts.sending ?? 0) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    gateway.kill('SIGTERM');
    await exited(gateway);
    expect(gateway.exitCode).toBe(0);
    const db = new Database(database, { readonly: true });
    const statuses = (db.prepare('select status from messages').all() as Array<{ status: string }>).map((r) => r.status);
    db.close();
    // Each send was with the simulator when the signal came: all five came back and were stored.
    expect(statuses).toHaveLength(5);
    expect(statuses.filter((s) => s !== 'sent' && s !== 'delivered')).toEqual([]);
  }, 180_000);

  it('a dispatch thread that dies is started again; the API keeps writing meanwhile, and what it accepted is sent', async () => {
    const env = await testEnv({ DATABASE_URL: `sqlite:${join(dir, 'restart.db')}`, RUN_WORKER: 'true', DISPATCH_THREAD: 'true' });
    const gateway = await createGateway(loadConfig(env));
    await gateway.start();
    try {
      const send = async (number: string) => {
        const res = await gateway.app.inject({ method: 'POST', url: '/api/sms/send', payload: { to: [{ number }], message: 'restart' } });
        expect(res.statusCode, res.body).toBe(200);
        return res.json().messages[0].id as string;
      };
      const statusOf = async (id: string) => (await gateway.app.inject({ method: 'GET', url: `/api/sms/${id}` })).json().status as string;
      const until = async (id: string, status: string) => {
        for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (await statusOf(id) === status) return;
        throw new Error(`${id} is ${await statusOf(id)}, not ${status}`);
      };
      await until(await send('+14155558001'), 'delivered');

      const first = gateway.dispatchThread()!;
      const worker = (first as unknown as { worker: Worker }).worker;
      // Killed mid-work: sends keep coming, so it may die holding the write turn.
      const during = Promise.all(Array.from({ length: 20 }, (_, i) => send(`+141555581${String(i).padStart(2, '0')}`)));
      await worker.terminate();
      const accepted = await during;
      // The API writes at once, whatever the thread held when it died.
      const after = await send('+14155558200');
      // A new thread (the same DispatchThread, a new worker) sends them all.
      for (const id of [...accepted, after]) await until(id, 'delivered');
      expect((first as unknown as { worker: Worker }).worker).not.toBe(worker);
    } finally {
      await gateway.stop();
    }
  }, 120_000);
});
