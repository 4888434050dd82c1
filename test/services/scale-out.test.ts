import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabase, freshDatabaseUrl, onPostgres } from '../helpers/database.js';
import { exited, freePort, spawnGateway, waitForHealth } from '../helpers/process.js';

const children = new Set<ChildProcess>();
let databaseUrl = '';

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (databaseUrl) await dropDatabase(databaseUrl);
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A Redis of this test's own, so restarting it disturbs no other test. */
function startRedis(port: number): ChildProcess {
  return track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
}

async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Real processes on PostgreSQL and Redis: `npm start` with RUN_WORKER=false twice, `npm run worker` three times.
describe.skipIf(!onPostgres)('many API and worker processes on PostgreSQL and Redis', () => {
  it('5,000 messages through two APIs and three workers, a worker SIGKILLed and Redis restarted mid-run: each sent exactly once', async () => {
    databaseUrl = await freshDatabaseUrl();
    const redisPort = await freePort();
    let redis = startRedis(redisPort);
    const env = {
      DATABASE_URL: databaseUrl, REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      // Every process must use the same keys (docs/deployment.md).
      OTP_HASH_KEY: 'scale-out-test-hash-key-0123456789', MESSAGE_ENCRYPTION_KEY: '11'.repeat(32),
      SIMULATOR_DELIVERY_DELAY_MS: '50', SIMULATOR_LATENCY_MS: '20', DISPATCH_BATCH_SIZE: '100',
      RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_PER_HOUR: '10000000', MAX_SMS_PER_NUMBER_PER_HOUR: '100',
      PROVIDER_TIMEOUT: '1', DISPATCH_LEASE_SECONDS: '3',
    };
    const ports = [await freePort(), await freePort()];
    for (const port of ports) track(spawnGateway('src/main.ts', { ...env, PORT: String(port), RUN_WORKER: 'false' }));
    await Promise.all(ports.map(waitForHealth));
    const workers = [1, 2, 3].map(() => track(spawnGateway('src/worker-main.ts', env)));

    // A scheduled message, due after every process will have been restarted.
    const scheduledAt = new Date(Date.now() + 20_000).toISOString();
    const scheduled = await (await fetch(`http://127.0.0.1:${ports[0]}/api/sms/send`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: [{ number: '+14155559999' }], message: 'later', schedule_at: scheduledAt }),
    })).json();

    const batches: string[] = [];
    for (let i = 0; i < 10; i++) {
      const recipients = Array.from({ length: 500 }, (_, j) => ({ number: `+1415${String(2_000_000 + i * 500 + j)}` }));
      const res = await fetch(`http://127.0.0.1:${ports[i % 2]}/api/sms/send-batch`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ recipients, message: `scale ${i}` }),
      });
      expect(res.status).toBe(200);
      batches.push((await res.json()).batch_id);
      if (i === 3) {
        // Mid-run: one worker dies without a word, another takes its place; Redis goes away and comes back.
        workers[0].kill('SIGKILL');
        await exited(workers[0]);
        workers[0] = track(spawnGateway('src/worker-main.ts', env));
        redis.kill('SIGKILL');
        await exited(redis);
      }
      if (i === 6) redis = startRedis(redisPort);
    }

    const counts = async () => query<{ status: string; n: string }>('select status, count(*) n from messages where batch_id = any($1) group by status', [batches]);
    await waitUntil('every message final', async () => {
      const rows = await counts();
      return rows.every((r) => ['delivered', 'undelivered', 'failed'].includes(r.status));
    }, 120_000);
    const final = Object.fromEntries((await counts()).map((r) => [r.status, Number(r.n)]));
    // A send cut short by the SIGKILL may end OUTCOME_UNKNOWN only if the provider could not say; the simulator can.
    expect(final).toEqual({ delivered: 5000 });
    const copies = await query<{ n: string }>('select count(*) n from simulator_outbox o join messages m on m.id = o.message_id where m.batch_id = any($1) group by o.message_id', [batches]);
    expect(copies).toHaveLength(5000);
    expect(copies.filter((c) => Number(c.n) !== 1)).toEqual([]);

    // Every process goes away and comes back: the scheduled message is sent once, when due.
    for (const child of [...children].filter((c) => c !== redis)) child.kill('SIGTERM');
    await Promise.all([...children].filter((c) => c !== redis).map(exited));
    const port = await freePort();
    track(spawnGateway('src/main.ts', { ...env, PORT: String(port) }));
    await waitForHealth(port);
    const id = scheduled.messages[0].id;
    await waitUntil('the scheduled message', async () => (await query<{ status: string }>('select status from messages where id = $1', [id]))[0].status === 'delivered', 60_000);
    expect((await query<{ n: string }>('select count(*) n from simulator_outbox where message_id = $1', [id]))[0].n).toBe('1');
  }, 240_000);
});
