import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { httpRequest, sleep } from './hostile.js';

/** What the event loop did while some work ran. */
export interface Measured {
  loopMaxMs: number;
  healthMaxMs: number;
  healthPolls: number;
  healthFailures: string[];
  /** From the start of the work to its end (before `settleMs`). */
  workMs: number;
}

/**
 * Runs `work` while polling GET /health on `port` every 20 ms (each latency counted from when the
 * poll was due, so a stall is not hidden by a late timer) and sampling the event loop's delay.
 * `settleMs` after the work: what the gateway does after replying (commits, callbacks), and a loop
 * blocked until then recording its stall at its next turn, count too.
 */
export async function measureLoop<T>(port: number, work: () => Promise<T>, { settleMs = 200, healthTimeoutMs = 5_000 } = {}): Promise<{ result: T } & Measured> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  const latencies: number[] = [];
  const failures: string[] = [];
  let stop = false;
  const poller = (async () => {
    const start = performance.now();
    for (let k = 0; !stop; k++) {
      const due = start + k * 20;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (stop) break;
      try {
        const res = await httpRequest(port, { method: 'GET', path: '/health', agent, timeoutMs: healthTimeoutMs });
        if (res.status !== 200) failures.push(`/health answered ${res.status}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      latencies.push(performance.now() - due);
    }
  })();
  histogram.enable();
  // The histogram's first sample only starts its clock.
  await sleep(60);
  let result: T;
  let workMs: number;
  try {
    const started = performance.now();
    result = await work();
    workMs = performance.now() - started;
    await sleep(settleMs);
  } finally {
    stop = true;
    await poller;
    histogram.disable();
    agent.destroy();
  }
  return { result, workMs, loopMaxMs: histogram.max / 1e6, healthMaxMs: Math.max(0, ...latencies), healthPolls: latencies.length, healthFailures: failures };
}
