/**
 * Issue 10, first table, "as users run it": the gateway started exactly as `npm start` starts it
 * (`node --enable-source-maps dist/main.js`, compiled by `npm run build:server` at the beginning of this
 * run), on a fresh SQLite file per run, with its defaults: dispatcher on, simulator delivering and reporting
 * (SIMULATOR_DELIVERY_DELAY_MS default), SQLITE_SYNCHRONOUS default. Only the API rate limits and
 * MAX_SMS_PER_NUMBER_PER_HOUR are raised so the load is not refused (and, for figure 5 only, the OTP pumping
 * guard's conversion floor is 0, as in bench/otp.ts: every code is verified after all are generated, which to
 * the guard looks like pumping). The gateway's environment is only PATH, HOME and those variables, so a
 * variable set in the calling shell cannot change a default.
 *
 * Two deployments of the gateway, side by side:
 * - `single`: one process, `npm start` (RUN_WORKER default true: HTTP API and dispatcher on one event loop);
 * - `split`: `RUN_WORKER=false node dist/main.js` + one `node dist/worker-main.js` on the same SQLite file.
 *
 * Compared, in the same run and alternating, with
 * - the floor: bench/baseline.ts (bare Fastify route inserting one SQLite row, WAL, synchronous=NORMAL),
 *   started with `node --import tsx`;
 * - Kannel 1.4.5 from Debian (bearerbox + smsbox, `sendsms`, `store-type = spool`, `fakesmsc` from
 *   kannel-extras as the SMSC, receiving every message), configured in a temporary directory.
 *
 * Figures (every run alternates the targets; medians of `--runs` (3)):
 * 1. POST /api/sms/send, 1 recipient, a different number per request: autocannon `--connections` (50),
 *    `--duration` (8) s after a `--warmup` (2) s warm-up of the same load: req/s, p50/p99, errors; floor POST /send; Kannel
 *    GET /cgi-bin/sendsms. CPU per request of the measured processes (/proc/<pid>/stat).
 * 2. 10,000 promotional messages queued with send-batch (10 x 1,000) scheduled a few seconds ahead, drained
 *    through the simulator with delivery reports on: msg/s = messages / (first claim -> last sent_at), as the
 *    gateway stamped them. Twice per deployment and run: alone (with the OTP probes of figure 3), and with
 *    autocannon 10 connections of POST /api/sms/send from the moment they fall due until the last is sent
 *    (latency of those sends while it drains).
 * 3. OTPs behind that backlog: 5 POST /api/otp/generate, 150 ms apart, starting once the drain is seen to
 *    have started; accept -> sent = the message's sent_at minus the moment this process had the reply.
 * 4. 1,000-recipient send-batch, 30 sequential requests (3 uncounted first), 1,000 new numbers each.
 * 5. OTP generate + verify pairs/s as bench/otp.ts counts them, but with the dispatcher on: `--pairs`
 *    (5,000) generates over 50 connections (after 1,000 warm-up ones), the codes read back from
 *    GET /api/simulator/outbox, then the verifies over 50 connections; pairs/s = N / (generate + verify time).
 *
 * Machine: busy share of the whole machine (/proc/stat) over each measured window, and the part of it that
 * is not the measured processes nor this process (the load generator): other work on the shared machine.
 *
 * Usage: npx tsx bench/user-path.ts [--runs 3] [--duration 8] [--warmup 2] [--connections 50] [--pairs 10000]
 *        [--only 1,2,4,5] [--modes single,split] [--gateway-env K=V,...] [--gateway-node-args='...'] [--no-build] [--gateway DIR]
 * `--gateway DIR`: measure that checkout's dist/ (build it there first), e.g. a worktree of an earlier commit.
 * `--only 1x`: figure 1 for the default against DISPATCH_THREAD=true and against RUN_WORKER=false without a
 * worker (no dispatcher: where the send path's CPU goes).
 * `--modes`: the deployments figures 2, 4 and 5 compare: `single` (npm start), `split` (API + `npm run worker`),
 * `thread` (npm start with DISPATCH_THREAD=true).
 */
import autocannon from 'autocannon';
import { postAll } from './post-all.js';
import Database from 'better-sqlite3';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    pairs: { type: 'string', default: '5000' },
    only: { type: 'string', default: '1,2,4,5' },
    modes: { type: 'string', default: 'single,split' },
    'gateway-env': { type: 'string', default: '' },
    'gateway-node-args': { type: 'string', default: '' },
    'no-build': { type: 'boolean', default: false },
    gateway: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const DURATION = Number(values.duration);
