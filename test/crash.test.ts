import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { onPostgres } from './helpers/database.js';
import { exited, freePort, outboxCopies, spawnGateway, waitForBatch, waitForHealth } from './helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'smsgw-crash-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function startProcess(port: number): Promise<ChildProcess> {
  const child = spawnGateway('src/main.ts', {
    PORT: String(port),
    DATABASE_URL: `sqlite:${join(dir, 'gateway.db')}`,
    // Slow sending so the kill lands while messages are queued and in flight.
    SIMULATOR_MAX_PER_SECOND: '150', RATE_LIMIT_PER_SECOND: '1000', RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_HOUR: '1000000',
    SIMULATOR_LATENCY_MS: '150', SIMULATOR_DELIVERY_DELAY_MS: '100',
    PROVIDER_TIMEOUT: '1', DISPATCH_LEASE_SECONDS: '2',
  });
  children.push(child);
  await waitForHealth(port);
  return child;
}

// Spawns the real server on an SQLite file; the PostgreSQL run covers the same paths in-process.
describe.skipIf(onPostgres)('crash and restart', () => {
  it('every accepted message reaches a final state, sent exactly once', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const first = await startProcess(port);
    const recipients = Array.from({ length: 400 }, (_, i) => ({ number: `+1415555${String(1000 + i).padStart(4, '0')}` }));
    const res = await fetch(`${base}/api/sms/send-batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recipients, message: 'crash test' }) });
    expect(res.status).toBe(200);
    const { batch_id } = await res.json();

    // Kill while some messages are out, some are in the provider's hands and some still wait.
    for (let i = 0; i < 500; i++) {
      const { counts } = await (await fetch(`${base}/api/sms/batches/${batch_id}`)).json();
      if ((counts.sent ?? 0) + (counts.delivered ?? 0) >= 20 && (counts.sending ?? 0) > 0 && (counts.queued ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const atCrash = new Database(join(dir, 'gateway.db'), { readonly: true });
    const sending = atCrash.prepare(`select count(*) n from messages where status = 'sending'`).get() as { n: number };
    const queued = atCrash.prepare(`select count(*) n from messages where status = 'queued'`).get() as { n: number };
    atCrash.close();
    expect(sending.n + queued.n).toBeGreaterThan(0);

    const second = await startProcess(port);
    const batch = await waitForBatch(base, batch_id, 20_000);
    second.kill('SIGTERM');
    await exited(second);
    expect(batch.status).toBe('completed');
    expect(batch.counts).toEqual({ delivered: 400 });
    const copies = outboxCopies(join(dir, 'gateway.db'));
    expect(copies).toHaveLength(400);
    expect(copies.filter((n) => n !== 1)).toEqual([]);
  }, 90_000);
});
