/**
 * How the cost of reads grows with the data (issue 10): seeds N messages into a fresh SQLite
 * database, starts the gateway as `npm start` does (`node dist/main.js`), and times listing, batch
 * and analytics reads, the longest /health wait while 5 analytics calls (and, apart, 5 heavy
 * `GET /api/sms` pages) run together, the data directory's bytes per message and the gateway's RSS.
 *
 *   npx tsx bench/data-growth.ts [--messages 1000000] [--gateway DIR] [--migrate-with DIR] [--keep]
 *
 * --gateway DIR: the checkout whose dist/ is measured (default this one; `npm run build:server` first).
 * --migrate-with DIR: the checkout whose migrations create the schema the rows are seeded into (default
 *   --gateway). Seeding into an older schema and then starting this one measures the migration on 1M rows.
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { newId } from '../src/domain/ids.js';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    gateway: { type: 'string', default: join(import.meta.dirname, '..') },
    'migrate-with': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(args.messages);
const GATEWAY = resolve(args.gateway!);
const MIGRATE_WITH = resolve(args['migrate-with'] ?? GATEWAY);
const REPEATS = 5;
const BIG_BATCH = 10_000;

// ---- machine load: share of CPU time not idle, over the whole machine (other engineers run tests here) ----
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}
function busyShare(a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>) {
  return 1 - (b.idle - a.idle) / Math.max(1, b.total - a.total);
}

// ---- the gateway as `npm start` runs it ----
interface Gateway { base: string; child: ChildProcess; stop(): Promise<void> }
async function startGateway(root: string, dataDir: string): Promise<Gateway & { startMs: number }> {
  const port = 19000 + Math.floor(Math.random() * 1000);
  const started = performance.now();
  const child = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${join(dataDir, 'gateway.db')}`,
      RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000',
      NODE_ENV: 'production',
      // The default 30 s would cut off the slowest reads of the build before the summaries; we want their time.
      REQUEST_TIMEOUT_MS: '600000',
      // The seeded simulator outbox stays whole (the default keeps its newest 10,000 entries, and trimming
      // the rest in the background would write beside the reads timed here): its listing at full size is timed.
      SIMULATOR_OUTBOX_KEEP: '0',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  let exited = false;
  child.once('exit', () => { exited = true; });
  for (;;) {
    if (exited) throw new Error(`the gateway in ${root} exited while starting`);
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {
      // still starting
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base, child, startMs: performance.now() - started,
    stop: () => new Promise((done) => {
      if (exited) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    }),
  };
}

// ---- seeding: realistic mix, written straight into the migrated schema ----
function pick<T>(weighted: Array<[T, number]>): T {
  let r = Math.random();
  for (const [v, w] of weighted) {
    if ((r -= w) < 0) return v;
  }
  return weighted[weighted.length - 1][0];
}
const COUNTRIES: Array<[{ code: string; number: () => string; price: number }, number]> = [
  [{ code: 'US', number: () => `+1415${digits(7)}`, price: 0.0079 }, 0.45],
  [{ code: 'GB', number: () => `+447${digits(9)}`, price: 0.04 }, 0.2],
  [{ code: 'DE', number: () => `+49151${digits(8)}`, price: 0.075 }, 0.1],
  [{ code: 'IN', number: () => `+919${digits(9)}`, price: 0.0021 }, 0.1],
  [{ code: 'BR', number: () => `+55119${digits(8)}`, price: 0.05 }, 0.1],
  [{ code: 'FR', number: () => `+336${digits(8)}`, price: 0.07 }, 0.05],
];
function digits(n: number) {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 10);
  return s;
}
const PROVIDERS: Array<[string, number]> = [['simulator', 0.4], ['twilio', 0.3], ['nexmo', 0.2], ['plivo', 0.1]];
const SINGLE_TYPES: Array<[string, number]> = [['transactional', 0.6], ['otp', 0.3], ['alert', 0.1]];
/** Final and resting statuses only: nothing the dispatcher would pick up while we measure. */
const OUTCOMES: Array<[string, number]> = [
  ['delivered', 0.82], ['undelivered', 0.04], ['failed', 0.04], ['sent', 0.04], ['expired', 0.02], ['canceled', 0.04],
];

interface Seeded {
  bigBatchId: string; someNumber: string; someSender: string; messages: number; firstAt: number; lastAt: number;
  tables: { audit: number; optOuts: number; inbound: number };
}

