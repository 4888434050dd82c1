/**
 * Memory over a sustained send load, and what a stored message costs on disk (issue 10: "RSS flat
 * (±10 %) across a 10-minute sustained send load"; "bytes per message within 2× of the raw fields").
 *
 * Starts the gateway as `npm start` does (`node --enable-source-maps dist/main.js`, a fresh SQLite
 * file, dispatcher on, the simulator delivering and reporting), then sends `--rate` single-recipient
 * messages a second for `--minutes`, over `--numbers` distinct numbers (a realistic audience: the
 * per-number hourly cap keeps in memory one small entry per number seen in the last hour, so a load
 * of endless new numbers grows memory for an hour by design). Every 10 s it samples the gateway's RSS
 * (/proc/<pid>/status) and the messages stored. RSS is judged after the first `--warmup-minutes`
 * (caches and JIT filling up): min, max, and the last minute against the first measured one.
 *
 * Then, the gateway stopped, it reads the data directory: bytes per stored message, and per table
 * and index (SQLite's dbstat), against the raw fields of a message: what the API was given (number,
 * text) and what the gateway must know about it (ids, status, times, provider id, cost).
 *
 * Usage: npx tsx bench/soak.ts [--minutes 10] [--warmup-minutes 2] [--rate 500] [--numbers 50000] [--no-build]
 */
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAsNpmStart } from './npm-start.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'warmup-minutes': { type: 'string', default: '2' },
    rate: { type: 'string', default: '500' },
    numbers: { type: 'string', default: '50000' },
    'no-build': { type: 'boolean', default: false },
  },
});
const MINUTES = Number(values.minutes);
const WARMUP_MINUTES = Number(values['warmup-minutes']);
const RATE = Number(values.rate);
const NUMBERS = Number(values.numbers);
const ROOT = join(import.meta.dirname, '..');
const RUN_DIR = mkdtempSync(join(tmpdir(), 'smsgw-soak-'));
const TEXT = 'Your order #1234 has shipped and will arrive tomorrow.';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Rate limits per key/IP raised: one client sends everything here. The per-number cap stays at its default.
const { base, child: gateway, dataDir, dbPath } = await startAsNpmStart(ROOT, RUN_DIR, {
  RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000',
}, values['no-build']);

