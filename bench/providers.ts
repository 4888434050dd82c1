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
 * Gateway CPU per message: user+system time of the gateway process (/proc/<pid>/stat, sampled every
 * 10 ms) between those two instants, divided by the messages sent. Latency: the gateway's own duration
 * of each send (send_attempts.duration_ms, ms resolution) and the fake's time from request headers to
 * response end (diagnostics_channel in the fake process), plus the most requests in flight at the fakes.
 * Floor: a bare fetch loop from this process to the twilio fake (same form body and headers as the
 * client), 25 and 100 requests in flight.
 *
 * Usage: npx tsx bench/providers.ts [--messages 5000] [--runs 3] [--no-floor]
 */
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from './server.js';

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

interface FakeStats { requests: number; p50: number; p99: number; max: number; maxInFlight: number; sockets: number; cpuMs: number }

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
  let inFlight = 0;
  let maxInFlight = 0;
  let socketCount = 0;
  let target = Infinity;
  let cpu = process.cpuUsage();
  dc.subscribe('http.server.request.start', (m) => {
    const { request, socket } = m as { request: object; socket: object };
    started.set(request, process.hrtime.bigint());
    maxInFlight = Math.max(maxInFlight, ++inFlight);
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
    inFlight--;
    durations.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (durations.length === target) process.send!({ type: 'reached' });
  });

  process.on('message', (m: { type: string; count?: number }) => {
    if (m.type === 'expect') {
      target = m.count!;
      durations = [];
      maxInFlight = inFlight;
      socketCount = 0;
      cpu = process.cpuUsage();
      process.send!({ type: 'expecting' });
    } else if (m.type === 'stats') {
      const used = process.cpuUsage(cpu);
      const sorted = [...durations].sort((a, b) => a - b);
      const stats: FakeStats = {
        requests: durations.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN,
        maxInFlight, sockets: socketCount, cpuMs: (used.user + used.system) / 1000,
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
      child.once('exit', () => resolve());
      child.send({ type: 'close' });
    }),
  };
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
}

async function runScenario(scenario: 'twilio' | 'five', total: number): Promise<RunResult> {
  const providers: Real[] = scenario === 'twilio' ? ['twilio'] : ALL;
  const fakes = await startFakes(providers);
  const dir = mkdtempSync(join(tmpdir(), 'smsgw-providers-'));
  const env: Record<string, string> = {
    RUN_WORKER: 'true', SIMULATOR_ENABLED: 'false', WEBHOOK_SECRET: 'bench-webhook-secret', ...fakes.env,
    ...Object.fromEntries(providers.map((p) => [`${p.toUpperCase()}_MAX_PER_SECOND`, '100000'])),
  };
  if (scenario === 'five') {
    const routingFile = join(dir, 'routing.json');
    writeFileSync(routingFile, JSON.stringify({ routes: ALL.map((p) => ({ match: { prefix: [PREFIX[p]] }, providers: [p] })) }));
    env.ROUTING_FILE = routingFile;
  }
  if (values.profile) env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${values.profile}`;
  const server = await startServer(env);
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
    const samples: Array<[number, number]> = [];
    const pid = server.child.pid!;
    const sampler = setInterval(() => samples.push([Date.now(), cpuMsOf(pid)]), 10);
    const reached = fakes.once('reached');
    await Promise.race([reached, sleep(120_000).then(() => { throw new Error('the fakes did not see every send within 120 s'); })]);
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
    const fake = (await fakes.request<{ stats: FakeStats }>({ type: 'stats' }, 'stats')).stats;
    const seconds = (lastSent - firstClaim) / 1000;
    return {
      scenario, sent, failed, seconds, rate: sent / seconds, cpuUsPerMessage: (cpuMs * 1000) / sent,
      gatewayP50: quantile(durations, 0.5), gatewayP99: quantile(durations, 0.99), fake, perProvider, rounds, busy,
    };
  } finally {
    await server.stop();
    await fakes.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(server.dbPath, '..'), { recursive: true, force: true });
  }
}

/** Bare fetch from this process to the twilio fake: the HTTP floor without the gateway. */
async function floor(concurrency: number, total: number): Promise<{ rate: number; cpuUsPerRequest: number; p50: number; p99: number }> {
  const fakes = await startFakes(['twilio']);
  try {
    const url = `${fakes.env.TWILIO_BASE_URL}/2010-04-01/Accounts/${fakes.env.TWILIO_ACCOUNT_SID}/Messages.json`;
    const headers = {
      authorization: 'Basic ' + Buffer.from(`${fakes.env.TWILIO_ACCOUNT_SID}:${fakes.env.TWILIO_AUTH_TOKEN}`).toString('base64'),
      'content-type': 'application/x-www-form-urlencoded', accept: 'application/json',
    };
    const post = async (i: number) => {
      const body = new URLSearchParams({ To: `+1415${2_000_000 + i}`, Body: 'Special offer! Get 50% off today.', From: '+15005550006', StatusCallback: `http://localhost:8000/api/webhooks/twilio?message_id=${i}` });
      const res = await fetch(url, { method: 'POST', headers, body: body.toString(), signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`twilio fake answered ${res.status}: ${text}`);
      JSON.parse(text);
    };
    for (let i = 0; i < 500; i++) await post(i); // warm-up: JIT, connections
    await fakes.request({ type: 'expect', count: total }, 'expecting');
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
    await fakes.close();
  }
}

