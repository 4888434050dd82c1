import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { onPostgres } from './helpers/database.js';
import { exited, freePort, outboxCopies, spawnGateway, waitForBatch, waitForHealth } from './helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'smsgw-shutdown-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function counts(base: string, batchId: string): Promise<Record<string, number>> {
  return (await (await fetch(`${base}/api/sms/batches/${batchId}`)).json()).counts;
}

const LIMITS = { RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_PER_HOUR: '10000000' };

/** An API process without dispatch on `shared` settings, holding one queued batch of `count` messages. */
async function apiWithQueuedBatch(shared: Record<string, string>, count: number, firstNumber: number): Promise<{ api: ChildProcess; base: string; batchId: string }> {
  const port = await freePort();
  const api = spawnGateway('src/main.ts', { ...shared, PORT: String(port), RUN_WORKER: 'false' });
  children.push(api);
  await waitForHealth(port);
  const base = `http://127.0.0.1:${port}`;
  const recipients = Array.from({ length: count }, (_, i) => ({ number: `+1415555${String(firstNumber + i).padStart(4, '0')}` }));
  const res = await fetch(`${base}/api/sms/send-batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recipients, message: 'shutdown' }) });
  return { api, base, batchId: (await res.json()).batch_id };
}

describe.skipIf(onPostgres)('graceful shutdown of a worker', () => {
  it('SIGTERM: no new claims, sends with the provider finish and are stored, claimed-but-unsent messages go back to the queue', async () => {
    const shared = { ...LIMITS, DATABASE_URL: `sqlite:${join(dir, 'gateway.db')}`, SIMULATOR_DELIVERY_DELAY_MS: '0' };
    const { api, base, batchId: batch_id } = await apiWithQueuedBatch(shared, 30, 3000);

    // Slow sends paced at 4/s: a round claims 4 and starts one every 250 ms, each with the provider 1.5 s.
    const slow = { ...shared, SIMULATOR_LATENCY_MS: '1500', SIMULATOR_MAX_PER_SECOND: '4', SHUTDOWN_TIMEOUT_SECONDS: '20' };
    const first = spawnGateway('src/worker-main.ts', slow);
    children.push(first);
    const deadline = Date.now() + 60_000;
    // The first round's four are stored together when its last send is back; the next round claims four more at once.
    const sentSoFar = async () => { const c = await counts(base, batch_id); return (c.sent ?? 0) + (c.delivered ?? 0); };
    while (await sentSoFar() < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await sentSoFar()).toBe(4);

    const signalledAt = Date.now();
    first.kill('SIGTERM');
    await exited(first);
    expect(first.exitCode).toBe(0);
    // It waited for the sends in flight (1.5 s each), not for its lease or the whole queue.
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    const after = await counts(base, batch_id);
    expect(after.sending ?? 0).toBe(0);
    expect(after.queued, JSON.stringify(after)).toBeGreaterThan(0);
    const done = (after.sent ?? 0) + (after.delivered ?? 0);
    // Signalled in the second round's first 750 ms: of its four, those not yet started went back unsent
    // (without the hand-back all four would be sent before the worker exits).
    expect(done, JSON.stringify(after)).toBeGreaterThanOrEqual(4);
    expect(done, JSON.stringify(after)).toBeLessThan(8);
    expect(done + after.queued).toBe(30);
    expect(outboxCopies(join(dir, 'gateway.db'))).toHaveLength(done);

    // The next worker finds the handed-back messages queued and sends each of them once.
    const second = spawnGateway('src/worker-main.ts', shared);
    children.push(second);
    const batch = await waitForBatch(base, batch_id, 30_000);
    for (const child of [api, second]) child.kill('SIGTERM');
    await Promise.all([api, second].map(exited));
    expect(batch.counts).toEqual({ delivered: 30 });
    const copies = outboxCopies(join(dir, 'gateway.db'));
    expect(copies).toHaveLength(30);
    expect(copies.filter((n) => n !== 1)).toEqual([]);
  }, 180_000);

  it('sends still in flight at SHUTDOWN_TIMEOUT_SECONDS are left to lease recovery: the process exits, the next worker finds each message and sends none twice', async () => {
    const shared = { ...LIMITS, DATABASE_URL: `sqlite:${join(dir, 'deadline.db')}`, SIMULATOR_DELIVERY_DELAY_MS: '0', PROVIDER_TIMEOUT: '8', DISPATCH_LEASE_SECONDS: '14' };
    const { api, base, batchId: batch_id } = await apiWithQueuedBatch(shared, 5, 4000);

    const stuck = spawnGateway('src/worker-main.ts', { ...shared, SIMULATOR_LATENCY_MS: '6000', SHUTDOWN_TIMEOUT_SECONDS: '1' });
    children.push(stuck);
    const deadline = Date.now() + 60_000;
    while (((await counts(base, batch_id)).sending ?? 0) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // All five claimed and with the (slow) simulator before the signal. `sending` shows once the claim is
    // committed; the sends start after its WAL sync, which under load can take a while: a signal in between
    // hands all five back unsent. Sends that have started last 6 s, so waiting half a second costs nothing.
    // (A send starts only while lease less provider timeout, 6 s here, has not passed since the claim.)
    expect((await counts(base, batch_id)).sending).toBe(5);
    await new Promise((r) => setTimeout(r, 500));
    const signalledAt = Date.now();
    stuck.kill('SIGTERM');
    await exited(stuck);
    // One second's grace, not the six seconds the sends would take.
    expect(Date.now() - signalledAt).toBeLessThan(4500);
    expect((await counts(base, batch_id)).sending).toBe(5);

    // After the lease, recovery asks the provider about each: never received, so each goes once.
    const next = spawnGateway('src/worker-main.ts', shared);
    children.push(next);
    const batch = await waitForBatch(base, batch_id, 40_000);
    for (const child of [api, next]) child.kill('SIGTERM');
    await Promise.all([api, next].map(exited));
    expect(batch.counts).toEqual({ delivered: 5 });
    const copies = outboxCopies(join(dir, 'deadline.db'));
    expect(copies).toHaveLength(5);
    expect(copies.filter((n) => n !== 1)).toEqual([]);
  }, 180_000);
});
