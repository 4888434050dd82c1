import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { processLog } from '../../logging.js';
import type { ReadAnswer, ReadQuery, ReadThreadData, ThreadError } from './messages.js';

/** A read thread stopped (it crashed, or was terminated) before it answered: the query did not finish. */
export class ReadThreadExitedError extends Error {
  override readonly name = 'ReadThreadExitedError';
}

/** The read threads were closed (the services are shutting down). */
export class ReadThreadClosedError extends Error {
  override readonly name = 'ReadThreadClosedError';
}

export interface ReadThreadOptions {
  /** Threads, each with its own connection; a query goes to the one with the fewest waiting. */
  threads?: number;
  busyTimeoutMs?: number;
  cacheSize?: number;
}

export type ReadResult = { rows: unknown[] } | { changes: number };

interface Waiting {
  resolve(result: ReadResult): void;
  reject(err: Error): void;
  /** The main thread's stack where the query was asked, for the error should it fail. */
  asked: Error;
}

interface Slot {
  worker: Worker;
  waiting: Map<number, Waiting>;
}

const STANDARD_ERRORS: Record<string, new (message: string) => Error> = { TypeError, RangeError, SyntaxError, ReferenceError };

/** The thread's error as this thread would have thrown it: a SqliteError keeps its class and `code`, a TypeError its class. */
function rebuild(error: ThreadError, asked: Error): Error {
  const err = error.name === 'SqliteError' && error.code !== undefined
    ? new BetterSqlite3.SqliteError(error.message, error.code)
    : Object.assign(new (STANDARD_ERRORS[error.name] ?? Error)(error.message), error.code !== undefined ? { code: error.code } : {});
  if (err.name !== error.name) Object.defineProperty(err, 'name', { value: error.name, configurable: true, writable: true });
  err.stack = `${err.name}: ${err.message}\n${asked.stack?.split('\n').slice(1).join('\n') ?? ''}`;
  return err;
}

/**
 * Read-only connections to one SQLite file, each on a worker thread of its own, so a long read
 * (analytics, a count over a million rows) runs beside the event loop instead of on it. A thread
 * starts with the first query sent to it. Should one die, the queries it held fail with
 * ReadThreadExitedError and the next query starts a new one. An idle thread does not keep the
 * process alive (it is unref'd while nothing waits on it).
 */
export class ReadThreads {
  private readonly slots: Array<Slot | undefined>;
  private nextId = 1;
  private closed = false;
  private readonly data: ReadThreadData;
  /** Answers not yet handed to their callers: one per turn of the event loop (see `deliver`). */
  private readonly answers: Array<() => void> = [];
  private delivering = false;

  constructor(path: string, options: ReadThreadOptions = {}) {
    this.slots = new Array<Slot | undefined>(Math.max(1, options.threads ?? 1)).fill(undefined);
    this.data = { path, busyTimeoutMs: options.busyTimeoutMs ?? 5000, cacheSize: options.cacheSize ?? -65536 };
  }

  /** Runs one statement on a read thread: its rows (or, for a statement that is not a read, the changes it made). */
  query(sql: string, parameters: readonly unknown[]): Promise<ReadResult> {
    const asked = new Error('asked here');
    if (this.closed) return Promise.reject(new ReadThreadClosedError('the read threads are closed'));
    const slot = this.pick();
    const id = this.nextId++;
    return new Promise<ReadResult>((resolve, reject) => {
      slot.waiting.set(id, { resolve, reject, asked });
      // While a query waits on it, the thread keeps the process alive, so its answer is not lost.
      if (slot.waiting.size === 1) slot.worker.ref();
      try {
        slot.worker.postMessage({ id, sql, parameters } satisfies ReadQuery);
      } catch (err) {
        // A parameter structured cloning cannot carry.
        this.settle(slot, id);
        reject(err as Error);
      }
    });
  }

  /** Terminates every thread; queries still waiting fail with ReadThreadClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0).filter((s): s is Slot => s !== undefined);
    await Promise.all(slots.map(async (slot) => {
      this.failAll(slot, () => new ReadThreadClosedError('the read threads were closed before the query was answered'));
      await slot.worker.terminate();
    }));
  }

  /** The threads running now (tests stop one to see the queries it held fail and the next start it again). */
  get workers(): Worker[] {
    return this.slots.filter((s): s is Slot => s !== undefined).map((s) => s.worker);
  }

  private pick(): Slot {
    let best: Slot | undefined;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i] ?? (this.slots[i] = this.start(i));
      if (best === undefined || slot.waiting.size < best.waiting.size) best = slot;
      if (best.waiting.size === 0) break;
    }
    return best!;
  }

  private start(index: number): Slot {
    // Compiled, this is dist/store/read-thread/host.js beside entry.js; from the sources, host.ts beside tsx-entry.mjs.
    const entry = new URL(import.meta.url.endsWith('.ts') ? './tsx-entry.mjs' : './entry.js', import.meta.url);
    const worker = new Worker(entry, { workerData: this.data, name: `read-thread-${index}` });
    worker.unref();
    const slot: Slot = { worker, waiting: new Map() };
    worker.on('message', (answer: ReadAnswer) => {
      const waiting = this.settle(slot, answer.id);
      if (!waiting) return;
      this.deliver(() => {
        if ('error' in answer) waiting.reject(rebuild(answer.error, waiting.asked));
        else waiting.resolve(answer);
      });
    });
    // An uncaught error ends the thread; 'exit' follows and fails what it held.
    worker.on('error', (err) => processLog.error('read thread failed', err));
    worker.on('exit', (code) => {
      if (this.slots[index] === slot) this.slots[index] = undefined;
      if (this.closed) return;
      if (slot.waiting.size > 0) processLog.error(`read thread exited (code ${code}) with ${slot.waiting.size} queries unanswered; the next query starts it again`);
      this.failAll(slot, () => new ReadThreadExitedError(`the read thread exited (code ${code}) before answering`));
    });
    return slot;
  }

  /**
   * Hands answers over one per turn of the event loop. A port delivers every message that arrived
   * meanwhile in one go, and what each caller then does with its rows (a page of 500 messages: ~9 ms
   * of views and JSON) would add up into one long stall; one per turn, requests (/health) are
   * served between them.
   */
  private deliver(answer: () => void): void {
    this.answers.push(answer);
    if (this.delivering) return;
    this.delivering = true;
    const next = () => {
      this.answers.shift()!();
      if (this.answers.length > 0) setImmediate(next);
      else this.delivering = false;
    };
    setImmediate(next);
  }

  private settle(slot: Slot, id: number): Waiting | undefined {
    const waiting = slot.waiting.get(id);
    if (!waiting) return undefined;
    slot.waiting.delete(id);
    if (slot.waiting.size === 0) slot.worker.unref();
    return waiting;
  }

  private failAll(slot: Slot, error: () => Error): void {
    for (const [id, waiting] of [...slot.waiting]) {
      this.settle(slot, id);
      waiting.reject(error());
    }
  }
}
