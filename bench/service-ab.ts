/**
 * CPU per call of the hot use cases below HTTP, for two or more builds alternating in one run: a
 * one-recipient send, an OTP generate and an OTP verify (a wrong code: the same two statements as a
 * right one, without having to read the code back), and the dispatcher's work per message (`dispatch`:
 * every message the run queued, the sends' and the codes', claimed, handed to the simulator, stored as
 * sent and delivered by its reports, on the same thread and connection). For changes too small to show through the HTTP figures' ±15 % spread
 * on these machines (bench/RESULTS.md, thirteenth pass).
 *
 * Each build is a directory with a compiled `dist/`. Per build and run, a fresh node process opens a
 * fresh SQLite file with the build's own `createServices` (dispatcher and loops off until the dispatch
 * phase, limits raised as user-path.ts raises them) and calls the service 50 at a time, as 50 connections
 * would: the group commit and its WAL fsync are in, HTTP, the dispatcher and the load generator are not.
 * `--calls` after as many warm-up ones. CPU is the process's user+system time (`process.cpuUsage`) ÷ calls
 * (÷ messages for `dispatch`, whose figure also holds the other loops, the WAL threads and its own polling).
 *
 * Usage: npx tsx bench/service-ab.ts --build base=/tmp/base --build head=. [--runs 5] [--calls 10000]
 *        (`git worktree add /tmp/base <commit>`, link node_modules into it, `npm run build:server` there)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { build: { type: 'string', multiple: true, default: [] }, runs: { type: 'string', default: '5' }, calls: { type: 'string', default: '10000' } } });
const builds = values.build.map((b) => {
  const [name, dir] = b.split('=');
  if (!dir || !existsSync(join(dir, 'dist/services/container.js'))) throw new Error(`--build ${b}: expected name=<dir with dist/>`);
  return { name, dir: resolve(dir) };
});
if (builds.length === 0) throw new Error('give at least one --build name=<dir>');
const RUNS = Number(values.runs);
const CALLS = Number(values.calls);
const KINDS = ['send', 'generate', 'verify', 'dispatch'] as const;
type Kind = typeof KINDS[number];

/** Runs in the child process, on the build's dist: prints {send, generate, verify, dispatch} in µs of CPU per call or message. */
const child = `
const [dist, dbPath, calls] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const { loadConfig } = await import(dist + '/config.js');
const { createServices, startWorkers, stopWorkers } = await import(dist + '/services/container.js');
const { countByStatus } = await import(dist + '/store/message-store.js');
const services = await createServices(loadConfig({
  DATABASE_URL: 'sqlite:' + dbPath, LOG_LEVEL: 'silent', RUN_WORKER: 'false', PORT: '0', SIMULATOR_DELIVERY_DELAY_MS: '0',
  RATE_LIMIT_PER_SECOND: '10000000', RATE_LIMIT_PER_MINUTE: '100000000', RATE_LIMIT_PER_HOUR: '1000000000',
  MAX_SMS_PER_NUMBER_PER_HOUR: '1000000', OTP_PUMPING_MIN_CONVERSION: '0',
  // The dispatch phase measures the dispatcher: the outbox trim (a build before it ignores this) stays out of its figure.
  SIMULATOR_OUTBOX_KEEP: '0',
}));
const caller = { keyId: null, scopes: ['admin'] };
const number = (prefix, i) => '+1' + prefix + (2000000 + i * 7);
// Sends and codes to numbers of their own (every tenth of a million apart).
const calls_ = {
  send: (n) => services.send.send({ to: [{ number: n }], message: 'Your order #1234 has shipped and will arrive tomorrow.', sms_type: 'transactional' }, undefined, caller),
  generate: (n) => services.otp.generate({ phone_number: { number: n } }, caller),
  verify: (n) => services.otp.verify({ phone_number: { number: n }, otp_code: '000000' }).catch(() => undefined),
};
async function phase(kind, prefix, count, from) {
  const before = process.cpuUsage();
  for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => calls_[kind](number(prefix, from + i + j))));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}
const out = {};
await phase('send', '510', calls, 0); out.send = await phase('send', '415', calls, 0);
await phase('generate', '510', calls, 100000); out.generate = await phase('generate', '415', calls, 100000);
await phase('verify', '510', calls, 100000); out.verify = await phase('verify', '415', calls, 100000);
// The sends' messages (2 × calls) and the codes are still queued: the dispatcher's loops take them all, here on
// this thread (no second connection, so no write turns). Per message, warm-up included, polling for the end too.
const queued = await countByStatus(services.store.db, ['queued']);
const before = process.cpuUsage();
startWorkers(services);
while (await countByStatus(services.store.db, ['queued', 'sending', 'sent']) > 0) await new Promise((r) => setTimeout(r, 50));
const used = process.cpuUsage(before);
out.dispatch = (used.user + used.system) / queued;
console.log(JSON.stringify(out));
await stopWorkers(services);
await services.store.close();
process.exit(0);
`;

function measure(dir: string): Record<Kind, number> {
  const work = mkdtempSync(join(tmpdir(), 'smsgw-service-ab-'));
  try {
    // A file, not `--input-type=module -e`: the gateway's own eval'd threads would inherit that flag.
    const script = join(work, 'measure.mjs');
    writeFileSync(script, child);
    const run = spawnSync(process.execPath, [script, pathToFileURL(join(dir, 'dist')).href, join(work, 'gateway.db'), String(CALLS)], { cwd: dir, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${dir}: ${run.stderr}`);
    return JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<Kind, number>;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map<string, Array<Record<Kind, number>>>(builds.map((b) => [b.name, []]));
console.log(`service-ab: ${CALLS} calls of each kind after as many warm-up ones, 50 at a time, ${RUNS} runs, builds alternating (order reversed every other run)`);
for (let run = 0; run < RUNS; run++) {
  for (const build of run % 2 === 0 ? builds : [...builds].reverse()) {
    const r = measure(build.dir);
    results.get(build.name)!.push(r);
    console.log(`run ${run + 1} ${build.name}: ${KINDS.map((k) => `${k} ${r[k].toFixed(1)} µs`).join(', ')}`);
  }
}
console.log('\n| build | send µs CPU (runs) | generate | verify | dispatch, per message |\n| --- | --- | --- | --- | --- |');
for (const [name, rs] of results) {
  console.log(`| ${name} | ${KINDS.map((k) => `${median(rs.map((r) => r[k])).toFixed(1)} (${rs.map((r) => r[k].toFixed(1)).join(', ')})`).join(' | ')} |`);
}
