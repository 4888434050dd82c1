/**
 * Dispatch to the provider fakes over real HTTP (loopback), as users run the gateway (issue 7).
 *
 * Processes: the gateway is a child process started like `npm start` (`node --import tsx src/main.ts`,
 * RUN_WORKER on, fresh SQLite file, default durability); the provider fakes of test/providers/fakes run
 * in a second child process, so their CPU is not on the gateway's event loop; this process only queues
 * the messages, samples the gateway's CPU from /proc and reads the database at the end.
 *
 * Scenarios (run alternately, `--runs` times each; medians reported):
 * - `twilio`: one provider, TWILIO_MAX_PER_SECOND=100000;
 * - `five`: twilio, plivo, nexmo, clickatell and aws_sns, <P>_MAX_PER_SECOND=100000 each, a ROUTING_FILE
 *   sending each of five US area codes to one provider (1/5 of the messages each).
 * Messages are accepted with POST /api/sms/send-batch (1,000 a request) with `schedule_at` a few seconds
 * ahead, so all of them are queued before the first claim; the rate is counted from the first claim
 * (the earliest `sending` event) to the last `sent_at`, both as the gateway stamped them.
 * Gateway CPU per message: user+system time of the gateway process, all its threads (/proc/<pid>/stat,
 * sampled every 10 ms), between those two instants, divided by the messages sent. Also recorded: how busy
 * the whole machine was over the window (/proc/stat; other processes share the 2 cores).
 * Latency: the gateway's own duration of each send (send_attempts.duration_ms, ms resolution), the mean
 * number of sends in flight (sum of durations / window) and the fake's time from parsed request headers
 * to the end of its response (diagnostics_channel in the fakes' process).
 * Floor: this process straight to the twilio fake (same form body and headers as the Twilio client),
 * through the global fetch at 25 and 100 requests in flight, and through node:http with a keep-alive agent.
 *
 * Usage: npx tsx bench/providers.ts [--messages 5000] [--runs 3] [--no-floor | --floor-only]
 *        [--only twilio|five] [--profile <dir>]   (--profile: node --cpu-prof of each gateway process)
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    runs: { type: 'string', default: '3' },
    'no-floor': { type: 'boolean', default: false },
    'floor-only': { type: 'boolean', default: false },
    /** Run one scenario only: twilio or five. */
    only: { type: 'string' },
    /** Writes a CPU profile of each gateway process (node --cpu-prof) into this directory. */
    profile: { type: 'string' },
    // Internal: this file run as the fakes' process.
    fakes: { type: 'string' },
  },
});

type Real = 'twilio' | 'plivo' | 'nexmo' | 'clickatell' | 'aws_sns';
const ALL: Real[] = ['twilio', 'plivo', 'nexmo', 'clickatell', 'aws_sns'];
/** Area code each provider gets in the `five` scenario (routing by prefix). */
const PREFIX: Record<Real, string> = { twilio: '+1415', plivo: '+1212', nexmo: '+1312', clickatell: '+1617', aws_sns: '+1206' };

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

if (values.fakes !== undefined) await serveFakes(values.fakes.split(',') as Real[]);
else await main();

// --- the fakes' process ---------------------------------------------------------------------

interface FakeStats { requests: number; p50: number; p99: number; max: number; sockets: number; cpuMs: number }

