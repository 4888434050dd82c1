/**
 * OTP generate + verify pairs per second over HTTP, against a gateway started as its own process.
 * Phase 1 generates N codes (one per number) over 50 connections; a worker process sends them;
 * phase 2 reads each code as the phone would (GET /api/simulator/outbox: texts are encrypted at rest, so
 * not from the database) and verifies it, 50 at a time.
 * Pairs/s = N / (generate time + verify time); the dispatch in between is not counted.
 * Usage: npx tsx bench/otp.ts [--pairs 5000]
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { postAll } from './post-all.js';
import { startServer } from './server.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '10000' } } });
const pairs = Number(values.pairs);
// The API runs without the dispatch loop, as in a split deployment; a worker process sends the codes between the phases.
// Every code is verified only after all are generated: to the pumping guard that looks like pumping.
const server = await startServer({ RUN_WORKER: 'false', SIMULATOR_DELIVERY_DELAY_MS: '3600000', OTP_MAX_PER_NUMBER_PER_HOUR: '1000', OTP_PUMPING_MIN_CONVERSION: '0' });
const numbers = Array.from({ length: pairs }, (_, i) => `+1415${2_000_000 + i * 7}`);

/** autocannon, not fetch: the client shares this 2-core machine, and fetch costs it more CPU per request. */
async function run(path: string, bodies: string[]): Promise<{ seconds: number; ok: number }> {
  const { started, last, ok, bad } = await postAll(server.base, path, bodies);
  if (bad > 0) throw new Error(`${path}: ${bad} non-2xx or errors`);
  return { seconds: (last - started) / 1000, ok };
}

// Warm-up on other numbers (JIT, statement cache), not counted; their codes warm up verify later.
const warmNumbers = Array.from({ length: 2000 }, (_, i) => `+1510${2_000_000 + i * 7}`);
await run('/api/otp/generate', warmNumbers.map((number) => JSON.stringify({ phone_number: { number } })));
const generated = await run('/api/otp/generate', numbers.map((number) => JSON.stringify({ phone_number: { number } })));
const generateSeconds = generated.seconds;

const worker = spawn(process.execPath, ['--import', 'tsx', 'src/worker-main.ts'], {
  cwd: join(import.meta.dirname, '..'),
  env: { ...process.env, DATABASE_URL: `sqlite:${server.dbPath}`, LOG_LEVEL: 'warn', SIMULATOR_DELIVERY_DELAY_MS: '3600000',
    RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000' },
  stdio: 'ignore',
});
// The codes as the phones got them: through the API, as a user reads them (the outbox is encrypted at rest).
const expected = pairs + warmNumbers.length;
for (let i = 0; ; i++) {
  const { total } = await (await fetch(`${server.base}/api/simulator/outbox?limit=1`)).json() as { total: number };
  if (total >= expected) break;
  if (i > 1200) throw new Error(`only ${total} of ${expected} codes sent within 120 s`);
  await new Promise((r) => setTimeout(r, 100));
}
worker.kill('SIGTERM');
const codes = new Map<string, string>();
for (let offset = 0; ; offset += 500) {
  const page = await (await fetch(`${server.base}/api/simulator/outbox?limit=500&offset=${offset}`)).json() as { items: Array<{ to: string; body: string }> };
  for (const item of page.items) {
    const code = /code is (\d+)/.exec(item.body)?.[1];
    if (code) codes.set(item.to, code);
  }
  if (page.items.length < 500) break;
}
if (codes.size < expected) throw new Error(`only ${codes.size} of ${expected} codes in the outbox`);

await run('/api/otp/verify', warmNumbers.map((number) => JSON.stringify({ phone_number: { number }, otp_code: codes.get(number) })));
const verifiedRun = await run('/api/otp/verify', numbers.map((number) => JSON.stringify({ phone_number: { number }, otp_code: codes.get(number) })));
const verifySeconds = verifiedRun.seconds;
// Every code verifies once: the sessions that are now verified are the successes.
const check = new Database(server.dbPath, { readonly: true });
const verified = (check.prepare(`select count(*) n from otp_sessions where status = 'verified' and phone_number like '+1415%'`).get() as { n: number }).n;
check.close();
await server.stop();
console.log(`otp: ${pairs} generates in ${generateSeconds.toFixed(2)} s (${Math.round(pairs / generateSeconds)}/s), ${verified} verified in ${verifySeconds.toFixed(2)} s (${Math.round(pairs / verifySeconds)}/s)`);
console.log(`otp: generate+verify pairs/s = ${Math.round(pairs / (generateSeconds + verifySeconds))}`);
