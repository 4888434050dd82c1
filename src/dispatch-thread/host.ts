import { Worker } from 'node:worker_threads';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { processLog } from '../logging.js';
import { WriteTurn } from '../store/write-turn.js';
import type { ProviderHealth } from '../services/provider-health.js';
import type { FromDispatchThread, ToDispatchThread } from './messages.js';

/** How long a question to the thread (metrics, provider health) may take before it goes unanswered. */
const ASK_TIMEOUT_MS = 2000;
const RESTART_DELAY_MS = 1000;

type Answer = Extract<FromDispatchThread, { id: number }>;

/**
 * Runs the background loops (dispatch, callbacks, simulator reports) on a worker thread of this
 * process, so the API's event loop and theirs use two cores (DISPATCH_THREAD, the default with
 * RUN_WORKER). The thread is a worker as `npm run worker` is one: its own services and database
 * connection; the database stays the queue and wake-ups cross by a BroadcastChannel. Should the
 * thread die, it is started again: its claims are recovered after their lease, as after a crash.
 */
export class DispatchThread {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, (answer: Answer | undefined) => void>();
  private nextId = 1;
  private stopping = false;

  /** `writeTurn`: the main thread's store's (SQLite), shared so the two threads hand the write lock over. */
  constructor(private readonly env: Readonly<Record<string, string | undefined>>, private readonly writeTurn?: SharedArrayBuffer) {}

  /** Resolves once the thread's loops run; rejects when its services could not start (a bad setting). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      // Compiled, this is dist/dispatch-thread/host.js beside entry.js; from the sources, host.ts beside tsx-entry.mjs.
      const entry = new URL(import.meta.url.endsWith('.ts') ? './tsx-entry.mjs' : './entry.js', import.meta.url);
      const worker = new Worker(entry, { workerData: { env: this.env, writeTurn: this.writeTurn } });
      this.worker = worker;
      let started = false;
      worker.on('message', (message: FromDispatchThread) => {
        if (message.type === 'ready') {
          started = true;
          resolve();
        } else if (message.type === 'failed') {
          reject(new Error(`the dispatch thread could not start: ${message.message}`));
        } else if ('id' in message) {
          this.waiting.get(message.id)?.(message);
          this.waiting.delete(message.id);
        }
      });
      worker.on('error', (err) => processLog.error('dispatch thread failed', err));
      worker.on('exit', (code) => {
        // A thread that died mid-transaction must not keep the API from writing.
        if (this.writeTurn) WriteTurn.releaseAbandoned(this.writeTurn, 2);
        for (const answer of this.waiting.values()) answer(undefined);
        this.waiting.clear();
        if (this.stopping) return;
        if (!started) {
          reject(new Error(`the dispatch thread exited (code ${code}) before it started`));
          return;
        }
        processLog.error(`dispatch thread exited (code ${code}); starting it again`);
        setTimeout(() => {
          if (!this.stopping) this.start().catch((err) => processLog.error('dispatch thread restart failed', err));
        }, RESTART_DELAY_MS).unref();
      });
    });
  }

  /** Asks the thread to stop its loops (within SHUTDOWN_TIMEOUT_SECONDS) and waits until it has; false when work was left to recovery. */
  async stop(): Promise<boolean> {
    this.stopping = true;
    const worker = this.worker;
    if (!worker) return true;
    const stopped = new Promise<boolean>((resolve) => {
      worker.on('message', (message: FromDispatchThread) => {
        if (message.type === 'stopped') resolve(message.inTime);
      });
      worker.once('exit', () => resolve(false));
    });
    this.send({ type: 'stop' });
    const inTime = await stopped;
    await worker.terminate();
    return inTime;
  }

  /** The thread's Prometheus series, or none when it does not answer in time. */
  async metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    const answer = await this.ask('metrics');
    return answer?.type === 'metrics' ? answer.metrics : [];
  }

  /** Circuit states, recent outcomes and connections as the sending thread sees them; undefined when it does not answer. */
  async providerHealth(): Promise<Record<string, ProviderHealth> | undefined> {
    const answer = await this.ask('providers');
    return answer?.type === 'providers' ? answer.providers : undefined;
  }

  private ask(type: 'metrics' | 'providers'): Promise<Answer | undefined> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, ASK_TIMEOUT_MS);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      if (!this.send({ type, id })) {
        this.waiting.delete(id);
        clearTimeout(timer);
        resolve(undefined);
      }
    });
  }

  private send(message: ToDispatchThread): boolean {
    if (!this.worker) return false;
    try {
      this.worker.postMessage(message);
      return true;
    } catch {
      return false;
    }
  }
}
