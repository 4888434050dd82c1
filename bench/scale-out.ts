/**
 * Beyond one machine (issue 9): the gateway as several processes on PostgreSQL + Redis, started as users
 * run them: API processes as `npm start` runs them (package.json; `node --enable-source-maps dist/main.js`
 * since the build at install) with RUN_WORKER=false, workers as `npm run worker` runs them
 * (`dist/worker-main.js`); `npm run build:server` must have been run. Every run gets a fresh PostgreSQL schema
 * (dropped afterwards) and its own REDIS_PREFIX (`bench-<uuid>:`, its keys deleted afterwards).
 *
 * Scenarios (each run alternately with the others of its group, `--runs` times; medians reported):
 * - `send`: accepted sends/s. autocannon POST /api/sms/send, one recipient, a different number every request,
 *   `--connections` (50) in all for `--duration` (8) s after a warm-up of 3,000 requests per process. Cases,
 *   alternated: PostgreSQL + Redis with 1 API process and with 2; as references under the same conditions,
 *   the embedded default (SQLite, one process) and PostgreSQL without Redis. With 2 processes: one autocannon
 *   instance per process with half the connections each, both in this process (same total concurrency as
 *   with one). No worker runs (messages stay queued). Reported: requests/s (answers / measured wall time),
 *   p50/p99 over every answer of both instances, non-2xx and errors, stored rows vs 2xx, CPU per request of
 *   the API processes, of their PostgreSQL backends and of this process (the load generator), how busy the
 *   whole machine was and how much of it was other work.
 * - `dispatch`: dispatched messages/s with 1, 2 and 4 workers to the Twilio fake (test/providers/fakes) in a
 *   process of its own, over loopback HTTP, TWILIO_MAX_PER_SECOND=100000 (above 10,000/s a budget stays per
 *   process: no Redis round trip per send). The workers (and one API process) are started and ready first,
 *   and warmed up with 500 messages each (due at once, not counted); then `--messages` (5,000) are accepted
 *   through POST /api/sms/send-batch (1,000 a request) with `schedule_at` a few seconds ahead (4 s + 3 ms a
 *   message: accepting takes a while on a busy machine), so the whole queue is there before the first claim. Rate = messages
 *   sent / (last `sent_at` − first claim), both as the gateway stamped them. The fake counts the creates per
 *   recipient: each of the messages must have reached it exactly once.
 * - `wakeup`: an idle API process + 1 worker; `--otps` (50) POST /api/otp/generate one at a time, each sent
 *   `--gap` (200) ms after the previous one reached the fake (so each finds the worker idle in its poll),
 *   after 5 uncounted warm-up OTPs. Latency = the fake's receipt of the Twilio request (end of its body,
 *   timestamped in the fake's process) − the moment this process had the API's answer (response headers);
 *   also given from the moment the request was sent. Both processes read CLOCK_MONOTONIC
 *   (process.hrtime), one clock for the whole machine. Cases: with Redis (pub/sub wake-up) and without
 *   REDIS_URL (PostgreSQL LISTEN/NOTIFY), each with the default DISPATCH_POLL_INTERVAL_MS (50) and with 1000.
 *   TWILIO_MAX_PER_SECOND=100 here (a realistic budget: shared through Redis when REDIS_URL is set).
 *
 * CPU: user+system time from /proc/<pid>/stat (10 ms ticks) of the gateway's processes, and of the
 * PostgreSQL backends serving them (found by their application_name in pg_stat_activity); the whole
 * machine's busy share from /proc/stat over the same window (other work shares the machine).
 *
 * Needs PostgreSQL (BENCH_POSTGRES_URL, else TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test)
 * and Redis (BENCH_REDIS_URL, else redis://127.0.0.1:6379).
 *
 * Usage: npx tsx bench/scale-out.ts [--only send|dispatch|wakeup] [--runs 3] [--duration 8] [--connections 50]
 *        [--messages 5000] [--workers 1,2,4] [--otps 50] [--gap 200]
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '50' },
    messages: { type: 'string', default: '5000' },
    workers: { type: 'string', default: '1,2,4' },
    otps: { type: 'string', default: '50' },
    gap: { type: 'string', default: '200' },
    // Internal: this file run as the fake's process.
    fake: { type: 'boolean', default: false },
  },
});

const ROOT = join(import.meta.dirname, '..');
const PG_URL = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** CLOCK_MONOTONIC in ms: the same clock in every process of the machine. */
const hr = () => Number(process.hrtime.bigint()) / 1e6;

// --- the fake's process ---------------------------------------------------------------------

