import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onPostgres } from './helpers/database.js';
import { exited, freePort, outboxCopies, spawnGateway, waitForBatch, waitForHealth } from './helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'smsgw-split-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(onPostgres)('API and worker as separate processes', () => {
  it('an API process without dispatch and two `npm run worker` processes share one database, sending each message once', async () => {
    const shared = {
      DATABASE_URL: `sqlite:${join(dir, 'gateway.db')}`, SIMULATOR_DELIVERY_DELAY_MS: '50', SIMULATOR_LATENCY_MS: '5',
      RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_PER_HOUR: '10000000', DISPATCH_BATCH_SIZE: '25',
    };
    const port = await freePort();
    const api = spawnGateway('src/main.ts', { ...shared, PORT: String(port), RUN_WORKER: 'false' });
    children.push(api);
    await waitForHealth(port);
    const base = `http://127.0.0.1:${port}`;
    const recipients = Array.from({ length: 300 }, (_, i) => ({ number: `+1415555${String(2000 + i).padStart(4, '0')}` }));
    const res = await fetch(`${base}/api/sms/send-batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recipients, message: 'split' }) });
    const { batch_id } = await res.json();
    // Nothing moves without a worker.
    await new Promise((r) => setTimeout(r, 300));
    expect((await (await fetch(`${base}/api/sms/batches/${batch_id}`)).json()).counts).toEqual({ queued: 300 });

    const workers = [spawnGateway('src/worker-main.ts', shared), spawnGateway('src/worker-main.ts', shared)];
    children.push(...workers);
    const batch = await waitForBatch(base, batch_id, 30_000);
    for (const child of [api, ...workers]) child.kill('SIGTERM');
    await Promise.all([api, ...workers].map(exited));
    expect(batch.counts).toEqual({ delivered: 300 });
    const copies = outboxCopies(join(dir, 'gateway.db'));
    expect(copies).toHaveLength(300);
    expect(copies.filter((n) => n !== 1)).toEqual([]);
  }, 90_000);
});
