/**
 * Figure 5 of bench/user-path.ts (OTP generate + verify pairs with the dispatcher on) for two or more
 * builds of the gateway in one run, alternating, so a before and an after see the same machine:
 * each build is a directory with a compiled `dist/` (and `node_modules`), started as `npm start` starts
 * it (`node --enable-source-maps dist/main.js`, dispatcher on, simulator reporting after its default 1 s,
 * SQLITE_SYNCHRONOUS default) on a fresh SQLite file, with only PATH, HOME, the API rate limits and
 * MAX_SMS_PER_NUMBER_PER_HOUR raised and OTP_PUMPING_MIN_CONVERSION=0, as user-path.ts sets them.
 *
 * Per build and run: 1,000 warm-up generates, `--pairs` generates over 50 connections, wait until the
 * dispatcher has sent every code, read them from GET /api/simulator/outbox, 1,000 warm-up verifies,
 * `--pairs` verifies. Pairs/s = pairs / (generate time + verify time), each timed to its last reply.
 * CPU: the gateway process's user+system time (/proc/<pid>/stat, all threads) over each phase ÷ pairs.
 * Machine: busy share of both cores (/proc/stat) over the generate phase, and the part of it that is
 * neither the gateway nor this process (autocannon): other work on the shared machine.
 *
 * Usage: npx tsx bench/otp-ab.ts --build before=/tmp/otp-before --build after=/tmp/otp-after [--runs 3] [--pairs 5000]
 *        (`git worktree add /tmp/otp-before <commit>`, link node_modules into it, `npm run build:server` there)
 */
import { postAll } from './post-all.js';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { build: { type: 'string', multiple: true, default: [] }, runs: { type: 'string', default: '3' }, pairs: { type: 'string', default: '5000' } } });
const builds = values.build.map((b) => {
  const [name, dir] = b.split('=');
  if (!dir || !existsSync(join(dir, 'dist/main.js'))) throw new Error(`--build ${b}: expected name=<dir with dist/main.js>`);
  return { name, dir };
});
if (builds.length === 0) throw new Error('give at least one --build name=<dir>');
const RUNS = Number(values.runs);
const PAIRS = Number(values.pairs);
const WARM = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ticksOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - cpu[3] - cpu[4], total };
}
/** CPU ms of the gateway and of this process, and the machine's busy share, between two snapshots. */
function snapshot(pid: number) {
  return { gateway: ticksOf(pid), self: ticksOf(process.pid), ...machineTicks() };
}
function between(a: ReturnType<typeof snapshot>, b: ReturnType<typeof snapshot>) {
  const total = Math.max(1, b.total - a.total);
  const busy = b.busy - a.busy;
  // Per-process ticks are per core; /proc/stat counts every core: both in 10 ms ticks.
  const others = Math.max(0, busy - (b.gateway - a.gateway) - (b.self - a.self));
  return { gatewayMs: (b.gateway - a.gateway) * 10, machineBusy: busy / total, others: others / total };
}

async function cannon(base: string, path: string, bodies: string[]): Promise<{ seconds: number; bad: number }> {
  const { started, last, bad } = await postAll(base, path, bodies);
  return { seconds: (last - started) / 1000, bad };
}

interface Result { pairsPerSec: number; generatePerSec: number; verifyPerSec: number; generateUs: number; verifyUs: number; busy: number; others: number; verified: number }