async function serveFake(): Promise<void> {
  const { startTwilioFake } = await import('../test/providers/fakes/twilio-fake.js');
  const perTo = new Map<string, number>();
  let creates = 0;
  let target = Infinity;
  let live = false;
  let cpu = process.cpuUsage();
  const fake = await startTwilioFake({
    answerCreate: (request) => {
      // The whole request is here (headers and form body): that is "the provider received it".
      const t = hr();
      if (request.method !== 'POST') return undefined;
      const to = request.form.To ?? '';
      perTo.set(to, (perTo.get(to) ?? 0) + 1);
      creates++;
      if (live) process.send!({ type: 'arrival', to, t });
      if (creates === target) process.send!({ type: 'reached' });
      return undefined;
    },
  });
  process.on('message', (m: { type: string; count?: number; live?: boolean }) => {
    if (m.type === 'expect') {
      target = m.count ?? Infinity;
      live = m.live ?? false;
      perTo.clear();
      creates = 0;
      cpu = process.cpuUsage();
      process.send!({ type: 'expecting' });
    } else if (m.type === 'stats') {
      const used = process.cpuUsage(cpu);
      let maxPerTo = 0;
      for (const n of perTo.values()) maxPerTo = Math.max(maxPerTo, n);
      process.send!({ type: 'stats', creates, distinct: perTo.size, maxPerTo, cpuMs: (used.user + used.system) / 1000 });
    } else if (m.type === 'close') {
      void fake.close().then(() => process.exit(0));
    }
  });
  process.send!({
    type: 'ready',
    env: { TWILIO_ACCOUNT_SID: fake.accountSid, TWILIO_AUTH_TOKEN: fake.authToken, TWILIO_PHONE_NUMBER: '+15005550006', TWILIO_BASE_URL: fake.url },
  });
}

// --- processes ------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void>> = [];

interface Fake {
  env: Record<string, string>;
  child: ChildProcess;
  once<T>(type: string, timeoutMs?: number): Promise<T>;
  request<T>(message: object, reply: string): Promise<T>;
  close(): Promise<void>;
}

async function startFake(): Promise<Fake> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--fake'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  track(child);
  const once = <T>(type: string, timeoutMs = 120_000) => new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the fake sent no ${type} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { type: string }) => {
      if (m.type === type) done(undefined, m as T);
    };
    const onExit = (code: number | null) => done(new Error(`the fake's process exited (${code}) while waiting for ${type}`));
    const done = (err?: Error, value?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  const { env } = await once<{ env: Record<string, string> }>('ready', 60_000);
  return {
    env, child, once,
    request<T>(message: object, reply: string) {
      const answer = once<T>(reply);
      child.send(message);
      return answer;
    },
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.send({ type: 'close' });
    }),
  };
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

interface Gateway { child: ChildProcess; pid: number; port?: number; base?: string; stop(): Promise<void> }

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

let nextPort = 19000 + Math.floor(Math.random() * 500) * 2;

/**
 * What `npm start` / `npm run worker` run (package.json), as node arguments: `node <flags> dist/main.js` once
 * the gateway is compiled at install, `tsx src/main.ts` (= `node --import tsx src/main.ts`) before that.
 */
function entryArgs(script: 'start' | 'worker'): string[] {
  const command = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts[script];
  const [runner, ...args] = command.trim().split(/\s+/);
  const resolved = runner === 'node' ? args : runner === 'tsx' ? ['--import', 'tsx', ...args] : undefined;
  if (!resolved) throw new Error(`npm run ${script} is "${command}": neither node nor tsx, so this benchmark does not know how to start it`);
  const entry = resolved.find((a) => /\.(js|ts)$/.test(a));
  if (entry && !existsSync(join(ROOT, entry))) throw new Error(`npm run ${script} runs ${entry}, which does not exist: build first (npm run build:server)`);
  return resolved;
}