function seed(dbPath: string, n: number): Seeded {
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const insertBatch = db.prepare(`insert into batches (id, name, kind, status, sms_type, message_type, provider, template_id, schedule_at, expire_at, callback_url,
    total_recipients, accepted, rejected, duplicates, total_segments, estimated_cost, currency, metadata, created_at, updated_at)
    values (?, ?, ?, ?, ?, 'text', ?, null, ?, null, null, ?, ?, 0, 0, ?, ?, 'USD', null, ?, ?)`);
  const insertMessage = db.prepare(`insert into messages (id, batch_id, to_number, country, from_number, body, message_type, sms_type, encoding, segments, priority,
    provider, status, provider_message_id, estimated_cost, cost, currency, attempts, error_code, error_message, schedule_at, due_at, created_at, updated_at, sent_at, final_at, route)
    values (?, ?, ?, ?, null, ?, 'text', ?, 'gsm7', ?, ?, ?, ?, ?, ?, ?, 'USD', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  // From migration 0017 the database numbers events; a schema made by an older checkout wants a text id.
  const numberedEvents = (db.prepare(`select type from pragma_table_info('message_events') where name = 'id'`).get() as { type: string }).type.toLowerCase() === 'integer';
  const insertEvent = numberedEvents
    ? db.prepare('insert into message_events (message_id, status, previous_status, source, detail, created_at) values (?, ?, ?, ?, null, ?)')
    : db.prepare('insert into message_events (id, message_id, status, previous_status, source, detail, created_at) values (?, ?, ?, ?, ?, null, ?)');
  // What else grows with the traffic: an audit row per API call, a STOP now and then, replies received.
  const insertAudit = db.prepare(`insert into audit_log (created_at, key_id, action, resource, resource_id, result, ip) values (?, null, ?, 'batch', ?, 200, '203.0.113.7')`);
  const insertOptOut = db.prepare(`insert or ignore into opt_outs (number, reason, source, created_at) values (?, null, 'inbound', ?)`);
  const insertInbound = db.prepare(`insert into inbound_messages (id, from_number, to_number, body, provider, provider_message_id, action, received_at)
    values (?, ?, '+14155550000', ?, 'twilio', null, ?, ?)`);
  const insertOutbox = db.prepare(`insert into simulator_outbox (id, message_id, to_number, from_number, body, encoding, segments, accepted_at, report_due_at, report_status, reported_at)
    values (?, ?, ?, null, ?, 'gsm7', ?, ?, ?, ?, ?)`);

  const now = Date.now();
  const span = 30 * 86_400_000;
  const firstAt = now - span;
  let made = 0;
  let bigBatchId = '';
  let someNumber = '';
  let someSender = '';
  const bodies = ['Your order #%d has shipped and will arrive tomorrow.', 'Your code is 482913. It expires in 5 minutes.', 'Flash sale: 30% off everything this weekend only! Reply STOP to opt out.',
    'Reminder: your appointment is tomorrow at 10:30. Reply C to confirm or R to reschedule. Thank you for choosing us, we look forward to seeing you.'];
  const writeChunk = db.transaction((until: number) => {
    while (made < until) {
      const at = firstAt + Math.floor((made / n) * span) + Math.floor(Math.random() * 1000);
      // About half the messages come in campaigns (one 10,000-recipient batch among them), half one by one.
      const campaign = Math.random() < 0.0004 || (bigBatchId === '' && made >= n / 2);
      const size = campaign ? (bigBatchId === '' && made >= n / 2 ? BIG_BATCH : 500 + Math.floor(Math.random() * 2500)) : 1;
      const count = Math.min(size, n - made);
      const batchId = newId('bat', at);
      if (size === BIG_BATCH && bigBatchId === '') bigBatchId = batchId;
      const smsType = campaign ? 'promotional' : pick(SINGLE_TYPES);
      const provider = pick(PROVIDERS);
      // Campaigns: a few drafts and future schedules; everything else has run its course.
      const batchStatus = campaign ? pick([['queued', 0.9], ['draft', 0.05], ['scheduled', 0.05]] as Array<[string, number]>) : 'queued';
      const body = bodies[smsType === 'otp' ? 1 : campaign ? (Math.random() < 0.5 ? 2 : 3) : 0].replace('%d', String(made));
      const segments = body.length > 160 ? 2 : 1;
      const scheduleAt = batchStatus === 'scheduled' ? now + 7 * 86_400_000 : null;
      // One call in 10,000 is something rarer than a send (a key made): what an audit filter on `action` looks for.
      insertAudit.run(at, Math.random() < 0.0001 ? 'keys.create' : campaign ? 'sms.send_batch' : 'sms.send', batchId);
      insertBatch.run(batchId, campaign ? `campaign ${made}` : null, campaign ? 'batch' : 'single', batchStatus, smsType, provider, scheduleAt, count, count, count * segments, count * segments * 0.02, at, at);
      for (let i = 0; i < count; i++) {
        const country = pick(COUNTRIES);
        const to = country.number();
        if (made === Math.floor(n / 3)) someNumber = to;
        const id = newId('msg', at);
        const status = batchStatus === 'queued' ? pick(OUTCOMES) : batchStatus;
        const estimated = segments * country.price;
        const tried = ['delivered', 'undelivered', 'sent'].includes(status) || (status === 'failed' && Math.random() < 0.5);
        const sentAt = ['delivered', 'undelivered', 'sent'].includes(status) ? at + 200 + Math.floor(Math.random() * 2000) : null;
        const finalAt = status === 'delivered' || status === 'undelivered' ? sentAt! + 1000 + Math.floor(Math.random() ** 2 * 60_000)
          : ['failed', 'expired', 'canceled'].includes(status) ? at + 5000 : null;
        const reportedCost = sentAt !== null && provider !== 'simulator' && Math.random() < 0.5 ? Math.round(estimated * 1.1 * 10_000) / 10_000 : null;
        const error = status === 'failed' ? 'UNDELIVERABLE' : status === 'undelivered' ? 'BLOCKED' : null;
        insertMessage.run(id, batchId, to, country.code, body, smsType, segments, smsType === 'otp' || smsType === 'alert' ? 1 : 5,
          provider, status, sentAt !== null ? `${provider}_${id.slice(4)}` : null, estimated, reportedCost, tried ? 1 : 0, error, error ? 'seeded' : null,
          scheduleAt, scheduleAt ?? at, at, finalAt ?? sentAt ?? at, sentAt, finalAt, JSON.stringify([provider]));
        // The events the gateway writes for each change (acceptance is derived from the message, not stored).
        let previous = batchStatus === 'queued' ? 'queued' : batchStatus;
        const step = (to: string, when: number, source: string) => {
          if (numberedEvents) insertEvent.run(id, to, previous, source, when);
          else insertEvent.run(newId('evt', when), id, to, previous, source, when);
          previous = to;
        };
        if (tried) step('sending', at + 100, 'dispatcher');
        if (sentAt !== null) step('sent', sentAt, 'dispatcher');
        if (status === 'failed') step('failed', finalAt!, 'dispatcher');
        if (status === 'delivered' || status === 'undelivered') step(status, finalAt!, `provider:${provider}`);
        if (status === 'expired' || status === 'canceled') step(status, finalAt!, status === 'expired' ? 'scheduler' : 'api');
        // A reply to one message in 10, a STOP among one in 20 (its sender opted out).
        if (made % 10 === 0 && sentAt !== null) {
          const stop = made % 20 === 0;
          const replyAt = sentAt + 30_000;
          insertInbound.run(newId('inb', replyAt), to, stop ? 'STOP' : 'Thanks!', stop ? 'opt_out' : null, replyAt);
          if (stop) insertOptOut.run(to, replyAt);
          if (someSender === '' && made >= n / 3) someSender = to;
        }
        if (provider === 'simulator' && sentAt !== null) {
          insertOutbox.run(newId('out', sentAt), id, to, body, segments, sentAt, sentAt + 1000, status === 'sent' ? 'delivered' : status, finalAt);
        }
        made++;
      }
    }
  });
  const started = performance.now();
  while (made < n) {
    writeChunk(Math.min(n, made + 20_000));
    if (made % 100_000 < 20_000) process.stdout.write(`  seeded ${made.toLocaleString('en')} messages (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.exec('analyze');
  const countRows = (table: string) => Number(db.prepare(`select count(*) from ${table}`).pluck().get());
  const tables = { audit: countRows('audit_log'), optOuts: countRows('opt_outs'), inbound: countRows('inbound_messages') };
  db.close();
  return { bigBatchId, someNumber, someSender, tables, messages: made, firstAt, lastAt: now };
}

// ---- timing ----
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** status 0: no answer (the gateway's request timeout closes the connection of a request running too long). */
async function timed(base: string, path: string): Promise<{ ms: number; body: any; status: number }> {
  const t = performance.now();
  try {
    const res = await fetch(base + path);
    const body = await res.json().catch(() => null);
    return { ms: performance.now() - t, body, status: res.status };
  } catch {
    return { ms: performance.now() - t, body: null, status: 0 };
  }
}
async function medianOf(base: string, path: string) {
  const runs: number[] = [];
  let last: any;
  let status = 200;
  for (let i = 0; i < REPEATS; i++) {
    const r = await timed(base, path);
    runs.push(r.ms);
    if (r.status === 200) last = r.body;
    else status = r.status;
  }
  return { ms: median(runs), max: Math.max(...runs), body: last, status };
}
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}
function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'smsgw-growth-'));
  console.log(`data directory ${dataDir}; gateway ${GATEWAY}; schema from ${MIGRATE_WITH}`);
  const migrating = await startGateway(MIGRATE_WITH, dataDir);
  await migrating.stop();

  const seedStart = performance.now();
  const seeded = seed(join(dataDir, 'gateway.db'), MESSAGES);
  console.log(`seeded ${seeded.messages.toLocaleString('en')} messages in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const loadBefore = cpuTimes();
  await new Promise((r) => setTimeout(r, 3000));
  const othersBusy = busyShare(loadBefore, cpuTimes());

  const gw = await startGateway(GATEWAY, dataDir);
  const rssFresh = rssMb(gw.child.pid!);
  console.log(`gateway up in ${gw.startMs.toFixed(0)} ms (migrations included), RSS ${rssFresh.toFixed(0)} MB`);
  const measureStart = cpuTimes();
  const rows: Array<[string, string, string]> = [];
  const row = (what: string, r: { ms: number; max: number; status: number }, note = '') => {
    const value = r.status === 200 ? `${r.ms.toFixed(1)} ms` : r.status === 0 ? `no answer (closed after ${(r.ms / 1000).toFixed(0)} s)` : `HTTP ${r.status}`;
    rows.push([what, value, `${note}${note ? '; ' : ''}max ${r.max.toFixed(0)} ms`]);
    console.log(`  ${what}: ${r.ms.toFixed(1)} ms`);
  };

  // A day in the middle of the data, not on hour boundaries.
  const dayFrom = new Date(seeded.firstAt + 15 * 86_400_000 + 1_234_567).toISOString();
  const dayTo = new Date(seeded.firstAt + 16 * 86_400_000 + 2_345_678).toISOString();
  const weekFrom = new Date(seeded.firstAt + 10 * 86_400_000 + 1_234_567).toISOString();
  const weekTo = new Date(seeded.firstAt + 17 * 86_400_000 + 2_345_678).toISOString();

  const first = await medianOf(gw.base, '/api/sms?limit=50');
  row('GET /api/sms?limit=50', first, `total ${first.body?.total?.toLocaleString('en')}`);
  row('GET /api/sms?limit=50&offset=900000', await medianOf(gw.base, `/api/sms?limit=50&offset=${Math.min(900_000, Math.floor(MESSAGES * 0.9))}`));
  for (const [name, filter] of [
    ['status=delivered', 'status=delivered'], ['status=draft', 'status=draft'], ['sms_type=promotional', 'sms_type=promotional'],
    ['provider=plivo', 'provider=plivo'], ['batch_id (10,000)', `batch_id=${seeded.bigBatchId}`], ['to', `to=${encodeURIComponent(seeded.someNumber)}`],
    ['date range (1 day)', `date_from=${dayFrom}&date_to=${dayTo}`],
  ] as const) {
    const r = await medianOf(gw.base, `/api/sms?limit=50&${filter}`);
    row(`GET /api/sms?limit=50&${name}`, r, `total ${r.body?.total?.toLocaleString('en')}`);
  }
  if (first.body?.next_cursor) {
    // Page 2 by cursor, and a page deep in the table: follow cursors from a page at offset 900,000.
    row('GET /api/sms?limit=50&cursor=(page 2)', await medianOf(gw.base, `/api/sms?limit=50&cursor=${encodeURIComponent(first.body.next_cursor)}`));
    const deep = await timed(gw.base, `/api/sms?limit=50&offset=${Math.min(900_000, Math.floor(MESSAGES * 0.9))}`);
    if (deep.body?.next_cursor) row('GET /api/sms?limit=50&cursor=(after row 900,050)', await medianOf(gw.base, `/api/sms?limit=50&cursor=${encodeURIComponent(deep.body.next_cursor)}`));
  } else {
    rows.push(['GET /api/sms?cursor=…', 'skipped', 'this build replies without next_cursor']);
  }
  // The figures are shown beside the time: read from running totals since migration 0014, they must still add up.
  const counted = (counts: Record<string, number> | undefined) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
  const big = await medianOf(gw.base, `/api/sms/batches/${seeded.bigBatchId}`);
  row('GET /api/sms/batches/{id} (10,000 recipients)', big, `counts add up to ${counted(big.body?.counts).toLocaleString('en')}, cost so far ${big.body?.cost_so_far}`);
  const campaigns = await medianOf(gw.base, '/api/sms/batches?limit=20');
  row('GET /api/sms/batches?limit=20 (campaigns, newest first)', campaigns,
    `${campaigns.body?.items?.length} campaigns, ${(campaigns.body?.items ?? []).reduce((n: number, b: { counts?: Record<string, number> }) => n + counted(b.counts), 0).toLocaleString('en')} messages in their counts`);

  const seededDb = new Database(join(dataDir, 'gateway.db'), { readonly: true });
  const outboxEntries = Number(seededDb.prepare('select count(*) n from simulator_outbox').pluck().get());
  seededDb.close();
  const outbox = await medianOf(gw.base, '/api/simulator/outbox?limit=50');
  row(`GET /api/simulator/outbox?limit=50 (${outboxEntries.toLocaleString('en')} entries, none trimmed)`, outbox, `total ${outbox.body?.total?.toLocaleString('en')}`);

  // The other lists that grow with the traffic.
  const { audit, optOuts, inbound } = seeded.tables;
  for (const [name, path] of [
    [`GET /api/audit?limit=50 (${audit.toLocaleString('en')} rows)`, '/api/audit?limit=50'],
    ['GET /api/audit?limit=50&offset=(90 %)', `/api/audit?limit=50&offset=${Math.floor(audit * 0.9)}`],
    ['GET /api/audit?limit=50&action=keys.create (1 row in 10,000)', '/api/audit?limit=50&action=keys.create'],
    ['GET /api/audit?limit=50&date range (1 day)', `/api/audit?limit=50&date_from=${dayFrom}&date_to=${dayTo}`],
    [`GET /api/opt-outs?limit=50 (${optOuts.toLocaleString('en')} rows)`, '/api/opt-outs?limit=50'],
    ['GET /api/opt-outs?limit=50&offset=(90 %)', `/api/opt-outs?limit=50&offset=${Math.floor(optOuts * 0.9)}`],
    [`GET /api/inbound?limit=50 (${inbound.toLocaleString('en')} rows)`, '/api/inbound?limit=50'],
    ['GET /api/inbound?limit=50&from=(one sender)', `/api/inbound?limit=50&from=${encodeURIComponent(seeded.someSender)}`],
  ] as const) {
    const r = await medianOf(gw.base, path);
    row(name, r, `total ${r.body?.total?.toLocaleString('en')}`);
  }

  for (const [name, query] of [
    ['no filter', ''], ['date range (7 days, not on hours)', `?date_from=${weekFrom}&date_to=${weekTo}`], ['date range (1 day)', `?date_from=${dayFrom}&date_to=${dayTo}`],
    ['provider=twilio', '?provider=twilio'], ['sms_type=otp', '?sms_type=otp'], ['group_by=hour', '?group_by=hour'], ['group_by=day', '?group_by=day'],
  ] as const) {
    const r = await medianOf(gw.base, `/api/analytics/stats${query}`);
    row(`GET /api/analytics/stats ${name}`, r, `total ${r.body?.total_messages?.toLocaleString('en')}`);
  }

  // The event loop while 5 heavy reads run at once: the longest /health answer, polled every 10 ms;
  // and how long a light read (one number's messages) sent just after them waits.
  const lightPath = `/api/sms?limit=50&to=${encodeURIComponent(seeded.someNumber)}`;
  const whileRunning = async (paths: string[]) => {
    let polling = true;
    let longest = 0;
    const poller = (async () => {
      while (polling) {
        const t = performance.now();
        await fetch(`${gw.base}/health`).then((r) => r.arrayBuffer(), () => undefined);
        longest = Math.max(longest, performance.now() - t);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    // Let the poller start before the reads go out.
    await new Promise((r) => setTimeout(r, 30));
    const started = performance.now();
    const heavy = Promise.all(paths.map((p) => fetch(gw.base + p).then((r) => r.arrayBuffer(), () => undefined)));
    await new Promise((r) => setTimeout(r, 5));
    const light = timed(gw.base, lightPath);
    await heavy;
    const tookMs = performance.now() - started;
    const lightMs = (await light).ms;
    polling = false;
    await poller;
    return { longest, tookMs, lightMs };
  };
  const analyticsAtOnce = await whileRunning(['', '?group_by=hour', '?provider=twilio', '?sms_type=otp', `?date_from=${weekFrom}&date_to=${weekTo}`].map((q) => `/api/analytics/stats${q}`));
  rows.push(['longest /health wait while 5 analytics calls run together', `${analyticsAtOnce.longest.toFixed(0)} ms`, `the 5 calls took ${analyticsAtOnce.tookMs.toFixed(0)} ms; a light GET /api/sms?to=… sent 5 ms after them took ${analyticsAtOnce.lightMs.toFixed(0)} ms`]);
  const listsAtOnce = await whileRunning(['?limit=50', `?limit=50&offset=${Math.min(900_000, Math.floor(MESSAGES * 0.9))}`, '?limit=50&status=delivered', '?limit=50&sms_type=promotional', '?limit=50&provider=plivo']
    .map((q) => `/api/sms${q}`));
  rows.push(['longest /health wait while 5 heavy GET /api/sms pages run together', `${listsAtOnce.longest.toFixed(0)} ms`,
    `the 5 pages (no filter, offset 900,000, status=delivered, sms_type=promotional, provider=plivo) took ${listsAtOnce.tookMs.toFixed(0)} ms; the light read ${listsAtOnce.lightMs.toFixed(0)} ms`]);
  const otherListsAtOnce = await whileRunning(['/api/audit?limit=50', '/api/audit?limit=50&action=keys.create', `/api/audit?limit=50&offset=${Math.floor(audit * 0.9)}`,
    '/api/opt-outs?limit=50', '/api/inbound?limit=50']);
  rows.push(['longest /health wait while 5 audit, opt-out and inbound pages run together', `${otherListsAtOnce.longest.toFixed(0)} ms`,
    `the 5 pages (audit: no filter, action=keys.create, offset 90 %; opt-outs; inbound) took ${otherListsAtOnce.tookMs.toFixed(0)} ms; the light read ${otherListsAtOnce.lightMs.toFixed(0)} ms`]);
  const batchListsAtOnce = await whileRunning(Array.from({ length: 5 }, () => '/api/sms/batches?limit=20'));
  rows.push(['longest /health wait while 5 GET /api/sms/batches?limit=20 run together', `${batchListsAtOnce.longest.toFixed(0)} ms`,
    `they took ${batchListsAtOnce.tookMs.toFixed(0)} ms; the light read ${batchListsAtOnce.lightMs.toFixed(0)} ms`]);

  const busyDuring = busyShare(measureStart, cpuTimes());
  const rssAfter = rssMb(gw.child.pid!);
  await gw.stop();
  const bytes = dirBytes(dataDir);
  rows.push(['data directory bytes per message', `${Math.round(bytes / seeded.messages).toLocaleString('en')} B`, `${(bytes / 1e6).toFixed(0)} MB in all, after a clean stop (WAL checkpointed)`]);
  rows.push(['gateway RSS', `${rssAfter.toFixed(0)} MB after the load`, `${rssFresh.toFixed(0)} MB just after start`]);
  rows.push(['gateway start (migrations included)', `${gw.startMs.toFixed(0)} ms`, '']);
  rows.push(['machine busy share (/proc/stat, 2 cores)', `${(othersBusy * 100).toFixed(0)} % before start`, `${(busyDuring * 100).toFixed(0)} % while measuring (this bench included)`]);

  console.log(`\n${seeded.messages.toLocaleString('en')} messages, median of ${REPEATS}, ${new Date().toISOString()}\n`);
  console.log('| figure | value | notes |\n| --- | --- | --- |');
  for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
  if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
}

await main();