async function serveFakes(names: Real[]): Promise<void> {
  const env: Record<string, string> = {};
  const closers: Array<() => Promise<void>> = [];
  for (const name of names) {
    if (name === 'twilio') {
      const { startTwilioFake } = await import('../test/providers/fakes/twilio-fake.js');
      const f = await startTwilioFake();
      Object.assign(env, { TWILIO_ACCOUNT_SID: f.accountSid, TWILIO_AUTH_TOKEN: f.authToken, TWILIO_PHONE_NUMBER: '+15005550006', TWILIO_BASE_URL: f.url });
      closers.push(f.close);
    } else if (name === 'plivo') {
      const { startPlivoFake } = await import('../test/providers/fakes/plivo-fake.js');
      const f = await startPlivoFake();
      Object.assign(env, { PLIVO_AUTH_ID: f.authId, PLIVO_AUTH_TOKEN: f.authToken, PLIVO_PHONE_NUMBER: '14155550100', PLIVO_BASE_URL: f.url });
      closers.push(f.close);
    } else if (name === 'nexmo') {
      const { startNexmoFake } = await import('../test/providers/fakes/nexmo-fake.js');
      const f = await startNexmoFake();
      Object.assign(env, { NEXMO_API_KEY: f.apiKey, NEXMO_API_SECRET: f.apiSecret, NEXMO_PHONE_NUMBER: '447700900000', NEXMO_BASE_URL: f.url });
      closers.push(f.close);
    } else if (name === 'clickatell') {
      const { startClickatellFake } = await import('../test/providers/fakes/clickatell-fake.js');
      const f = await startClickatellFake();
      Object.assign(env, { CLICKATELL_API_KEY: f.apiKey, CLICKATELL_BASE_URL: f.url });
      closers.push(f.close);
    } else {
      const { startSnsFake, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY } = await import('../test/providers/fakes/aws-sns-fake.js');
      const f = await startSnsFake();
      Object.assign(env, { AWS_ACCESS_KEY_ID: FAKE_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY, AWS_REGION: 'us-east-1', AWS_SNS_BASE_URL: f.url });
      closers.push(f.close);
    }
  }

  // Per-request time inside the fake process, from parsed headers to the end of the response.
  const started = new Map<object, bigint>();
  const sockets = new WeakSet<object>();
  let durations: number[] = [];
  let socketCount = 0;
  let target = Infinity;
  let cpu = process.cpuUsage();
  dc.subscribe('http.server.request.start', (m) => {
    const { request, socket } = m as { request: object; socket: object };
    started.set(request, process.hrtime.bigint());
    if (!sockets.has(socket)) {
      sockets.add(socket);
      socketCount++;
    }
  });
  dc.subscribe('http.server.response.finish', (m) => {
    const { request } = m as { request: object };
    const t = started.get(request);
    if (t === undefined) return;
    started.delete(request);
    durations.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (durations.length === target) process.send!({ type: 'reached' });
  });

  process.on('message', (m: { type: string; count?: number }) => {
    if (m.type === 'expect') {
      target = m.count!;
      durations = [];
      socketCount = 0;
      cpu = process.cpuUsage();
      process.send!({ type: 'expecting' });
    } else if (m.type === 'stats') {
      const used = process.cpuUsage(cpu);
      const sorted = [...durations].sort((a, b) => a - b);
      const stats: FakeStats = {
        requests: durations.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN,
        sockets: socketCount, cpuMs: (used.user + used.system) / 1000,
      };
      process.send!({ type: 'stats', stats });
    } else if (m.type === 'close') {
      void Promise.all(closers.map((c) => c())).then(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready', env });
}

// --- the benchmark --------------------------------------------------------------------------

interface Fakes { env: Record<string, string>; child: ChildProcess; request<T>(message: object, reply: string): Promise<T>; once(type: string): Promise<unknown>; close(): Promise<void> }

async function startFakes(names: Real[]): Promise<Fakes> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--fakes', names.join(',')], {
    cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const once = (type: string) => new Promise<any>((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null) => reject(new Error(`fakes process exited (${code}) while waiting for ${type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
  const { env } = await once('ready') as { env: Record<string, string> };
  return {
    env, child, once,
    async request<T>(message: object, reply: string) {
      const answer = once(reply);
      child.send(message);
      return answer as Promise<T>;
    },
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.send({ type: 'close' });
    }),
  };
}

/**
 * The gateway as its own process, as `npm start` runs it (bench/server.ts's startServer, plus node
 * flags for profiling, and a stop that also works when the process has already died).
 */
async function startGateway(env: Record<string, string>, nodeFlags: string[]): Promise<{ base: string; dbPath: string; child: ChildProcess; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'smsgw-bench-'));
  const dbPath = join(dir, 'gateway.db');
  const port = 18000 + Math.floor(Math.random() * 1000);
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'src/main.ts'], {
    cwd: join(import.meta.dirname, '..'),
    env: {
      ...process.env,
      PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}`, LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${dbPath}`,
      RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}) while starting`);
    if (i === 300) throw new Error('the gateway did not answer /health within 30 s');
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {
      // starting
    }
    await sleep(100);
  }
  return {
    base, dbPath, child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Busy and total clock ticks of the whole machine (all cores), from /proc/stat. */
function machineTicks(): [number, number] {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return [total - cpu[3] - cpu[4], total];
}

/** User+system CPU of a process in ms (clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, utime 14, stime 15.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface RunResult {
  scenario: string; sent: number; failed: number; seconds: number; rate: number; cpuUsPerMessage: number;
  gatewayP50: number; gatewayP99: number; fake: FakeStats; perProvider: Record<string, number>; rounds: number; busy: number;
  /** Mean sends in flight over the window (sum of send durations / window). */
  inFlight: number; gatewayCpuShare: number; machineBusy: number;
}

async function runScenario(scenario: 'twilio' | 'five', total: number): Promise<RunResult> {
  const providers: Real[] = scenario === 'twilio' ? ['twilio'] : ALL;
  const fakes = await startFakes(providers);
  const dir = mkdtempSync(join(tmpdir(), 'smsgw-providers-'));
  const env: Record<string, string> = {
    RUN_WORKER: 'true', SIMULATOR_ENABLED: 'false', WEBHOOK_SECRET: 'bench-webhook-secret', MESSAGE_ENCRYPTION_KEY: 'ab'.repeat(32), ...fakes.env,
    ...Object.fromEntries(providers.map((p) => [`${p.toUpperCase()}_MAX_PER_SECOND`, '100000'])),
  };
  if (scenario === 'five') {
    const routingFile = join(dir, 'routing.json');
    writeFileSync(routingFile, JSON.stringify({ routes: ALL.map((p) => ({ match: { prefix: [PREFIX[p]] }, providers: [p] })) }));
    env.ROUTING_FILE = routingFile;
  }
  const server = await startGateway(env, values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : []);
  try {
    // Queue everything, due a few seconds from now, so the dispatcher starts on a full queue.
    const scheduleAt = Date.now() + 4000;
    const perBatch = 1000;
    for (let b = 0; b * perBatch < total; b++) {
      const count = Math.min(perBatch, total - b * perBatch);
      const recipients = Array.from({ length: count }, (_, j) => {
        const i = b * perBatch + j;
        const prefix = scenario === 'twilio' ? PREFIX.twilio : PREFIX[ALL[i % ALL.length]];
        return { number: `${prefix}${2_000_000 + Math.floor(i / (scenario === 'twilio' ? 1 : ALL.length))}` };
      });
      const res = await fetch(`${server.base}/api/sms/send-batch`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench ${b}`, recipients, message: 'Special offer! Get 50% off today.', sms_type: 'promotional', schedule_at: new Date(scheduleAt).toISOString() }),
      });
      const body = await res.json() as { accepted?: number };
      if (res.status !== 200 || body.accepted !== count) throw new Error(`send-batch answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    }
    if (Date.now() > scheduleAt - 300) throw new Error('queuing took too long: the messages came due before all were accepted');
    await fakes.request({ type: 'expect', count: total }, 'expecting');

    // Sample the gateway's CPU until every message has an outcome.
    const samples: Array<[number, number, number, number]> = [];
    const pid = server.child.pid!;
    const sampler = setInterval(() => samples.push([Date.now(), cpuMsOf(pid), ...machineTicks()]), 10);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([fakes.once('reached'), new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the fakes did not see every send within 120 s')), 120_000);
    })]).finally(() => clearTimeout(timer));
    const db = new Database(server.dbPath, { readonly: true });
    const open = () => (db.prepare(`select count(*) n from messages where status in ('scheduled', 'queued', 'sending')`).get() as { n: number }).n;
    for (let i = 0; open() > 0; i++) {
      if (i > 600) throw new Error('messages still open 60 s after the last send');
      await sleep(100);
    }
    await sleep(30);
    clearInterval(sampler);

    const firstClaim = (db.prepare(`select min(created_at) t from message_events where status = 'sending'`).get() as { t: number }).t;
    const lastSent = (db.prepare(`select max(sent_at) t from messages where status = 'sent'`).get() as { t: number }).t;
    const sent = (db.prepare(`select count(*) n from messages where status = 'sent'`).get() as { n: number }).n;
    const failed = total - sent;
    const perProvider = Object.fromEntries((db.prepare(`select provider, count(*) n from messages where status = 'sent' group by provider`).all() as Array<{ provider: string; n: number }>).map((r) => [r.provider, r.n]));
    const attempts = db.prepare(`select created_at - duration_ms s, created_at e, duration_ms d from send_attempts`).all() as Array<{ s: number; e: number; d: number }>;
    // Rounds: distinct claim instants (a round's `sending` events all carry its claim time).
    const rounds = (db.prepare(`select count(distinct created_at) n from message_events where status = 'sending'`).get() as { n: number }).n;
    db.close();
    const durations = attempts.map((a) => a.d).sort((a, b) => a - b);
    // Share of the window in which at least one send was in flight (ms resolution).
    const covered = new Uint8Array(lastSent - firstClaim + 1);
    for (const a of attempts) for (let t = Math.max(a.s, firstClaim); t < a.e && t <= lastSent; t++) covered[t - firstClaim] = 1;
    const busy = covered.reduce((n, x) => n + x, 0) / covered.length;

    const cpuAt = (t: number, after: boolean) => {
      // The first sample at or after t (or the last before it): /proc counts in 10 ms ticks anyway.
      const i = samples.findIndex(([at]) => at >= t);
      if (i === -1) return samples[samples.length - 1][1];
      return after || i === 0 ? samples[i][1] : samples[i - 1][1];
    };
    const cpuMs = cpuAt(lastSent, true) - cpuAt(firstClaim, true);
    // The whole machine's busy share over the window (all processes: gateway, fakes, and whatever else runs).
    const sampleAt = (t: number) => samples.find(([at]) => at >= t) ?? samples[samples.length - 1];
    const [, , busy0, all0] = sampleAt(firstClaim);
    const [, , busy1, all1] = sampleAt(lastSent);
    const machineBusy = (busy1 - busy0) / Math.max(1, all1 - all0);
    const fake = (await fakes.request<{ stats: FakeStats }>({ type: 'stats' }, 'stats')).stats;
    const seconds = (lastSent - firstClaim) / 1000;
    return {
      scenario, sent, failed, seconds, rate: sent / seconds, cpuUsPerMessage: (cpuMs * 1000) / sent,
      gatewayP50: quantile(durations, 0.5), gatewayP99: quantile(durations, 0.99), fake, perProvider, rounds, busy,
      inFlight: durations.reduce((a, b) => a + b, 0) / (lastSent - firstClaim), gatewayCpuShare: cpuMs / (lastSent - firstClaim), machineBusy,
    };
  } finally {
    await server.stop();
    await fakes.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Bare HTTP from this process to the twilio fake, without the gateway: the same form body and headers
 * as the Twilio client, through the global fetch (what the gateway uses) or node:http with a keep-alive agent.
 */
async function floor(client: 'fetch' | 'node:http', concurrency: number, total: number): Promise<{ rate: number; cpuUsPerRequest: number; p50: number; p99: number }> {
  const fakes = await startFakes(['twilio']);
  const agent = new http.Agent({ keepAlive: true });
  try {
    const url = `${fakes.env.TWILIO_BASE_URL}/2010-04-01/Accounts/${fakes.env.TWILIO_ACCOUNT_SID}/Messages.json`;
    const headers = {
      authorization: 'Basic ' + Buffer.from(`${fakes.env.TWILIO_ACCOUNT_SID}:${fakes.env.TWILIO_AUTH_TOKEN}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded', accept: 'application/json',
    };
    const viaFetch = async (body: string): Promise<[number, string]> => {
      const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      return [res.status, await res.text()];
    };
    const viaHttp = (body: string) => new Promise<[number, string]>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) }, signal: AbortSignal.timeout(10_000) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve([res.statusCode ?? 0, text]));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
    const post = async (i: number) => {
      const body = new URLSearchParams({ To: `+1415${2_000_000 + i}`, Body: 'Special offer! Get 50% off today.', From: '+15005550006', StatusCallback: `http://127.0.0.1:8000/api/webhooks/twilio?message_id=${i}` }).toString();
      const [status, text] = client === 'fetch' ? await viaFetch(body) : await viaHttp(body);
      if (status !== 201) throw new Error(`twilio fake answered ${status}: ${text}`);
      JSON.parse(text);
    };
    for (let i = 0; i < 500; i++) await post(i); // warm-up: JIT, connections
    const latencies: number[] = [];
    let next = 0;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await post(i);
        latencies.push(performance.now() - s);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const used = process.cpuUsage(cpu);
    latencies.sort((a, b) => a - b);
    return { rate: total / seconds, cpuUsPerRequest: (used.user + used.system) / total, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
  } finally {
    agent.destroy();
    await fakes.close();
  }
}

async function main(): Promise<void> {
  const total = Number(values.messages);
  const runs = Number(values.runs);
  const results: RunResult[] = [];
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  console.log(`${total} messages per run, ${runs} runs per scenario, alternating; ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at start`);
  for (let r = 0; r < runs && !values['floor-only']; r++) {
    for (const scenario of ['twilio', 'five'] as const) {
      if (values.only !== undefined && values.only !== scenario) continue;
      const res = await runScenario(scenario, total);
      results.push(res);
      console.log(`run ${r + 1} ${scenario}: ${res.sent} sent, ${res.failed} not sent, ${res.seconds.toFixed(2)} s = ${Math.round(res.rate)} msg/s; `
        + `gateway CPU ${Math.round(res.cpuUsPerMessage)} µs/msg (${pct(res.gatewayCpuShare)} of a core); machine busy ${pct(res.machineBusy)} of 2 cores; `
        + `send duration p50 ${res.gatewayP50} ms p99 ${res.gatewayP99} ms, ${res.inFlight.toFixed(1)} in flight on average, some in flight ${pct(res.busy)} of the window; `
        + `fake: ${res.fake.requests} requests, p50 ${(res.fake.p50 * 1000).toFixed(0)} µs p99 ${(res.fake.p99 * 1000).toFixed(0)} µs, ${res.fake.sockets} connections, `
        + `CPU ${Math.round((res.fake.cpuMs * 1000) / res.fake.requests)} µs/request; ${res.rounds} rounds; sent per provider ${JSON.stringify(res.perProvider)}`);
    }
  }
  if (results.length > 0) {
    console.log('\nmedians:');
    console.log('| scenario | messages/s (runs) | gateway CPU µs/msg | gateway CPU share of a core | send duration p50 / p99, gateway side | mean sends in flight | fake p50 / p99 | machine busy (2 cores) |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const scenario of ['twilio', 'five']) {
      const rs = results.filter((r) => r.scenario === scenario);
      if (rs.length === 0) continue;
      const m = (f: (r: RunResult) => number) => median(rs.map(f));
      console.log(`| ${scenario} | ${Math.round(m((r) => r.rate))} (${rs.map((r) => Math.round(r.rate)).join(', ')}) | ${Math.round(m((r) => r.cpuUsPerMessage))} | ${pct(m((r) => r.gatewayCpuShare))} `
        + `| ${m((r) => r.gatewayP50)} / ${m((r) => r.gatewayP99)} ms | ${m((r) => r.inFlight).toFixed(1)} | ${Math.round(m((r) => r.fake.p50) * 1000)} / ${Math.round(m((r) => r.fake.p99) * 1000)} µs `
        + `| ${pct(m((r) => r.machineBusy))} |`);
    }
  }
  if (!values['no-floor']) {
    console.log('\nfloor: this process straight to the twilio fake, 5,000 requests, median of 3 (alternating):');
    const cases = [['fetch', 25], ['node:http', 25], ['fetch', 100]] as const;
    const floors = new Map<string, Array<Awaited<ReturnType<typeof floor>>>>();
    for (let r = 0; r < 3; r++) {
      for (const [client, concurrency] of cases) {
        const key = `${client}, ${concurrency} in flight`;
        floors.set(key, [...(floors.get(key) ?? []), await floor(client, concurrency, 5000)]);
      }
    }
    for (const [key, fs] of floors) {
      console.log(`  ${key}: ${Math.round(median(fs.map((f) => f.rate)))} requests/s (${fs.map((f) => Math.round(f.rate)).join(', ')}), `
        + `client CPU ${Math.round(median(fs.map((f) => f.cpuUsPerRequest)))} µs/request, p50 ${median(fs.map((f) => f.p50)).toFixed(1)} ms, p99 ${median(fs.map((f) => f.p99)).toFixed(1)} ms`);
    }
  }
  process.exit(0);
}