/** An API process (`npm start` with RUN_WORKER=false), ready when /health answers. */
async function startApi(env: Record<string, string>): Promise<Gateway> {
  const port = nextPort++;
  const child = track(spawn(process.execPath, entryArgs('start'), {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}`, RUN_WORKER: 'false' },
    stdio: ['ignore', 'ignore', 'inherit'],
  }));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`an API process exited (${child.exitCode}) while starting`);
    if (i === 600) throw new Error('an API process did not answer /health within 60 s');
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {
      // starting
    }
    await sleep(100);
  }
  return { child, pid: child.pid!, port, base, stop: () => stopChild(child) };
}

/** A worker (`npm run worker`), ready when it prints "worker started". */
async function startWorker(env: Record<string, string>): Promise<Gateway> {
  const child = track(spawn(process.execPath, entryArgs('worker'), {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
  }));
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    let ready = false;
    const timer = setTimeout(() => reject(new Error('a worker did not start within 60 s')), 60_000);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      // Keeps draining stdout after the start, so the worker never blocks on a full pipe.
      if (ready) return;
      seen += chunk;
      if (seen.includes('worker started')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`a worker exited (${code}) while starting`));
    });
  });
  return { child, pid: child.pid!, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited(child);
  clearTimeout(timer);
}

// --- PostgreSQL, Redis ----------------------------------------------------------------------

interface Environment { databaseUrl: string; schema: string; appName: string; redisPrefix: string; admin: pg.Pool; drop(): Promise<void> }

/** A fresh schema (search_path and application_name in the URL) and a Redis prefix of this run's own. */
async function freshEnvironment(): Promise<Environment> {
  const id = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const schema = `bench_${id}`;
  const appName = `smsgw_bench_${id}`;
  const redisPrefix = `bench-${randomUUID()}:`;
  // A pool, not one client: a connection the server drops (other sessions share this PostgreSQL) is replaced.
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
  admin.on('error', (err) => console.warn(`bench: an idle PostgreSQL connection of the benchmark failed (${err.message})`));
  await admin.query(`create schema ${schema}`);
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  url.searchParams.set('application_name', appName);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await admin.query(`drop schema if exists ${schema} cascade`).finally(() => admin.end());
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  };
  cleanups.push(drop);
  return { databaseUrl: url.toString(), schema, appName, redisPrefix, admin, drop };
}

function gatewayEnv(e: Environment, redis: boolean, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: e.databaseUrl,
    ...(redis ? { REDIS_URL, REDIS_PREFIX: e.redisPrefix } : {}),
    LOG_LEVEL: 'warn',
    // Every process must use the same keys (docs/deployment.md).
    OTP_HASH_KEY: 'scale-out-bench-hash-key-0123456789', MESSAGE_ENCRYPTION_KEY: 'ab'.repeat(32), WEBHOOK_SECRET: 'bench-webhook-secret',
    RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000', MAX_SMS_PER_NUMBER_PER_HOUR: '1000000',
    // 50+ OTPs to one country with no verify would trip the pumping guard (20 generates, conversion < 0.2): off.
    OTP_PUMPING_MIN_CONVERSION: '0',
    ...extra,
  };
}

// --- CPU ------------------------------------------------------------------------------------

/** Busy and total clock ticks of the whole machine (all cores), from /proc/stat. */
function machineTicks(): [number, number] {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return [total - cpu[3] - cpu[4], total];
}

/** User+system CPU of a process in ms (clock ticks of 10 ms), or undefined once it is gone. */
function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * CPU of the PostgreSQL backends serving this run's processes (application_name), cumulative: every backend
 * of the run was opened during the run, so its whole CPU time counts; a backend that exits keeps its last value.
 */
class PgBackends {
  private readonly last = new Map<number, number>();
  constructor(private readonly e: Environment) {}
  async total(): Promise<number> {
    const rows = (await this.e.admin.query('select pid from pg_stat_activity where application_name = $1', [this.e.appName])).rows as Array<{ pid: number }>;
    for (const { pid } of rows) if (!this.last.has(pid)) this.last.set(pid, 0);
    for (const pid of this.last.keys()) {
      const v = cpuMsOf(pid);
      if (v !== undefined) this.last.set(pid, v);
    }
    let sum = 0;
    for (const v of this.last.values()) sum += v;
    return sum;
  }
  get count(): number {
    return this.last.size;
  }
}

interface Sample { at: number; procs: number; ours: number; busy: number; all: number }

/**
 * Samples every `everyMs` the CPU of `pids` (summed), of every process of this run (`ours`: those, the
 * others started here, this process), and the machine; PostgreSQL backends every 100 ms.
 */
function sampler(pids: number[], others: number[], backends: PgBackends, everyMs = 20) {
  const samples: Sample[] = [];
  const pgSamples: Array<{ at: number; cpu: number }> = [];
  const ourPids = [...pids, ...others, process.pid];
  const sum = (xs: number[]) => xs.reduce((s, p) => s + (cpuMsOf(p) ?? 0), 0);
  const take = () => {
    const [busy, all] = machineTicks();
    samples.push({ at: Date.now(), procs: sum(pids), ours: sum(ourPids), busy, all });
  };
  take();
  const timer = setInterval(take, everyMs);
  let pgRunning = true;
  const pgLoop = (async () => {
    while (pgRunning) {
      try {
        pgSamples.push({ at: Date.now(), cpu: await backends.total() });
      } catch (err) {
        console.warn(`bench: reading pg_stat_activity failed (${(err as Error).message}); PostgreSQL CPU of this window may be low`);
      }
      await sleep(100);
    }
  })();
  return {
    async stop() {
      clearInterval(timer);
      take();
      pgRunning = false;
      await pgLoop;
      pgSamples.push({ at: Date.now(), cpu: await backends.total().catch(() => pgSamples[pgSamples.length - 1]?.cpu ?? 0) });
    },
    /**
     * Over [t0, t1] (ms since epoch): CPU ms of the processes and of their PostgreSQL backends, the machine's
     * busy share, and the CPU of everything else (other sessions' work) in cores.
     */
    window(t0: number, t1: number) {
      const at = <T extends { at: number }>(xs: T[], t: number) => xs.find((s) => s.at >= t) ?? xs[xs.length - 1];
      const a = at(samples, t0);
      const b = at(samples, t1);
      const pgMs = at(pgSamples, t1).cpu - at(pgSamples, t0).cpu;
      // /proc/stat counts 10 ms ticks summed over the cores.
      const busyMs = (b.busy - a.busy) * 10;
      return {
        procsMs: b.procs - a.procs,
        pgMs,
        machineBusy: (b.busy - a.busy) / Math.max(1, b.all - a.all),
        otherCores: Math.max(0, busyMs - (b.ours - a.ours) - pgMs) / Math.max(1, b.at - a.at),
      };
    },
  };
}

// --- scenario 1: accepted sends/s -------------------------------------------------------------

interface SendCase { label: string; apis: number; backend: 'sqlite' | 'postgres'; redis: boolean }

/**
 * The issue's two cases (PostgreSQL + Redis, 1 and 2 API processes) and two references measured in the
 * same alternation, so under the same machine conditions: the embedded default (SQLite, one process) and
 * PostgreSQL without Redis (what Redis costs on the accept path).
 */
const SEND_CASES: SendCase[] = [
  { label: 'SQLite (embedded), 1 process', apis: 1, backend: 'sqlite', redis: false },
  { label: 'PostgreSQL, no Redis, 1 API', apis: 1, backend: 'postgres', redis: false },
  { label: 'PostgreSQL + Redis, 1 API', apis: 1, backend: 'postgres', redis: true },
  { label: 'PostgreSQL + Redis, 2 APIs', apis: 2, backend: 'postgres', redis: true },
];

interface SendResult {
  label: string; rate: number; p50: number; p99: number; ok: number; non2xx: number; errors: number; stored: number;
  apiCpuUs: number; pgCpuUs: number; loaderCpuUs: number; apiCoreShare: number; machineBusy: number; otherCores: number; seconds: number;
}

let numberCounter = 0;
const nextNumber = () => `+1415${2_000_000 + ((numberCounter++ * 7919) % 7_999_999)}`;
const SEND_MESSAGE = 'Your order #1234 has shipped and will arrive tomorrow.';

/** autocannon for `length` seconds, or `{ amount }` requests in all. */
function cannon(base: string, connections: number, length: number | { amount: number }, latencies?: number[]): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: `${base}/api/sms/send`, method: 'POST', headers: { 'content-type': 'application/json' }, connections,
      ...(typeof length === 'number' ? { duration: length } : { amount: length.amount }),
      requests: [{
        method: 'POST',
        setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ to: [{ number: nextNumber() }], message: SEND_MESSAGE, sms_type: 'transactional' }) }),
      }],
    }, (err, result) => (err ? reject(err) : resolve(result)));
    // (client, statusCode, resBytes, responseTime ms)
    if (latencies) instance.on('response', (...args: unknown[]) => latencies.push(args[3] as number));
  });
}

async function runSend(c: SendCase): Promise<SendResult> {
  const e = await freshEnvironment();
  const dir = mkdtempSync(join(tmpdir(), 'smsgw-scale-'));
  const sqlitePath = join(dir, 'gateway.db');
  const started: Gateway[] = [];
  const stored = async () => {
    if (c.backend === 'postgres') return Number((await e.admin.query(`select count(*) n from ${e.schema}.messages`)).rows[0].n);
    const db = new Database(sqlitePath, { readonly: true });
    try {
      return (db.prepare('select count(*) n from messages').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  try {
    const env = gatewayEnv(e, c.redis, c.backend === 'sqlite' ? { DATABASE_URL: `sqlite:${sqlitePath}` } : {});
    for (let i = 0; i < c.apis; i++) started.push(await startApi(env));
    const connections = Number(values.connections);
    const duration = Number(values.duration);
    const per = Math.floor(connections / c.apis);
    // Warm-up: JIT, statement caches, pool connections: 3,000 requests per process (by count, not time: on a
    // busy machine a few seconds may be only a few hundred requests); then the requests cut off by its end finish.
    await Promise.all(started.map((g) => cannon(g.base!, per, { amount: 3000 })));
    await sleep(500);
    const storedBefore = await stored();
    const backends = new PgBackends(e);
    const s = sampler(started.map((g) => g.pid), [], backends, 100);
    await sleep(150);
    const latencies: number[] = [];
    const loader0 = process.cpuUsage();
    const t0 = Date.now();
    const results = await Promise.all(started.map((g) => cannon(g.base!, per, duration, latencies)));
    const t1 = Date.now();
    const loader = process.cpuUsage(loader0);
    await sleep(500);
    await s.stop();
    const w = s.window(t0, t1);
    const ok = results.reduce((n, r) => n + r['2xx'], 0);
    const non2xx = results.reduce((n, r) => n + r.non2xx, 0);
    const errors = results.reduce((n, r) => n + r.errors + r.timeouts, 0);
    latencies.sort((a, b) => a - b);
    const seconds = (t1 - t0) / 1000;
    const answered = ok + non2xx;
    return {
      label: c.label, rate: answered / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), ok, non2xx, errors, stored: (await stored()) - storedBefore,
      apiCpuUs: (w.procsMs * 1000) / answered, pgCpuUs: (w.pgMs * 1000) / answered, loaderCpuUs: (loader.user + loader.system) / answered,
      apiCoreShare: w.procsMs / (t1 - t0), machineBusy: w.machineBusy, otherCores: w.otherCores, seconds,
    };
  } finally {
    await Promise.all(started.map((g) => g.stop()));
    await e.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- scenario 2: dispatched messages/s ---------------------------------------------------------

interface DispatchResult {
  workers: number; total: number; sent: number; creates: number; distinct: number; maxPerTo: number; seconds: number; rate: number;
  workerCpuUs: number; pgCpuUs: number; fakeCpuUs: number; workerCoreShare: number; machineBusy: number; otherCores: number; rounds: number; queueMs: number;
}

async function runDispatch(workers: number, total: number): Promise<DispatchResult> {
  const fake = await startFake();
  const e = await freshEnvironment();
  const started: Gateway[] = [];
  try {
    const env = gatewayEnv(e, true, { ...fake.env, SIMULATOR_ENABLED: 'false', TWILIO_MAX_PER_SECOND: '100000' });
    const api = await startApi(env);
    started.push(api);
    const ws = await Promise.all(Array.from({ length: workers }, () => startWorker(env)));
    started.push(...ws);
    const sendBatch = async (name: string, from: number, count: number, scheduleAt?: number) => {
      const recipients = Array.from({ length: count }, (_, j) => ({ number: `+1415${from + j}` }));
      const res = await fetch(`${api.base}/api/sms/send-batch`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, recipients, message: 'Special offer! Get 50% off today.', sms_type: 'promotional', ...(scheduleAt ? { schedule_at: new Date(scheduleAt).toISOString() } : {}) }),
      });
      const body = await res.json() as { accepted?: number };
      if (res.status !== 200 || body.accepted !== count) throw new Error(`send-batch answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    };
    // Warm-up, not counted: 500 messages per worker due at once (a round is up to 500, so every worker
    // takes one): JIT, pool and provider connections of every process.
    const warmUp = 500 * workers;
    await fake.request({ type: 'expect', count: warmUp }, 'expecting');
    for (let b = 0; b * 1000 < warmUp; b++) await sendBatch(`warm-up ${b}`, 5_000_000 + b * 1000, Math.min(1000, warmUp - b * 1000));
    await fake.once('reached', 120_000);
    const open = async () => Number((await e.admin.query(`select count(*) n from ${e.schema}.messages where status in ('scheduled', 'queued', 'sending')`)).rows[0].n);
    for (let i = 0; (await open()) > 0; i++) {
      if (i > 600) throw new Error('warm-up messages still open 60 s after the fake saw the last one');
      await sleep(100);
    }
    const warmEnd = Date.now();

    await fake.request({ type: 'expect', count: total }, 'expecting');
    const backends = new PgBackends(e);
    const s = sampler(ws.map((w) => w.pid), [api.pid, fake.child.pid!], backends, 20);
    // Everything due a while from now (time to accept them all on a busy machine), so the workers start on a full queue.
    const q0 = Date.now();
    const scheduleAt = q0 + 4000 + 3 * total;
    const perBatch = 1000;
    for (let b = 0; b * perBatch < total; b++) await sendBatch(`bench ${b}`, 2_000_000 + b * perBatch, Math.min(perBatch, total - b * perBatch), scheduleAt);
    const queueMs = Date.now() - q0;
    if (Date.now() > scheduleAt - 300) throw new Error(`queuing took ${queueMs} ms: the messages came due before all were accepted`);

    await fake.once('reached', 180_000);
    for (let i = 0; (await open()) > 0; i++) {
      if (i > 600) throw new Error('messages still open 60 s after the fake saw the last one');
      await sleep(100);
    }
    await sleep(100);
    await s.stop();

    const one = async (sql: string) => Number((await e.admin.query(sql.replaceAll('{s}', e.schema))).rows[0].v);
    // Only the measured messages (accepted after the warm-up was over).
    const firstClaim = await one(`select min(ev.created_at) v from {s}.message_events ev join {s}.messages m on m.id = ev.message_id where ev.status = 'sending' and m.created_at > ${warmEnd}`);
    const lastSent = await one(`select max(sent_at) v from {s}.messages where status = 'sent' and created_at > ${warmEnd}`);
    const sent = await one(`select count(*) v from {s}.messages where status = 'sent' and created_at > ${warmEnd}`);
    const rounds = await one(`select count(distinct ev.created_at) v from {s}.message_events ev join {s}.messages m on m.id = ev.message_id where ev.status = 'sending' and m.created_at > ${warmEnd}`);
    const stats = await fake.request<{ creates: number; distinct: number; maxPerTo: number; cpuMs: number }>({ type: 'stats' }, 'stats');
    const w = s.window(firstClaim, lastSent);
    const seconds = (lastSent - firstClaim) / 1000;
    return {
      workers, total, sent, creates: stats.creates, distinct: stats.distinct, maxPerTo: stats.maxPerTo, seconds, rate: sent / seconds,
      workerCpuUs: (w.procsMs * 1000) / sent, pgCpuUs: (w.pgMs * 1000) / sent, fakeCpuUs: (stats.cpuMs * 1000) / stats.creates,
      workerCoreShare: w.procsMs / (lastSent - firstClaim), machineBusy: w.machineBusy, otherCores: w.otherCores, rounds, queueMs,
    };
  } finally {
    await Promise.all(started.map((g) => g.stop()));
    await fake.close();
    await e.drop();
  }
}

