/**
 * Sends while many scheduled messages wait, and while they all come due at once: campaigns scheduled
 * for the same morning. The scheduler (the dispatcher's maintenance, every 500 ms) looks for scheduled
 * messages that are due and moves them to `queued` inside a write transaction; on SQLite one writer at
 * a time, so the API's sends wait for the write lock while it runs.
 *
 * Starts the gateway as `npm start` does (`node --enable-source-maps dist/main.js`, a fresh SQLite file,
 * dispatcher on, the simulator delivering and reporting), schedules `--scheduled` messages (send-batch,
 * 1,000 a request) for one moment, then sends `--rate` single messages a second throughout and polls
 * `/health` every 10 ms. It reports, for the window while they wait and for the one in which they come due,
 * the sends' p50/p99/max and the longest `/health` wait, and when the last one left `scheduled`.
 *
 * Usage: npx tsx bench/scheduled-backlog.ts [--scheduled 100000] [--rate 200] [--gateway DIR] [--no-build]
 */
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startAsNpmStart } from './npm-start.js';

const { values } = parseArgs({
  options: {
    scheduled: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '200' },
    gateway: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});
const SCHEDULED = Number(values.scheduled);
const RATE = Number(values.rate);
const ROOT = resolve(values.gateway ?? join(import.meta.dirname, '..'));
const RUN_DIR = mkdtempSync(join(tmpdir(), 'smsgw-scheduled-'));
const TEXT = 'Your order #1234 has shipped and will arrive tomorrow.';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const { base, child: gateway, dbPath } = await startAsNpmStart(ROOT, RUN_DIR, {
  RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000',
}, values['no-build']);

// Scheduled far enough ahead for every batch to be accepted and a window of sends to be measured first.
const acceptMs = Math.max(5_000, SCHEDULED * 0.1);
const dueAt = Date.now() + acceptMs + 15_000;
let made = 0;
for (let b = 0; made < SCHEDULED; b++) {
  const n = Math.min(1000, SCHEDULED - made);
  const recipients = Array.from({ length: n }, (_, i) => ({ number: `+1212${String(2_000_000 + (made + i) * 7).padStart(7, '0')}` }));
  const res = await fetch(`${base}/api/sms/send-batch`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ recipients, message: TEXT, sms_type: 'promotional', schedule_at: new Date(dueAt).toISOString(), name: `morning ${b}` }),
  });
  const body = await res.json() as { accepted: number };
  if (!res.ok || body.accepted !== n) throw new Error(`send-batch ${b}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
  made += n;
}
if (Date.now() > dueAt - 12_000) throw new Error('scheduling took longer than planned: lower --scheduled');
console.log(`${SCHEDULED.toLocaleString('en-US')} messages scheduled for ${new Date(dueAt).toISOString()}`);

let seq = 0;
const nextNumber = () => `+1415${String(2_000_000 + seq++ * 7).padStart(7, '0')}`;
function sends(seconds: number) {
  return autocannon({
    url: `${base}/api/sms/send`, method: 'POST', headers: { 'content-type': 'application/json' }, connections: 10, overallRate: RATE, duration: seconds,
    requests: [{ method: 'POST', setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ to: [{ number: nextNumber() }], message: TEXT }) }) }],
  });
}
/** Polls /health every 10 ms until stopped: the longest wait is how long the API's event loop was held. */
function healthWatch() {
  let longest = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const t = performance.now();
      await fetch(`${base}/health`).then((r) => r.arrayBuffer());
      longest = Math.max(longest, performance.now() - t);
      await sleep(10);
    }
  })();
  return { stop: async () => { running = false; await done; return longest; } };
}

const db = new Database(dbPath, { readonly: true, fileMustExist: true });
const stillScheduled = db.prepare(`select count(*) n from messages where status = 'scheduled'`);

// Window 1: they wait.
await sleep(Math.max(0, dueAt - 11_000 - Date.now()));
let health = healthWatch();
const waiting = await sends(8);
const waitingHealth = await health.stop();

// Window 2: they come due (from 1 s before the moment), and the dispatcher starts on them.
await sleep(Math.max(0, dueAt - 1_000 - Date.now()));
health = healthWatch();
let lastScheduledAt = 0;
const poll = setInterval(() => {
  if ((stillScheduled.get() as { n: number }).n > 0) lastScheduledAt = Date.now();
}, 50);
const due = await sends(15);
clearInterval(poll);
const dueHealth = await health.stop();
const left = (stillScheduled.get() as { n: number }).n;

const line = (name: string, r: autocannon.Result, healthMs: number) =>
  `${name}: sends ${r.requests.average.toFixed(0)}/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms, non-2xx+errors ${r.non2xx + r.errors + r.timeouts}; longest /health wait ${healthMs.toFixed(0)} ms`;
console.log(`gateway ${ROOT}`);
console.log(line(`while ${SCHEDULED.toLocaleString('en-US')} wait`, waiting, waitingHealth));
console.log(line('while they come due', due, dueHealth));
console.log(left > 0 ? `${left.toLocaleString('en-US')} still scheduled 14 s after the moment` : `the last left 'scheduled' ${((lastScheduledAt - dueAt) / 1000).toFixed(1)} s after the moment (polled every 50 ms)`);
db.close();
gateway.kill('SIGTERM');
await new Promise((r) => gateway.once('exit', r));
rmSync(RUN_DIR, { recursive: true, force: true });
