/**
 * OTP generate + verify pairs per second over HTTP, against a gateway started as its own process.
 * Phase 1 generates N codes (one per number) over 50 connections; a worker process sends them;
 * phase 2 reads each code as the phone would (the simulator outbox) and verifies it, 50 at a time.
 * Pairs/s = N / (generate time + verify time); the dispatch in between is not counted.
 * Usage: npx tsx bench/otp.ts [--pairs 5000]
 */
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from './server.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '10000' } } });
const pairs = Number(values.pairs);
// The API runs without the dispatch loop, as in a split deployment; a worker process sends the codes between the phases.
// Every code is verified only after all are generated: to the pumping guard that looks like pumping.
const server = await startServer({ RUN_WORKER: 'false', SIMULATOR_DELIVERY_DELAY_MS: '3600000', OTP_MAX_PER_NUMBER_PER_HOUR: '1000', OTP_PUMPING_MIN_CONVERSION: '0' });
const numbers = Array.from({ length: pairs }, (_, i) => `+1415${2_000_000 + i * 7}`);

/** autocannon, not fetch: the client shares this 2-core machine, and fetch costs it more CPU per request. */
async function run(path: string, bodies: string[]): Promise<{ seconds: number; ok: number }> {
  let next = 0;
  let last = 0;
  const started = performance.now();
  // Timed to the last response: autocannon notices the end of an `amount` run only on its 1 s tick.
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: `${server.base}${path}`, method: 'POST', headers: { 'content-type': 'application/json' }, connections: 50, amount: bodies.length,
      requests: [{ method: 'POST', setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }) }],
    }, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on('response', () => {
      last = performance.now();
    });
  });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { seconds: (last - started) / 1000, ok: result['2xx'] };
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
const db = new Database(server.dbPath, { readonly: true });
let codes = new Map<string, string>();
for (let i = 0; i < 600 && codes.size < pairs + warmNumbers.length; i++) {
  await new Promise((r) => setTimeout(r, 100));
  const rows = db.prepare('select to_number, body from simulator_outbox').all() as Array<{ to_number: string; body: string }>;
  codes = new Map(rows.map((r) => [r.to_number, r.body.match(/code is (\d+)/)![1]]));
}
db.close();
worker.kill('SIGTERM');

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