const rssMb = () => Number(readFileSync(`/proc/${gateway.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]) / 1024;
const stored = () => {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('select count(*) n from messages').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

let seq = 0;
const nextNumber = () => `+1415${2_000_000 + ((seq++ % NUMBERS) * 7919) % 7_999_999}`;
const startedAt = Date.now();
const samples: Array<{ minute: number; rss: number; messages: number }> = [{ minute: 0, rss: rssMb(), messages: 0 }];
console.log(`soak: ${MINUTES} min at ${RATE} sends/s over ${NUMBERS.toLocaleString('en-US')} numbers; RSS at start ${samples[0].rss.toFixed(0)} MB`);
// The per-number hourly cap (default 10) refuses what goes beyond it: from then on nothing new is stored.
if (RATE * Math.min(MINUTES, 60) * 60 > NUMBERS * 10) console.log(`warning: ${NUMBERS.toLocaleString('en-US')} numbers × 10 an hour is fewer than the sends: the cap will refuse the rest (use --numbers ${Math.ceil((RATE * Math.min(MINUTES, 60) * 6) / 1000) * 1000} or more)`);
const load = autocannon({
  url: `${base}/api/sms/send`, method: 'POST', headers: { 'content-type': 'application/json' }, connections: 20, overallRate: RATE, duration: MINUTES * 60,
  requests: [{ method: 'POST', setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ to: [{ number: nextNumber() }], message: TEXT }) }) }],
});
const sampler = setInterval(() => {
  const sample = { minute: (Date.now() - startedAt) / 60_000, rss: rssMb(), messages: stored() };
  samples.push(sample);
  console.log(`  ${sample.minute.toFixed(1).padStart(5)} min  RSS ${sample.rss.toFixed(0).padStart(4)} MB  messages ${sample.messages.toLocaleString('en-US')}`);
}, 10_000);
const result = await load;
clearInterval(sampler);
await sleep(3000);

const measured = samples.filter((s) => s.minute >= WARMUP_MINUTES);
const rss = measured.map((s) => s.rss);
const firstMinute = measured.filter((s) => s.minute < WARMUP_MINUTES + 1).map((s) => s.rss);
const lastMinute = measured.filter((s) => s.minute >= MINUTES - 1).map((s) => s.rss);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`load: ${result.requests.average.toFixed(0)} req/s, 2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors}, p99 ${result.latency.p99} ms`);
if (rss.length === 0) console.log(`RSS not judged: the run is no longer than the ${WARMUP_MINUTES} min warm-up`);
else {
  console.log(`RSS after ${WARMUP_MINUTES} min warm-up: min ${Math.min(...rss).toFixed(0)} MB, max ${Math.max(...rss).toFixed(0)} MB (${(((Math.max(...rss) - Math.min(...rss)) / Math.min(...rss)) * 100).toFixed(1)} % spread); `
    + `first measured minute ${mean(firstMinute).toFixed(0)} MB, last minute ${mean(lastMinute).toFixed(0)} MB (${(((mean(lastMinute) - mean(firstMinute)) / mean(firstMinute)) * 100).toFixed(1)} %)`);
}

// Let the last reports arrive, then stop cleanly (the WAL is checkpointed on close).
await sleep(5000);
gateway.kill('SIGTERM');
await new Promise((r) => gateway.once('exit', r));

const files = readdirSync(dataDir).map((f) => ({ f, bytes: statSync(join(dataDir, f)).size }));
const totalBytes = files.reduce((a, b) => a + b.bytes, 0);
const db = new Database(dbPath, { readonly: true });
const messages = (db.prepare('select count(*) n from messages').get() as { n: number }).n;
const byObject = db.prepare(`select name, sum(pgsize) bytes from dbstat group by name order by bytes desc`).all() as Array<{ name: string; bytes: number }>;
const tables = new Map((db.prepare(`select name, tbl_name from sqlite_master where type in ('table', 'index')`).all() as Array<{ name: string; tbl_name: string }>).map((r) => [r.name, r.tbl_name]));
// The raw fields: what was given (number, text) and what must be known of a message (ids, status, times, provider's id, cost).
const raw = db.prepare(`select avg(length(id) + length(batch_id) + length(to_number) + 54 /* the text as given */ + length(status) + length(provider)
  + coalesce(length(provider_message_id), 0) + 8 * 4 /* created, sent, final, cost */) bytes from messages`).get() as { bytes: number };
const rowCounts = new Map<string, number>();
for (const name of new Set(tables.values())) {
  try {
    rowCounts.set(name, (db.prepare(`select count(*) n from "${name}"`).get() as { n: number }).n);
  } catch { /* virtual */ }
}
db.close();
console.log(`data directory after a clean stop: ${files.map((f) => `${f.f} ${(f.bytes / 1e6).toFixed(1)} MB`).join(', ')}`);
console.log(`${messages.toLocaleString('en-US')} messages: ${(totalBytes / messages).toFixed(0)} bytes per message on disk; raw fields ${raw.bytes.toFixed(0)} bytes (${(totalBytes / messages / raw.bytes).toFixed(1)}×)`);
// The simulator stands in for the handset as well as the provider: its outbox (and that table's indexes) is
// what a deployment with a real provider does not store.
const outboxBytes = byObject.filter((o) => (tables.get(o.name) ?? o.name) === 'simulator_outbox').reduce((a, o) => a + o.bytes, 0);
console.log(`without the simulator's outbox (a real provider's deployment): ${((totalBytes - outboxBytes) / messages).toFixed(0)} bytes per message (${((totalBytes - outboxBytes) / messages / raw.bytes).toFixed(1)}×)`);
console.log('per table and index (bytes per message, rows):');
for (const o of byObject.slice(0, 25)) {
  const table = tables.get(o.name) ?? o.name;
  console.log(`  ${(o.bytes / messages).toFixed(0).padStart(5)} B  ${o.name}${table !== o.name ? ` (on ${table})` : ` (${(rowCounts.get(o.name) ?? 0).toLocaleString('en-US')} rows)`}`);
}
rmSync(RUN_DIR, { recursive: true, force: true });