/** Figure 1's load before it measures, on every target alike. The gateway's JIT and heap take tens of seconds to settle. */
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const PAIRS = Number(values.pairs);
const ONLY = new Set(values.only.split(','));
/** Deployments compared in figures 2, 4 and 5 (figure 1 always compares single and split). */
const MODES = values.modes.split(',') as Mode[];
/** `--gateway-node-args='--cpu-prof --cpu-prof-dir=/tmp/p'`: node options NODE_OPTIONS refuses, for profiling. */
const GATEWAY_NODE_ARGS = values['gateway-node-args'].split(' ').filter(Boolean);
/** `--gateway-env K=V,K=V`: added to every gateway's environment (e.g. DISPATCH_BATCH_SIZE=200). */
const GATEWAY_ENV = Object.fromEntries(values['gateway-env'].split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const ROOT = join(import.meta.dirname, '..');
/** `--gateway DIR`: another checkout whose dist/ (built by its own `npm run build:server`) is measured instead of this one's. */
const GATEWAY_ROOT = values.gateway ?? ROOT;
const RUN_DIR = mkdtempSync(join(tmpdir(), 'smsgw-userpath-'));
/**
 * The gateway runs from a copy of dist/ taken right after the build (beside links to node_modules and config/,
 * and package.json), so a build by someone else in this shared checkout during the run cannot change what is measured.
 */
const APP = join(RUN_DIR, 'app');
const FAKESMSC = ['/usr/lib/kannel/test/fakesmsc', '/usr/libexec/kannel/fakesmsc', '/usr/bin/fakesmsc'].find((p) => existsSync(p));
const HAVE_KANNEL = existsSync('/usr/sbin/bearerbox') && existsSync('/usr/sbin/smsbox') && FAKESMSC !== undefined;

const LIMITS = {
  RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000',
  MAX_SMS_PER_NUMBER_PER_HOUR: '1000000',
};
const TEXT = 'Your order #1234 has shipped and will arrive tomorrow.';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const r0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const r1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—');
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)} %` : '—');

// ---------------------------------------------------------------- CPU from /proc

/** User+system clock ticks (10 ms) of a process, all its threads; NaN once it is gone. */
function ticksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}
/** Busy and total ticks of the whole machine (all cores). */
function machineTicks(): [number, number] {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return [total - cpu[3] - cpu[4], total];
}

interface Sample { at: number; pids: number[]; self: number; busy: number; total: number }
interface CpuWindow {
  /** CPU ms per measured process, in the order given. */
  ms: number[]; selfMs: number; wallMs: number;
  /** Busy share of the whole machine (2 cores = 100 %), and of it what is neither measured nor this process. */
  machineBusy: number; otherBusy: number;
}

/** Samples the measured processes, this process and the machine every 20 ms; windows are cut from the samples. */
class Sampler {
  private samples: Sample[] = [];
  private timer: NodeJS.Timeout;
  constructor(private pids: number[]) {
    this.take();
    this.timer = setInterval(() => this.take(), 20);
  }
  private take() {
    const [busy, total] = machineTicks();
    this.samples.push({ at: Date.now(), pids: this.pids.map(ticksOf), self: ticksOf(process.pid), busy, total });
  }
  stop() {
    this.take();
    clearInterval(this.timer);
  }
  /** The first sample at or after t (the last one if none). */
  private at(t: number): Sample {
    return this.samples.find((s) => s.at >= t) ?? this.samples[this.samples.length - 1];
  }
  window(from: number, to: number): CpuWindow {
    const a = this.at(from);
    const b = this.at(to);
    const ms = this.pids.map((_, i) => (b.pids[i] - a.pids[i]) * 10);
    const selfMs = (b.self - a.self) * 10;
    const total = Math.max(1, b.total - a.total);
    const busy = b.busy - a.busy;
    const measured = ms.reduce((x, y) => x + y, 0) / 10 + selfMs / 10;
    return { ms, selfMs, wallMs: b.at - a.at, machineBusy: busy / total, otherBusy: Math.max(0, busy - measured) / total };
  }
}

// ---------------------------------------------------------------- targets

interface Target {
  name: string;
  base: string;
  /** Measured processes. */
  pids: number[];
  dbPath?: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Processes that had not exited 5 s after SIGTERM (then killed): a gateway should stop sooner. */
const stuckOnStop: string[] = [];
function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', name = 'process'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stuckOnStop.push(name);
      child.kill('SIGKILL');
    }, 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, child?: ChildProcess, logFile?: string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what}: exited ${child.exitCode}${logFile ? `\n${readFileSync(logFile, 'utf8').slice(-2000)}` : ''}`);
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms${logFile ? `\n${readFileSync(logFile, 'utf8').slice(-2000)}` : ''}`);
    await sleep(100);
  }
}

/** Only these reach the gateway: its defaults stay defaults whatever the calling shell has set. */
function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
}

/** `thread`: the single process with DISPATCH_THREAD=true (the dispatcher on a worker thread). */
type Mode = 'single' | 'split' | 'thread';

async function startGateway(mode: Mode, extra: Record<string, string> = {}): Promise<Target> {
  const dir = mkdtempSync(join(RUN_DIR, `gw-${mode}-`));
  const dbPath = join(dir, 'gateway.db');
  const port = await freePort();
  const env = {
    ...baseEnv(), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${dbPath}`,
    ...LIMITS, ...GATEWAY_ENV, ...extra, ...(mode === 'split' ? { RUN_WORKER: 'false' } : {}), ...(mode === 'thread' ? { DISPATCH_THREAD: 'true' } : {}),
  };
  const apiLog = join(dir, 'api.log');
  const api = spawn(process.execPath, ['--enable-source-maps', ...GATEWAY_NODE_ARGS, 'dist/main.js'], { cwd: APP, env, stdio: ['ignore', openSync(apiLog, 'a'), openSync(apiLog, 'a')] });
  const base = `http://127.0.0.1:${port}`;
  const children = [api];
  const logs = [apiLog];
  try {
    await waitFor(`gateway ${mode}`, async () => (await fetch(`${base}/health`)).ok, 60_000, api, apiLog);
    if (mode === 'split') {
      // Started after the API, so it finds the key file the API generated next to the database.
      const workerLog = join(dir, 'worker.log');
      const worker = spawn(process.execPath, ['--enable-source-maps', ...GATEWAY_NODE_ARGS, 'dist/worker-main.js'], { cwd: APP, env, stdio: ['ignore', openSync(workerLog, 'a'), openSync(workerLog, 'a')] });
      children.push(worker);
      logs.push(workerLog);
      await sleep(1500);
      if (worker.exitCode !== null) throw new Error(`worker exited ${worker.exitCode}\n${readFileSync(workerLog, 'utf8').slice(-2000)}`);
    }
  } catch (err) {
    await Promise.all(children.map((c) => stopChild(c, 'SIGKILL')));
    throw err;
  }
  return {
    name: (mode === 'single' ? 'gateway (npm start)' : mode === 'thread' ? 'gateway (npm start), DISPATCH_THREAD=true' : 'gateway split (API + worker)') + Object.entries(extra).filter(([k]) => !k.startsWith('OTP_')).map(([k, v]) => `, ${k}=${v}`).join(''),
    base, dbPath, pids: children.map((c) => c.pid!),
    stop: async () => {
      const died = children.filter((c) => c.exitCode !== null || c.signalCode !== null);
      await Promise.all(children.map((c, i) => stopChild(c, 'SIGTERM', `gateway ${mode} ${i === 0 ? 'API' : 'worker'}`)));
      // A process that ended by itself, or logged more than its start-up warnings: show what it said.
      logs.forEach((log, i) => {
        if (died.includes(children[i]) || statSync(log).size > 4000) console.log(`--- ${log}${died.includes(children[i]) ? ` (exited by itself: ${children[i].exitCode ?? children[i].signalCode})` : ''}, first lines:\n${readFileSync(log, 'utf8').split('\n').slice(2, 4).map((l) => l.slice(0, 700)).join('\n')}`);
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startFloor(): Promise<Target> {
  const dir = mkdtempSync(join(RUN_DIR, 'floor-'));
  const port = await freePort();
  // bench/baseline.ts makes its database under os.tmpdir(): TMPDIR keeps it inside this run's directory.
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/baseline.ts'], {
    cwd: ROOT, env: { ...baseEnv(), PORT: String(port), SQLITE_SYNCHRONOUS: 'NORMAL', TMPDIR: dir }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('floor', async () => (await fetch(`${base}/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"to":"+14155550000","message":"x"}' })).ok, 60_000, child);
  return {
    name: 'floor (bare Fastify + 1 SQLite insert, NORMAL)', base, pids: [child.pid!],
    stop: async () => {
      await stopChild(child, 'SIGTERM', 'floor');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const KANNEL_USER = 'bench';
const KANNEL_PASS = 'bench';

/** bearerbox + smsbox + fakesmsc; pids: bearerbox, smsbox (measured as Kannel), then fakesmsc (the SMSC). */
async function startKannel(): Promise<Target> {
  const dir = mkdtempSync(join(RUN_DIR, 'kannel-'));
  mkdirSync(join(dir, 'spool'));
  const [adminPort, boxPort, smscPort, sendsmsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const conf = join(dir, 'kannel.conf');
  writeFileSync(conf, [
    'group = core',
    `admin-port = ${adminPort}`, 'admin-password = bench', `smsbox-port = ${boxPort}`, 'box-allow-ip = 127.0.0.1',
    'log-level = 4', `log-file = "${join(dir, 'bearerbox.log')}"`,
    'store-type = spool', `store-location = "${join(dir, 'spool')}"`, 'dlr-storage = internal',
    '',
    'group = smsc', 'smsc = fake', 'smsc-id = fake', `port = ${smscPort}`, 'connect-allow-ip = 127.0.0.1',
    '',
    'group = smsbox', 'bearerbox-host = 127.0.0.1', `bearerbox-port = ${boxPort}`, `sendsms-port = ${sendsmsPort}`,
    'global-sender = 12345', 'log-level = 4', `log-file = "${join(dir, 'smsbox.log')}"`,
    '',
    'group = sendsms-user', `username = ${KANNEL_USER}`, `password = ${KANNEL_PASS}`,
    '',
  ].join('\n'));
  const opts = { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] as ['ignore', 'ignore', 'ignore'] };
  const bearerbox = spawn('/usr/sbin/bearerbox', ['-v', '4', conf], opts);
  const children: ChildProcess[] = [bearerbox];
  const stopAll = async () => {
    for (const c of [...children].reverse()) await stopChild(c, 'SIGTERM', 'kannel');
  };
  try {
    await waitFor('bearerbox', async () => (await fetch(`http://127.0.0.1:${adminPort}/status?password=bench`)).ok, 30_000, bearerbox);
    const smsbox = spawn('/usr/sbin/smsbox', ['-v', '4', conf], opts);
    children.push(smsbox);
    const fakesmsc = spawn(FAKESMSC!, ['-H', '127.0.0.1', '-r', String(smscPort), '-m', '0', '-v', '4', '1 2 text x'], opts);
    children.push(fakesmsc);
    const base = `http://127.0.0.1:${sendsmsPort}`;
    await waitFor('smsbox', async () => (await fetch(`${base}/cgi-bin/sendsms?username=${KANNEL_USER}&password=${KANNEL_PASS}&to=14155550000&text=up`)).status === 202, 30_000, smsbox);
    // The SMSC is connected when bearerbox's status names it online.
    await waitFor('fakesmsc connected', async () => /online/.test(await (await fetch(`http://127.0.0.1:${adminPort}/status.txt?password=bench`)).text()), 30_000, fakesmsc);
    return {
      name: 'Kannel 1.4.5 (sendsms, spool, fakesmsc)', base, pids: children.map((c) => c.pid!),
      stop: async () => {
        await stopAll();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

// ---------------------------------------------------------------- load

let numberSeq = 0;
/** A different valid US number each call. */
const nextNumber = () => 2_000_000 + ((numberSeq++ * 7919) % 7_999_999);

type Kind = 'gateway' | 'floor' | 'kannel';
function sendRequests(kind: Kind): Array<Record<string, unknown>> {
  if (kind === 'kannel') {
    const text = encodeURIComponent(TEXT);
    return [{ method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: `/cgi-bin/sendsms?username=${KANNEL_USER}&password=${KANNEL_PASS}&to=1415${nextNumber()}&text=${text}` }) }];
  }
  if (kind === 'floor') {
    return [{ method: 'POST', setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ to: `+1415${nextNumber()}`, message: TEXT }) }) }];
  }
  return [{ method: 'POST', setupRequest: (req: Record<string, unknown>) => ({ ...req, body: JSON.stringify({ to: [{ number: `+1415${nextNumber()}` }], message: TEXT, sms_type: 'transactional' }) }) }];
}
const sendPath = (kind: Kind) => (kind === 'gateway' ? '/api/sms/send' : kind === 'floor' ? '/send' : '/cgi-bin/sendsms');

function cannon(target: Target, kind: Kind, connections: number, duration: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${target.base}${sendPath(kind)}`, method: kind === 'kannel' ? 'GET' : 'POST', headers: { 'content-type': 'application/json' },
    requests: sendRequests(kind), connections, duration,
  });
}

/** autocannon until stop() is called. */
function cannonUntil(target: Target, connections: number): { stop(): Promise<autocannon.Result> } {
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({
      url: `${target.base}/api/sms/send`, method: 'POST', headers: { 'content-type': 'application/json' },
      requests: sendRequests('gateway'), connections, duration: 600,
    }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  return {
    stop: () => {
      (instance as unknown as { stop(): void }).stop();
      return done;
    },
  };
}


async function post<T>(base: string, path: string, body: unknown): Promise<{ status: number; body: T; at: number }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json() as T;
  return { status: res.status, body: json, at: Date.now() };
}

// ---------------------------------------------------------------- figure 1

interface LoadResult {
  target: string; rps: number; wallRps: number; p50: number; p99: number; max: number; ok: number; bad: number;
  cpuUsPerRequest: number[]; cpu: CpuWindow; stored?: number; warm2xx: number;
}

async function figure1(start: () => Promise<Target>, kind: Kind): Promise<LoadResult> {
  const target = await start();
  try {
    const warm = await cannon(target, kind, CONNECTIONS, WARMUP);
    const sampler = new Sampler(target.pids);
    const t0 = Date.now();
    const res = await cannon(target, kind, CONNECTIONS, DURATION);
    const t1 = Date.now();
    sampler.stop();
    const cpu = sampler.window(t0, t1);
    const answered = res['2xx'] + res.non2xx;
    let stored: number | undefined;
    if (target.dbPath) {
      const db = new Database(target.dbPath, { readonly: true, fileMustExist: true });
      stored = (db.prepare('select count(*) n from messages').get() as { n: number }).n;
      db.close();
    }
    return {
      target: target.name, rps: res.requests.average, wallRps: res['2xx'] / ((t1 - t0) / 1000), p50: res.latency.p50, p99: res.latency.p99, max: res.latency.max,
      ok: res['2xx'], bad: res.non2xx + res.errors + res.timeouts, cpuUsPerRequest: cpu.ms.map((ms) => (ms * 1000) / Math.max(1, answered)), cpu, stored, warm2xx: warm['2xx'],
    };
  } finally {
    await target.stop();
  }
}

// ---------------------------------------------------------------- figures 2 and 3

interface OtpProbe { acceptToSentMs: number; promosUnsentAtAccept: number; promosUnsentAtSent: number }
interface DrainResult {
  mode: Mode; withLoad: boolean; promos: number; rate: number; seconds: number; deliveredSeconds: number;
  sentInWindow: number; cpuUsPerMessage: number; cpu: CpuWindow; gatewayCores: number;
  idle: { p50: number; p99: number }; load?: { p50: number; p99: number; max: number; ok: number; bad: number; rps: number };
  otps: OtpProbe[];
}

const DRAIN = 10_000;

async function figure2(mode: Mode, withLoad: boolean, round: number): Promise<DrainResult> {
  const gw = await startGateway(mode);
  const sampler = new Sampler(gw.pids);
  const db = new Database(gw.dbPath!, { readonly: true, fileMustExist: true });
  try {
    // Warm-up (JIT, statements, dispatcher) and the same send latency with nothing draining.
    const idle = await cannon(gw, 'gateway', 10, 3);
    await sleep(2500);
    const scheduleAt = Date.now() + 6000;
    for (let b = 0; b < DRAIN / 1000; b++) {
      const recipients = Array.from({ length: 1000 }, (_, j) => ({ number: `+1212${2_000_000 + round * 100_000 + b * 1000 + j}` }));
      const res = await post<{ accepted?: number }>(gw.base, '/api/sms/send-batch', {
        name: `drain ${b}`, recipients, message: 'Special offer! Get 50% off today.', sms_type: 'promotional', schedule_at: new Date(scheduleAt).toISOString(),
      });
      if (res.status !== 200 || res.body.accepted !== 1000) throw new Error(`send-batch answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    if (Date.now() > scheduleAt - 300) throw new Error('queuing took too long: the messages came due before all were accepted');
    const promoStarted = db.prepare(`select count(*) n from messages where sms_type = 'promotional' and status in ('sending', 'sent', 'delivered')`);
    const promoOpen = db.prepare(`select count(*) n from messages where sms_type = 'promotional' and status in ('scheduled', 'queued', 'sending')`);
    const promoUndelivered = db.prepare(`select count(*) n from messages where sms_type = 'promotional' and status in ('scheduled', 'queued', 'sending', 'sent')`);
    let load: ReturnType<typeof cannonUntil> | undefined;
    await sleep(scheduleAt - Date.now());
    if (withLoad) load = cannonUntil(gw, 10);
    // The drain has started once a promotional message left the queue.
    for (let i = 0; (promoStarted.get() as { n: number }).n === 0; i++) {
      if (i > 1000) throw new Error('the drain did not start within 20 s');
      await sleep(20);
    }
    const probes: Array<{ id: string; at: number }> = [];
    if (!withLoad) {
      for (let k = 0; k < 5; k++) {
        const res = await post<{ message_id?: string }>(gw.base, '/api/otp/generate', { phone_number: { number: `+1650${2_000_000 + round * 1000 + (mode === 'split' ? 500 : mode === 'thread' ? 700 : 0) + k}` } });
        if (res.status !== 200 || !res.body.message_id) throw new Error(`otp/generate answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        probes.push({ id: res.body.message_id, at: res.at });
        await sleep(150);
      }
    }
    for (let i = 0; (promoOpen.get() as { n: number }).n > 0; i++) {
      if (i > 480) throw new Error('the drain did not finish within 120 s');
      await sleep(250);
    }
    const loadRes = load ? await load.stop() : undefined;
    for (let i = 0; (promoUndelivered.get() as { n: number }).n > 0; i++) {
      if (i > 240) throw new Error('delivery reports not all applied within 60 s');
      await sleep(250);
    }
    sampler.stop();
    const firstClaim = (db.prepare(`select min(e.created_at) t from message_events e join messages m on m.id = e.message_id where e.status = 'sending' and m.sms_type = 'promotional'`).get() as { t: number }).t;
    const lastSent = (db.prepare(`select max(sent_at) t from messages where sms_type = 'promotional'`).get() as { t: number }).t;
    const lastDelivered = (db.prepare(`select max(e.created_at) t from message_events e join messages m on m.id = e.message_id where e.status = 'delivered' and m.sms_type = 'promotional'`).get() as { t: number }).t;
    const promos = (db.prepare(`select count(*) n from messages where sms_type = 'promotional' and sent_at is not null`).get() as { n: number }).n;
    const sentInWindow = (db.prepare('select count(*) n from messages where sent_at between ? and ?').get(firstClaim, lastSent) as { n: number }).n;
    const unsentAt = db.prepare(`select count(*) n from messages where sms_type = 'promotional' and (sent_at is null or sent_at > ?)`);
    const otps = probes.map((p) => {
      const m = db.prepare('select sent_at from messages where id = ?').get(p.id) as { sent_at: number | null };
      if (m.sent_at === null) throw new Error(`OTP ${p.id} not sent`);
      return { acceptToSentMs: m.sent_at - p.at, promosUnsentAtAccept: (unsentAt.get(p.at) as { n: number }).n, promosUnsentAtSent: (unsentAt.get(m.sent_at) as { n: number }).n };
    });
    const cpu = sampler.window(firstClaim, lastSent);
    const cpuMs = cpu.ms.reduce((a, b) => a + b, 0);
    return {
      mode, withLoad, promos, rate: promos / ((lastSent - firstClaim) / 1000), seconds: (lastSent - firstClaim) / 1000, deliveredSeconds: (lastDelivered - firstClaim) / 1000,
      sentInWindow, cpuUsPerMessage: (cpuMs * 1000) / sentInWindow, cpu, gatewayCores: cpuMs / Math.max(1, lastSent - firstClaim),
      idle: { p50: idle.latency.p50, p99: idle.latency.p99 },
      load: loadRes && { p50: loadRes.latency.p50, p99: loadRes.latency.p99, max: loadRes.latency.max, ok: loadRes['2xx'], bad: loadRes.non2xx + loadRes.errors + loadRes.timeouts, rps: loadRes.requests.average },
      otps,
    };
  } finally {
    sampler.stop();
    db.close();
    await gw.stop();
  }
}

// ---------------------------------------------------------------- figure 4

interface BatchResult { mode: Mode; median: number; max: number; p90: number; timings: number[]; cpuMsPerBatch: number; cpu: CpuWindow }

async function figure4(mode: Mode, round: number): Promise<BatchResult> {
  const gw = await startGateway(mode);
  try {
    const batch = async (k: number) => {
      const recipients = Array.from({ length: 1000 }, (_, i) => ({ number: `+1718${2_000_000 + round * 100_000 + k * 1000 + i}` }));
      const body = JSON.stringify({ name: `b${k}`, recipients, message: 'Special offer! Get 50% off today.', sms_type: 'promotional' });
      const t = performance.now();
      const res = await fetch(`${gw.base}/api/sms/send-batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.arrayBuffer();
      const ms = performance.now() - t;
      if (res.status !== 200) throw new Error(`batch answered ${res.status}`);
      return ms;
    };
    for (let k = 0; k < 3; k++) await batch(k);
    const sampler = new Sampler(gw.pids);
    const t0 = Date.now();
    const timings: number[] = [];
    for (let k = 3; k < 33; k++) timings.push(await batch(k));
    const t1 = Date.now();
    sampler.stop();
    const cpu = sampler.window(t0, t1);
    const sorted = [...timings].sort((a, b) => a - b);
    return { mode, median: median(timings), max: sorted[sorted.length - 1], p90: quantile(sorted, 0.9), timings, cpuMsPerBatch: cpu.ms.reduce((a, b) => a + b, 0) / timings.length, cpu };
  } finally {
    await gw.stop();
  }
}

// ---------------------------------------------------------------- figure 5

interface OtpResult {
  mode: Mode; pairs: number; generatePerSec: number; verifyPerSec: number; pairsPerSec: number; verified: number;
  codesSentAfterMs: number; cpuUsPerPair: number; gatewayCores: number; genCpu: CpuWindow; verifyCpu: CpuWindow;
}

async function figure5(mode: Mode, round: number): Promise<OtpResult> {
  // Every code is read back from the simulator's outbox: past its default 10,000 entries (--pairs above 9,000)
  // it must keep them all, or the first ones delivered would be trimmed before they are read.
  const gw = await startGateway(mode, { OTP_PUMPING_MIN_CONVERSION: '0', ...(PAIRS + 1000 > 10_000 ? { SIMULATOR_OUTBOX_KEEP: '0' } : {}) });
  const db = new Database(gw.dbPath!, { readonly: true, fileMustExist: true });
  const sampler = new Sampler(gw.pids);
  try {
    const warmNumbers = Array.from({ length: 1000 }, (_, i) => `+1510${2_000_000 + round * 50_000 + i * 7}`);
    const numbers = Array.from({ length: PAIRS }, (_, i) => `+1415${2_000_000 + round * 100_000 + i * 7}`);
    const genBody = (number: string) => JSON.stringify({ phone_number: { number } });
    const w = await postAll(gw.base, '/api/otp/generate', warmNumbers.map(genBody));
    if (w.bad > 0) throw new Error(`warm-up generates: ${w.bad} failed`);
    const gen = await postAll(gw.base, '/api/otp/generate', numbers.map(genBody));
    if (gen.bad > 0 || gen.ok !== PAIRS) throw new Error(`generates: ${gen.ok} ok, ${gen.bad} failed`);
    // Every code is handed to the simulator by the dispatcher (already running during the generates).
    const sentCount = db.prepare(`select count(*) n from messages where sms_type = 'otp' and sent_at is not null`);
    for (let i = 0; (sentCount.get() as { n: number }).n < PAIRS + warmNumbers.length; i++) {
      if (i > 1200) throw new Error('codes not all sent within 120 s');
      await sleep(100);
    }
    const lastCodeSent = (db.prepare(`select max(sent_at) t from messages where sms_type = 'otp'`).get() as { t: number }).t;
    // The codes as the phones got them.
    const codes = new Map<string, string>();
    for (let offset = 0; ; offset += 500) {
      const res = await fetch(`${gw.base}/api/simulator/outbox?limit=500&offset=${offset}`);
      const page = await res.json() as { items: Array<{ to: string; body: string }>; total: number };
      for (const item of page.items) {
        const code = /code is (\d+)/.exec(item.body)?.[1];
        if (code) codes.set(item.to, code);
      }
      if (page.items.length < 500) break;
    }
    if (codes.size < PAIRS + warmNumbers.length) throw new Error(`only ${codes.size} codes in the outbox`);
    const verifyBody = (number: string) => JSON.stringify({ phone_number: { number }, otp_code: codes.get(number) });
    await postAll(gw.base, '/api/otp/verify', warmNumbers.map(verifyBody));
    const ver = await postAll(gw.base, '/api/otp/verify', numbers.map(verifyBody));
    if (ver.bad > 0) throw new Error(`verifies: ${ver.bad} failed`);
    sampler.stop();
    const verified = (db.prepare(`select count(*) n from otp_sessions where status = 'verified' and phone_number like '+1415%'`).get() as { n: number }).n;
    const genCpu = sampler.window(gen.started, gen.last);
    const verifyCpu = sampler.window(ver.started, ver.last);
    const genSeconds = (gen.last - gen.started) / 1000;
    const verifySeconds = (ver.last - ver.started) / 1000;
    const cpuMs = genCpu.ms.reduce((a, b) => a + b, 0) + verifyCpu.ms.reduce((a, b) => a + b, 0);
    return {
      mode, pairs: PAIRS, generatePerSec: PAIRS / genSeconds, verifyPerSec: PAIRS / verifySeconds, pairsPerSec: PAIRS / (genSeconds + verifySeconds), verified,
      codesSentAfterMs: lastCodeSent - gen.last, cpuUsPerPair: (cpuMs * 1000) / PAIRS, gatewayCores: cpuMs / ((genSeconds + verifySeconds) * 1000), genCpu, verifyCpu,
    };
  } finally {
    sampler.stop();
    db.close();
    await gw.stop();
  }
}

// ---------------------------------------------------------------- main

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: GATEWAY_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

console.log(`user-path bench, ${new Date().toISOString()}: ${cpus().length} cores (${cpus()[0]?.model}), node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at start`);
const dirty = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean);
console.log(`commit ${git(['log', '-1', '--format=%h %ad', '--date=iso'])}; ${dirty.length} paths under src/ differ from it (measured as they are): ${dirty.map((l) => l.trim()).join(', ')}`);
if (!values['no-build'] && values.gateway === undefined) {
  const t = Date.now();
  const build = spawnSync('npm', ['run', 'build:server'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) {
    console.error(build.stdout, build.stderr);
    throw new Error('npm run build:server failed: the current src/ does not compile');
  }
  console.log(`npm run build:server: ${((Date.now() - t) / 1000).toFixed(1)} s`);
}
mkdirSync(APP);
cpSync(join(GATEWAY_ROOT, 'dist'), join(APP, 'dist'), { recursive: true });
cpSync(join(GATEWAY_ROOT, 'package.json'), join(APP, 'package.json'));
symlinkSync(join(ROOT, 'node_modules'), join(APP, 'node_modules'));
symlinkSync(join(ROOT, 'config'), join(APP, 'config'));
if (!HAVE_KANNEL) console.log('Kannel (bearerbox, smsbox, fakesmsc from kannel-extras) not found: the Kannel column is skipped');
console.log(`runs ${RUNS}, ${CONNECTIONS} connections, ${DURATION} s after ${WARMUP} s of warm-up; figures ${[...ONLY].join(', ')}\n`);

const f1: Record<string, LoadResult[]> = { single: [], split: [], floor: [], kannel: [], thread: [], apiOnly: [] };
const f2: DrainResult[] = [];
const f4: BatchResult[] = [];
const f5: OtpResult[] = [];
const machine = (c: CpuWindow) => `machine ${pct(c.machineBusy)} busy, ${pct(c.otherBusy)} of it others`;

try {
  for (let round = 0; round < RUNS; round++) {
    console.log(`--- run ${round + 1} of ${RUNS}`);
    if (ONLY.has('1x')) {
      // Where the send path's CPU goes: the default (the dispatcher on the API's own event loop) against the
      // dispatcher on a thread (DISPATCH_THREAD=true) and against no dispatcher at all (RUN_WORKER=false, no worker: messages stay queued).
      const order: Array<[keyof typeof f1, () => Promise<Target>]> = [
        ['single', () => startGateway('single')], ['thread', () => startGateway('thread')],
        ['apiOnly', () => startGateway('single', { RUN_WORKER: 'false' })],
      ];
      for (const [key, start] of round % 2 ? [...order].reverse() : order) {
        const r = await figure1(start, 'gateway');
        f1[key].push(r);
        console.log(`[1x] ${r.target}: ${r0(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, 2xx ${r.ok}, bad ${r.bad}; CPU ${r.cpuUsPerRequest.map(r0).join(' + ')} µs/request; ${machine(r.cpu)}`);
      }
    }
    if (ONLY.has('1')) {
      const order: Array<[keyof typeof f1, () => Promise<Target>, Kind]> = [
        ['single', () => startGateway('single'), 'gateway'], ['floor', startFloor, 'floor'],
        ['split', () => startGateway('split'), 'gateway'], ...(HAVE_KANNEL ? [['kannel', startKannel, 'kannel'] as [keyof typeof f1, () => Promise<Target>, Kind]] : []),
      ];
      // Alternate the order from run to run.
      for (const [key, start, kind] of round % 2 ? [...order].reverse() : order) {
        const r = await figure1(start, kind);
        f1[key].push(r);
        console.log(`[1] ${r.target}: ${r0(r.rps)} req/s (${r0(r.wallRps)} 2xx/s wall), p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms, 2xx ${r.ok}, non-2xx+errors ${r.bad}; `
          + `CPU ${r.cpuUsPerRequest.map(r0).join(' + ')} µs/request (load generator ${r0((r.cpu.selfMs * 1000) / Math.max(1, r.ok + r.bad))}); ${machine(r.cpu)}${r.stored === undefined ? '' : `; stored ${r.stored} (2xx ${r.ok} + warm-up ${r.warm2xx})`}`);
      }
    }
    if (ONLY.has('2')) {
      for (const withLoad of [false, true]) {
        for (const mode of (round % 2 ? [...MODES].reverse() : MODES)) {
          const r = await figure2(mode, withLoad, round * 8 + (withLoad ? 4 : 0) + MODES.indexOf(mode));
          f2.push(r);
          console.log(`[2] ${mode}${withLoad ? ' + 10-connection sends' : ''}: ${r.promos} promotional sent in ${r.seconds.toFixed(2)} s = ${r0(r.rate)} msg/s (all sent in that window ${r.sentInWindow}); `
            + `all delivered ${r.deliveredSeconds.toFixed(2)} s after the first claim; gateway CPU ${r0(r.cpuUsPerMessage)} µs/message sent (${r.cpu.ms.map((ms) => pct(ms / r.cpu.wallMs)).join(' + ')} of a core); ${machine(r.cpu)}; `
            + `idle sends before: p50 ${r.idle.p50} / p99 ${r.idle.p99} ms`
            + (r.load ? `; sends while draining: ${r0(r.load.rps)} req/s, p50 ${r.load.p50} ms, p99 ${r.load.p99} ms, max ${r.load.max} ms, 2xx ${r.load.ok}, bad ${r.load.bad}` : '')
            + (r.otps.length ? `\n[3] ${mode}: OTP accept -> sent ${r.otps.map((o) => `${o.acceptToSentMs} ms (${o.promosUnsentAtAccept} promotional unsent at accept, ${o.promosUnsentAtSent} at sent)`).join('; ')}` : ''));
        }
      }
    }
    if (ONLY.has('4')) {
      for (const mode of (round % 2 ? [...MODES].reverse() : MODES)) {
        const r = await figure4(mode, round);
        f4.push(r);
        console.log(`[4] ${mode}: send-batch 1,000 x30: median ${r1(r.median)} ms, p90 ${r1(r.p90)} ms, max ${r1(r.max)} ms; gateway CPU ${r0(r.cpuMsPerBatch)} ms per batch request (incl. dispatching meanwhile); ${machine(r.cpu)}`);
      }
    }
    if (ONLY.has('5')) {
      for (const mode of (round % 2 ? [...MODES].reverse() : MODES)) {
        const r = await figure5(mode, round);
        f5.push(r);
        console.log(`[5] ${mode}: ${r.pairs} generates ${r0(r.generatePerSec)}/s, verifies ${r0(r.verifyPerSec)}/s, pairs ${r0(r.pairsPerSec)}/s, ${r.verified} verified; `
          + `last code sent ${r.codesSentAfterMs} ms after the last generate reply; gateway CPU ${r0(r.cpuUsPerPair)} µs/pair (${r1(r.gatewayCores)} cores); generate ${machine(r.genCpu)}; verify ${machine(r.verifyCpu)}`);
      }
    }
  }
} finally {
  rmSync(RUN_DIR, { recursive: true, force: true });
}

// ---------------------------------------------------------------- summary (medians)

console.log(`\n=== medians of ${RUNS} (each value's own median; the runs in brackets)`);
const list = (xs: number[], f: (x: number) => string = r0) => `(${xs.map(f).join(', ')})`;
if (ONLY.has('1') || ONLY.has('1x')) {
  const floorRps = median(f1.floor.map((r) => r.rps));
  const kannelRps = median(f1.kannel.map((r) => r.rps));
  console.log('\n| figure 1: send, 1 recipient | req/s | p50 | p99 | non-2xx + errors | vs floor | vs Kannel | CPU µs/request | machine busy / others |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const key of ['single', 'split', 'thread', 'apiOnly', 'floor', 'kannel'] as const) {
    const rs = f1[key];
    if (rs.length === 0) continue;
    const rps = median(rs.map((r) => r.rps));
    const cpuParts = rs[0].cpuUsPerRequest.map((_, i) => median(rs.map((r) => r.cpuUsPerRequest[i])));
    console.log(`| ${rs[0].target} | ${r0(rps)} ${list(rs.map((r) => r.rps))} | ${median(rs.map((r) => r.p50))} ms | ${median(rs.map((r) => r.p99))} ms ${list(rs.map((r) => r.p99))} | ${rs.map((r) => r.bad).join(', ')} `
      + `| ${ratio(rps, floorRps)} | ${ratio(rps, kannelRps)} | ${cpuParts.map(r0).join(' + ')} | ${pct(median(rs.map((r) => r.cpu.machineBusy)))} / ${pct(median(rs.map((r) => r.cpu.otherBusy)))} |`);
  }
}
if (ONLY.has('2')) {
  console.log('\n| figure 2: drain 10,000 promotional | msg/s | all delivered after | sends meanwhile p50 / p99 (10 conn.) | same sends idle p99 | CPU µs/msg | gateway cores | machine busy / others |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const withLoad of [false, true]) {
    for (const mode of MODES) {
      const rs = f2.filter((r) => r.mode === mode && r.withLoad === withLoad);
      if (rs.length === 0) continue;
      console.log(`| ${mode}${withLoad ? ', with 10-connection sends' : ', alone (+5 OTPs)'} | ${r0(median(rs.map((r) => r.rate)))} ${list(rs.map((r) => r.rate))} | ${median(rs.map((r) => r.deliveredSeconds)).toFixed(2)} s `
        + `| ${withLoad ? `${median(rs.map((r) => r.load!.p50))} / ${median(rs.map((r) => r.load!.p99))} ms ${list(rs.map((r) => r.load!.p99))}, bad ${rs.map((r) => r.load!.bad).join(', ')}` : '—'} `
        + `| ${median(rs.map((r) => r.idle.p99))} ms | ${r0(median(rs.map((r) => r.cpuUsPerMessage)))} | ${r1(median(rs.map((r) => r.gatewayCores)))} | ${pct(median(rs.map((r) => r.cpu.machineBusy)))} / ${pct(median(rs.map((r) => r.cpu.otherBusy)))} |`);
    }
  }
  console.log('\n| figure 3: OTP behind the backlog, accept -> sent | median | min – max | promotional still unsent at accept (median) |');
  console.log('| --- | --- | --- | --- |');
  for (const mode of MODES) {
    const os = f2.filter((r) => r.mode === mode).flatMap((r) => r.otps);
    if (os.length === 0) continue;
    const ms = os.map((o) => o.acceptToSentMs).sort((a, b) => a - b);
    console.log(`| ${mode} (${os.length} OTPs) | ${r0(median(ms))} ms | ${ms[0]} – ${ms[ms.length - 1]} ms | ${r0(median(os.map((o) => o.promosUnsentAtAccept)))} |`);
  }
}
if (ONLY.has('4')) {
  console.log('\n| figure 4: send-batch 1,000 recipients, 30 sequential | median | p90 | max | gateway CPU ms per request |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const mode of MODES) {
    const rs = f4.filter((r) => r.mode === mode);
    if (rs.length === 0) continue;
    console.log(`| ${mode} | ${r1(median(rs.map((r) => r.median)))} ms ${list(rs.map((r) => r.median), r1)} | ${r1(median(rs.map((r) => r.p90)))} ms | ${r1(Math.max(...rs.map((r) => r.max)))} ms ${list(rs.map((r) => r.max), r1)} | ${r1(median(rs.map((r) => r.cpuMsPerBatch)))} |`);
  }
}
if (ONLY.has('5')) {
  console.log('\n| figure 5: OTP generate + verify | pairs/s | generate/s | verify/s | CPU µs/pair | gateway cores | machine busy (generate) / others |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const mode of MODES) {
    const rs = f5.filter((r) => r.mode === mode);
    if (rs.length === 0) continue;
    console.log(`| ${mode} | ${r0(median(rs.map((r) => r.pairsPerSec)))} ${list(rs.map((r) => r.pairsPerSec))} | ${r0(median(rs.map((r) => r.generatePerSec)))} | ${r0(median(rs.map((r) => r.verifyPerSec)))} `
      + `| ${r0(median(rs.map((r) => r.cpuUsPerPair)))} | ${r1(median(rs.map((r) => r.gatewayCores)))} | ${pct(median(rs.map((r) => r.genCpu.machineBusy)))} / ${pct(median(rs.map((r) => r.genCpu.otherBusy)))} |`);
  }
}
if (stuckOnStop.length) console.log(`\nnot exited 5 s after SIGTERM (killed): ${stuckOnStop.length} times: ${[...new Set(stuckOnStop)].map((n) => `${n} x${stuckOnStop.filter((x) => x === n).length}`).join(', ')}`);
console.log(`\nload average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