async function measure(dir: string, round: number): Promise<Result> {
  const work = mkdtempSync(join(tmpdir(), 'smsgw-otp-ab-'));
  const dbPath = join(work, 'gateway.db');
  const port = 20000 + Math.floor(Math.random() * 5000);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${dbPath}`,
    RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000', MAX_SMS_PER_NUMBER_PER_HOUR: '1000000',
    OTP_PUMPING_MIN_CONVERSION: '0',
    // Every code is read back from the simulator's outbox, as in user-path.ts: past its default 10,000 entries it keeps them all.
    ...(PAIRS + WARM > 10_000 ? { SIMULATOR_OUTBOX_KEEP: '0' } : {}),
  };
  const log = join(work, 'api.log');
  const child = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js'], { cwd: dir, env, stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')] });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}: ${readFileSync(log, 'utf8').slice(-2000)}`);
      try {
        if ((await fetch(`${base}/health`)).ok) break;
      } catch {
        // starting
      }
      if (i > 600) throw new Error('gateway not up after 60 s');
      await sleep(100);
    }
    const warm = Array.from({ length: WARM }, (_, i) => `+1510${2_000_000 + round * 50_000 + i * 7}`);
    const numbers = Array.from({ length: PAIRS }, (_, i) => `+1415${2_000_000 + round * 100_000 + i * 7}`);
    const generateBody = (number: string) => JSON.stringify({ phone_number: { number } });
    if ((await cannon(base, '/api/otp/generate', warm.map(generateBody))).bad > 0) throw new Error('warm-up generates failed');
    const g0 = snapshot(child.pid!);
    const generated = await cannon(base, '/api/otp/generate', numbers.map(generateBody));
    const g1 = snapshot(child.pid!);
    if (generated.bad > 0) throw new Error(`${generated.bad} generates failed`);
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    const sent = db.prepare(`select count(*) n from messages where sms_type = 'otp' and sent_at is not null`);
    for (let i = 0; (sent.get() as { n: number }).n < PAIRS + WARM; i++) {
      if (i > 1200) throw new Error('codes not all sent within 120 s');
      await sleep(100);
    }
    const codes = new Map<string, string>();
    for (let offset = 0; ; offset += 500) {
      const page = await (await fetch(`${base}/api/simulator/outbox?limit=500&offset=${offset}`)).json() as { items: Array<{ to: string; body: string }> };
      for (const item of page.items) {
        const code = /code is (\d+)/.exec(item.body)?.[1];
        if (code) codes.set(item.to, code);
      }
      if (page.items.length < 500) break;
    }
    const verifyBody = (number: string) => JSON.stringify({ phone_number: { number }, otp_code: codes.get(number) });
    await cannon(base, '/api/otp/verify', warm.map(verifyBody));
    const v0 = snapshot(child.pid!);
    const verifiedRun = await cannon(base, '/api/otp/verify', numbers.map(verifyBody));
    const v1 = snapshot(child.pid!);
    if (verifiedRun.bad > 0) throw new Error(`${verifiedRun.bad} verifies failed`);
    const verified = (db.prepare(`select count(*) n from otp_sessions where status = 'verified' and phone_number like '+1415%'`).get() as { n: number }).n;
    db.close();
    const gen = between(g0, g1);
    const ver = between(v0, v1);
    return {
      pairsPerSec: PAIRS / (generated.seconds + verifiedRun.seconds), generatePerSec: PAIRS / generated.seconds, verifyPerSec: PAIRS / verifiedRun.seconds,
      generateUs: (gen.gatewayMs * 1000) / PAIRS, verifyUs: (ver.gatewayMs * 1000) / PAIRS, busy: gen.machineBusy, others: gen.others, verified,
    };
  } finally {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
    rmSync(work, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r0 = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (x: number) => `${Math.round(x * 100)} %`;

console.log(`otp-ab ${new Date().toISOString()}: ${builds.map((b) => `${b.name}=${b.dir}`).join(', ')}; ${RUNS} runs, ${PAIRS} pairs; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const results = new Map<string, Result[]>(builds.map((b) => [b.name, []]));
for (let round = 0; round < RUNS; round++) {
  for (const { name, dir } of round % 2 ? [...builds].reverse() : builds) {
    const r = await measure(dir, round);
    results.get(name)!.push(r);
    console.log(`run ${round + 1} ${name}: ${r0(r.pairsPerSec)} pairs/s (generate ${r0(r.generatePerSec)}/s, verify ${r0(r.verifyPerSec)}/s), CPU ${r0(r.generateUs)} + ${r0(r.verifyUs)} µs/pair, `
      + `machine ${pct(r.busy)} busy, ${pct(r.others)} others (generate phase), ${r.verified} verified`);
  }
}
console.log('\n| build | pairs/s (runs) | generate/s | verify/s | CPU µs/pair (generate + verify) | machine busy / others (generate) |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [name, rs] of results) {
  const m = (f: (r: Result) => number) => median(rs.map(f));
  console.log(`| ${name} | ${r0(m((r) => r.pairsPerSec))} (${rs.map((r) => r0(r.pairsPerSec)).join(', ')}) | ${r0(m((r) => r.generatePerSec))} | ${r0(m((r) => r.verifyPerSec))} `
    + `| ${r0(m((r) => r.generateUs + r.verifyUs))} (${r0(m((r) => r.generateUs))} + ${r0(m((r) => r.verifyUs))}) | ${pct(m((r) => r.busy))} / ${pct(m((r) => r.others))} |`);
}
console.log(`\nload average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
