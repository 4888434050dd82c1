/**
 * Dispatch throughput: 100,000 queued messages through the simulator, and how long an OTP
 * waits when it arrives behind 10,000 promotional messages. In-process, one SQLite file.
 * Usage: npx tsx bench/dispatch.ts [--messages 100000] [--reports]
 */
import { OPERATOR } from '../src/domain/api-keys.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createServices, startWorkers, stopWorkers, type Services } from '../src/services/container.js';
import { countByStatus } from '../src/store/message-store.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '100000' }, reports: { type: 'boolean', default: false } } });
const total = Number(values.messages);

async function services(): Promise<{ s: Services; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'smsgw-dispatch-'));
  const s = await createServices(loadConfig({
    DATABASE_URL: `sqlite:${join(dir, 'gw.db')}`, LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_SECOND: '1000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000',
    MAX_RECIPIENTS_PER_REQUEST: '10000', DISPATCH_POLL_INTERVAL_MS: '5', DISPATCH_BATCH_SIZE: process.env.DISPATCH_BATCH_SIZE ?? '500',
    // Without --reports the delivery reports fall due after the run, so only sending is measured.
    SIMULATOR_DELIVERY_DELAY_MS: values.reports ? '0' : '3600000',
  }));
  return { s, dir };
}

async function enqueue(s: Services, n: number, smsType: 'promotional' | 'otp', offset = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 10_000) {
    const count = Math.min(10_000, n - i);
    const recipients = Array.from({ length: count }, (_, j) => ({ number: `+1415${2_000_000 + offset + i + j}` }));
    const res = await s.send.sendBatch({ recipients, message: smsType === 'otp' ? 'Your code is 123456' : 'Special offer! Get 50% off today.', sms_type: smsType }, undefined, OPERATOR);
    if (res.body.accepted !== count) throw new Error(`only ${res.body.accepted} of ${count} accepted`);
  }
  if (smsType === 'otp') {
    const rows = await s.store.db.selectFrom('messages').select('id').where('sms_type', '=', 'otp').execute();
    ids.push(...rows.map((r) => r.id));
  }
  return ids;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

// 1. Throughput.
{
  const { s, dir } = await services();
  await enqueue(s, total, 'promotional');
  const started = performance.now();
  startWorkers(s);
  const done = values.reports ? ['delivered'] as const : ['sent', 'delivered'] as const;
  // Polled rarely: counting is itself work on the same database.
  await waitUntil(async () => (await countByStatus(s.store.db, [...done])) >= total, 600_000, 250);
  const seconds = (performance.now() - started) / 1000;
  await stopWorkers(s);
  console.log(`dispatch: ${total} messages ${values.reports ? 'delivered (reports on)' : 'handed to the simulator'} in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} msg/s`);
  await s.store.close();
  rmSync(dir, { recursive: true, force: true });
}

// 2. OTP behind a promotional backlog.
{
  const { s, dir } = await services();
  await enqueue(s, 10_000, 'promotional');
  startWorkers(s);
  // Let the dispatcher get busy with the backlog first.
  await new Promise((r) => setTimeout(r, 50));
  const accepted = Date.now();
  const [otpId] = await enqueue(s, 1, 'otp', 500_000);
  await waitUntil(async () => {
    const m = await s.store.db.selectFrom('messages').select(['status']).where('id', '=', otpId).executeTakeFirstOrThrow();
    return m.status === 'sent' || m.status === 'delivered';
  }, 60_000);
  const m = await s.store.db.selectFrom('messages').select(['sent_at']).where('id', '=', otpId).executeTakeFirstOrThrow();
  const left = await countByStatus(s.store.db, ['queued']);
  await stopWorkers(s);
  console.log(`otp behind 10,000 promotional: sent ${m.sent_at! - accepted} ms after acceptance (${left} promotional still queued then)`);
  await s.store.close();
  rmSync(dir, { recursive: true, force: true });
}