async function main(): Promise<void> {
  const total = Number(values.messages);
  const runs = Number(values.runs);
  const results: RunResult[] = [];
  const f1 = (x: number) => x.toFixed(1);
  for (let r = 0; r < runs && !values['floor-only']; r++) {
    for (const scenario of ['twilio', 'five'] as const) {
      if (values.only !== undefined && values.only !== scenario) continue;
      const res = await runScenario(scenario, total);
      results.push(res);
      console.log(`run ${r + 1} ${scenario}: ${res.sent} sent, ${res.failed} not sent, ${res.seconds.toFixed(2)} s = ${Math.round(res.rate)} msg/s; `
        + `gateway CPU ${Math.round(res.cpuUsPerMessage)} µs/msg; send duration p50 ${res.gatewayP50} ms p99 ${res.gatewayP99} ms (gateway); `
        + `fake ${res.fake.requests} requests, p50 ${res.fake.p50.toFixed(2)} ms p99 ${res.fake.p99.toFixed(2)} ms, max in flight ${res.fake.maxInFlight}, `
        + `${res.fake.sockets} connections, fake CPU ${Math.round((res.fake.cpuMs * 1000) / res.fake.requests)} µs/request; `
        + `${res.rounds} rounds, sends in flight ${Math.round(res.busy * 100)} % of the window; per provider ${JSON.stringify(res.perProvider)}`);
    }
  }
  console.log('\nmedians:');
  console.log('| scenario | messages/s | gateway CPU µs/msg | send p50 / p99 (gateway) | fake p50 / p99 | max in flight at fakes | sends in flight (% of window) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const scenario of ['twilio', 'five']) {
    const rs = results.filter((r) => r.scenario === scenario);
    console.log(`| ${scenario} | ${Math.round(median(rs.map((r) => r.rate)))} (${rs.map((r) => Math.round(r.rate)).join(', ')}) | ${Math.round(median(rs.map((r) => r.cpuUsPerMessage)))} `
      + `| ${median(rs.map((r) => r.gatewayP50))} / ${median(rs.map((r) => r.gatewayP99))} ms | ${f1(median(rs.map((r) => r.fake.p50)) * 1000)} / ${f1(median(rs.map((r) => r.fake.p99)) * 1000)} µs `
      + `| ${median(rs.map((r) => r.fake.maxInFlight))} | ${Math.round(median(rs.map((r) => r.busy)) * 100)} % |`);
  }
  if (!values['no-floor']) {
    console.log('\nfloor: bare fetch to the twilio fake, 5,000 requests (median of 3):');
    for (const concurrency of [25, 100]) {
      const fs = [];
      for (let r = 0; r < 3; r++) fs.push(await floor(concurrency, 5000));
      console.log(`  ${concurrency} in flight: ${Math.round(median(fs.map((f) => f.rate)))} requests/s (${fs.map((f) => Math.round(f.rate)).join(', ')}), `
        + `client CPU ${Math.round(median(fs.map((f) => f.cpuUsPerRequest)))} µs/request, p50 ${f1(median(fs.map((f) => f.p50)))} ms, p99 ${f1(median(fs.map((f) => f.p99)))} ms`);
    }
  }
}