// --- scenario 3: wake-up latency ---------------------------------------------------------------

interface WakeupResult {
  label: string; redis: boolean; pollMs: number; n: number;
  /** Answer received → fake received, ms (sorted). */
  fromAnswer: number[];
  /** Request sent → fake received, ms (sorted). */
  fromSend: number[];
  /** Gateway stamps (ms resolution): accepted (messages.created_at) → claimed (the `sending` event). */
  acceptToClaim: number[];
  /** Claimed (gateway stamp) → fake received (converted to wall clock). */
  claimToFake: number[];
  machineBusy: number;
}

async function runWakeup(redis: boolean, pollMs: number): Promise<WakeupResult> {
  const label = `${redis ? 'Redis pub/sub' : 'PostgreSQL LISTEN/NOTIFY'}, poll ${pollMs} ms`;
  const fake = await startFake();
  const e = await freshEnvironment();
  const started: Gateway[] = [];
  try {
    const env = gatewayEnv(e, redis, { ...fake.env, SIMULATOR_ENABLED: 'false', TWILIO_MAX_PER_SECOND: '100', DISPATCH_POLL_INTERVAL_MS: String(pollMs) });
    const api = await startApi(env);
    started.push(api);
    started.push(await startWorker(env));
    await fake.request({ type: 'expect', live: true }, 'expecting');
    // Wall clock (gateway stamps) = monotonic + offset, measured here; ms resolution is enough for the split.
    const offsets: number[] = [];
    for (let i = 0; i < 20; i++) {
      const a = hr();
      const d = Date.now();
      offsets.push(d - (a + hr()) / 2);
    }
    const offset = median(offsets);
    const warmUp = 5;
    const count = Number(values.otps);
    const gap = Number(values.gap);
    const rows: Array<{ id: string; sent: number; answered: number; fake: number }> = [];
    const [busy0, all0] = machineTicks();
    for (let i = 0; i < warmUp + count; i++) {
      const number = `+1415${3_000_000 + i}`;
      const arrival = fake.once<{ to: string; t: number }>('arrival', 15_000);
      const sent = hr();
      const res = await fetch(`${api.base}/api/otp/generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone_number: { number } }),
      });
      const answered = hr();
      const body = await res.json() as { message_id?: string };
      if (res.status !== 200 || !body.message_id) throw new Error(`otp/generate answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      const a = await arrival;
      if (a.to !== number) throw new Error(`the fake received ${a.to}, expected ${number}`);
      if (i >= warmUp) rows.push({ id: body.message_id, sent, answered, fake: a.t });
      await sleep(gap);
    }
    const [busy1, all1] = machineTicks();
    const stamps = (await e.admin.query(
      `select m.id, m.created_at, (select min(ev.created_at) from ${e.schema}.message_events ev where ev.message_id = m.id and ev.status = 'sending') claimed
         from ${e.schema}.messages m where m.id = any($1)`, [rows.map((r) => r.id)],
    )).rows as Array<{ id: string; created_at: string; claimed: string | null }>;
    const byId = new Map(stamps.map((s) => [s.id, s]));
    const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
    const stats = await fake.request<{ creates: number; maxPerTo: number }>({ type: 'stats' }, 'stats');
    if (stats.creates !== warmUp + count || stats.maxPerTo !== 1) throw new Error(`the fake saw ${stats.creates} creates (max ${stats.maxPerTo} per number)`);
    return {
      label, redis, pollMs, n: rows.length,
      fromAnswer: sorted(rows.map((r) => r.fake - r.answered)),
      fromSend: sorted(rows.map((r) => r.fake - r.sent)),
      acceptToClaim: sorted(rows.map((r) => Number(byId.get(r.id)!.claimed) - Number(byId.get(r.id)!.created_at))),
      claimToFake: sorted(rows.map((r) => r.fake + offset - Number(byId.get(r.id)!.claimed))),
      machineBusy: (busy1 - busy0) / Math.max(1, all1 - all0),
    };
  } finally {
    await Promise.all(started.map((g) => g.stop()));
    await fake.close();
    await e.drop();
  }
}

// --- main -----------------------------------------------------------------------------------

async function reachable(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new Error(`PostgreSQL at ${PG_URL} is not reachable (${(err as Error).message}): this benchmark needs it`);
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true, connectTimeout: 3000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis at ${REDIS_URL} is not reachable (${(err as Error).message}): this benchmark needs it`);
  } finally {
    redis.disconnect();
  }
}

/** A run that fails (e.g. the shared PostgreSQL dropped a connection) is reported and run once more. */
async function retried<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    console.warn(`bench: ${what} failed (${(err as Error).message}); running it again`);
    for (const c of children) c.kill('SIGKILL');
    return run();
  }
}

const pct = (x: number) => `${Math.round(x * 100)} %`;
const f1 = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  const runs = Number(values.runs);
  const only = values.only;
  await reachable();
  console.log(`API processes: node ${entryArgs('start').join(' ')}; workers: node ${entryArgs('worker').join(' ')}`);
  console.log(`scale-out bench: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at start; PostgreSQL ${PG_URL}, Redis ${REDIS_URL}`);

  if (only === undefined || only === 'send') {
    const results: SendResult[] = [];
    const connections = Number(values.connections);
    for (let r = 0; r < runs; r++) {
      for (const c of SEND_CASES) {
        const x = await retried(`send ${c.label}`, () => runSend(c));
        results.push(x);
        console.log(`send run ${r + 1}, ${x.label}: ${Math.round(x.rate)} req/s over ${f1(x.seconds)} s, p50 ${f1(x.p50)} ms p99 ${f1(x.p99)} ms; `
          + `2xx ${x.ok}, non-2xx ${x.non2xx}, errors ${x.errors}, stored ${x.stored}; CPU per request: API ${Math.round(x.apiCpuUs)} µs, `
          + `PostgreSQL ${Math.round(x.pgCpuUs)} µs, load generator ${Math.round(x.loaderCpuUs)} µs; API processes ${pct(x.apiCoreShare)} of a core; `
          + `machine busy ${pct(x.machineBusy)} of 2 cores, other work ${x.otherCores.toFixed(2)} cores`);
      }
    }
    console.log('\n| case | requests/s (runs) | p50 | p99 | non-2xx / errors | CPU per request: API / PostgreSQL / load generator | API processes, share of a core | machine busy (2 cores) | other work (cores) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const c of SEND_CASES) {
      const rs = results.filter((x) => x.label === c.label);
      const m = (f: (x: SendResult) => number) => median(rs.map(f));
      console.log(`| ${c.label} | ${Math.round(m((x) => x.rate))} (${rs.map((x) => Math.round(x.rate)).join(', ')}) | ${f1(m((x) => x.p50))} ms | ${f1(m((x) => x.p99))} ms `
        + `| ${rs.reduce((n, x) => n + x.non2xx, 0)} / ${rs.reduce((n, x) => n + x.errors, 0)} | ${Math.round(m((x) => x.apiCpuUs))} / ${Math.round(m((x) => x.pgCpuUs))} / ${Math.round(m((x) => x.loaderCpuUs))} µs `
        + `| ${pct(m((x) => x.apiCoreShare))} | ${pct(m((x) => x.machineBusy))} | ${m((x) => x.otherCores).toFixed(2)} |`);
    }
    // autocannon stops with requests in flight: those are stored but never counted as answered (at most `connections`).
    const bad = results.filter((x) => x.stored < x.ok || x.stored - x.ok > connections);
    console.log(bad.length === 0
      ? `stored rows: every 2xx was stored in every run (stored − 2xx = ${results.map((x) => x.stored - x.ok).join(', ')}: requests still in flight when autocannon stopped, ≤ ${connections})`
      : `stored rows do not match the 2xx in ${bad.length} runs: ${bad.map((x) => `${x.stored} stored vs ${x.ok} 2xx`).join(', ')}`);
  }

  if (only === undefined || only === 'dispatch') {
    const total = Number(values.messages);
    const counts = values.workers.split(',').map(Number);
    const results: DispatchResult[] = [];
    for (let r = 0; r < runs; r++) {
      for (const workers of counts) {
        const x = await retried(`dispatch with ${workers} workers`, () => runDispatch(workers, total));
        results.push(x);
        console.log(`dispatch run ${r + 1}, ${workers} worker(s): ${x.sent} of ${x.total} sent in ${x.seconds.toFixed(2)} s = ${Math.round(x.rate)} msg/s; `
          + `fake: ${x.creates} creates, ${x.distinct} numbers, at most ${x.maxPerTo} per number; CPU per message: workers ${Math.round(x.workerCpuUs)} µs, `
          + `PostgreSQL ${Math.round(x.pgCpuUs)} µs, fake ${Math.round(x.fakeCpuUs)} µs; workers ${pct(x.workerCoreShare)} of a core; machine busy ${pct(x.machineBusy)} of 2 cores, other work ${x.otherCores.toFixed(2)} cores; `
          + `${x.rounds} claim instants; queued in ${x.queueMs} ms`);
      }
    }
    console.log('\n| workers | messages/s (runs) | exactly once (fake) | CPU per message: workers / PostgreSQL / fake | workers, share of a core | machine busy (2 cores) | other work (cores) | claim instants |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const workers of counts) {
      const rs = results.filter((x) => x.workers === workers);
      const m = (f: (x: DispatchResult) => number) => median(rs.map(f));
      const once = rs.every((x) => x.sent === x.total && x.creates === x.total && x.distinct === x.total && x.maxPerTo === 1);
      console.log(`| ${workers} | ${Math.round(m((x) => x.rate))} (${rs.map((x) => Math.round(x.rate)).join(', ')}) | ${once ? `yes, ${rs.length} × ${total}` : 'NO'} `
        + `| ${Math.round(m((x) => x.workerCpuUs))} / ${Math.round(m((x) => x.pgCpuUs))} / ${Math.round(m((x) => x.fakeCpuUs))} µs | ${pct(m((x) => x.workerCoreShare))} | ${pct(m((x) => x.machineBusy))} | ${m((x) => x.otherCores).toFixed(2)} | ${m((x) => x.rounds)} |`);
    }
  }

  if (only === undefined || only === 'wakeup') {
    const cases: Array<[boolean, number]> = [[true, 50], [false, 50], [true, 1000], [false, 1000]];
    const results: WakeupResult[] = [];
    for (let r = 0; r < runs; r++) {
      for (const [redis, poll] of cases) {
        const x = await retried(`wake-up ${redis} ${poll}`, () => runWakeup(redis, poll));
        results.push(x);
        const d = (xs: number[]) => `${f1(quantile(xs, 0.5))} / ${f1(quantile(xs, 0.95))} / ${f1(xs[xs.length - 1])}`;
        console.log(`wakeup run ${r + 1}, ${x.label}: ${x.n} OTPs; ms median / p95 / max: answer → fake ${d(x.fromAnswer)}; request sent → fake ${d(x.fromSend)}; `
          + `accepted → claimed (gateway stamps) ${d(x.acceptToClaim)}; claimed → fake ${d(x.claimToFake)}; machine busy ${pct(x.machineBusy)} of 2 cores`);
      }
    }
    console.log('\nmedian over runs of each run\'s median / p95 / max (ms); in brackets each run\'s median:');
    console.log('| wake-up by | poll interval | answer → provider fake | request sent → provider fake | accepted → claimed (gateway stamps) | claimed → provider fake | machine busy |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [redis, poll] of cases) {
      const rs = results.filter((x) => x.redis === redis && x.pollMs === poll);
      const cell = (f: (x: WakeupResult) => number[]) => `${f1(median(rs.map((x) => quantile(f(x), 0.5))))} / ${f1(median(rs.map((x) => quantile(f(x), 0.95))))} / ${f1(median(rs.map((x) => f(x)[f(x).length - 1])))} (${rs.map((x) => f1(quantile(f(x), 0.5))).join(', ')})`;
      console.log(`| ${redis ? 'Redis pub/sub' : 'PostgreSQL LISTEN/NOTIFY'} | ${poll} ms | ${cell((x) => x.fromAnswer)} | ${cell((x) => x.fromSend)} | ${cell((x) => x.acceptToClaim)} | ${cell((x) => x.claimToFake)} | ${pct(median(rs.map((x) => x.machineBusy)))} |`);
    }
    const all = results.flatMap((x) => x.fromAnswer);
    console.log(`over every OTP of every run: ${all.filter((v) => v < 50).length} of ${all.length} under 50 ms from the answer to the fake`);
  }
}

async function cleanUp(): Promise<void> {
  for (const c of children) c.kill('SIGKILL');
  for (const c of cleanups) await c().catch(() => undefined);
}

process.once('SIGINT', () => {
  void cleanUp().then(() => process.exit(130));
});

if (values.fake) {
  await serveFake();
} else {
  try {
    await main();
    await cleanUp();
    process.exit(0);
  } catch (err) {
    console.error(err);
    await cleanUp();
    process.exit(1);
  }
}
