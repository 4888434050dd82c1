import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const root = join(import.meta.dirname, '..', '..');

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Runs `src/main.ts` (or another entry point) as its own process, as `npm start` would. */
export function spawnGateway(entry: 'src/main.ts' | 'src/worker-main.ts', env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export async function waitForHealth(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway on port ${port} did not start`);
}

export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/** How many times the simulator received each message, read from the database file the processes shared. */
export function outboxCopies(databasePath: string): number[] {
  const db = new Database(databasePath, { readonly: true });
  try {
    return (db.prepare('select count(*) n from simulator_outbox group by message_id').all() as Array<{ n: number }>).map((r) => r.n);
  } finally {
    db.close();
  }
}

/** Polls a batch until every message is final, or gives up after `timeoutMs`. */
export async function waitForBatch(base: string, batchId: string, timeoutMs: number): Promise<{ status: string; counts: Record<string, number> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await (await fetch(`${base}/api/sms/batches/${batchId}`)).json();
    if (batch.status === 'completed' || Date.now() > deadline) return batch;
    await new Promise((r) => setTimeout(r, 50));
  }
}
