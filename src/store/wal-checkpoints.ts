import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { processLog } from '../logging.js';

/** How often the thread checkpoints; a busy gateway writes a few MB of WAL in that time. */
const INTERVAL_MS = 100;

/**
 * The thread's whole program (CommonJS, run with `eval`, so it needs no file of its own beside
 * either `dist/` or the TypeScript sources): a connection of its own that moves committed WAL
 * frames into the database file every INTERVAL_MS, without waiting for readers or writers
 * (PASSIVE), until told to stop.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
// A checkpoint that finds another one running (another process's) skips its turn instead of waiting.
db.pragma('busy_timeout = 0');
const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');
const run = () => {
  try {
    checkpoint.get();
  } catch (err) {
    if (err.code !== 'SQLITE_BUSY' && err.code !== 'SQLITE_LOCKED') parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  run();
  db.close();
  parentPort.close();
});
`;

/**
 * Checkpoints SQLite's WAL on a thread of its own. Left to SQLite, the commit that crosses
 * 1,000 WAL pages runs the checkpoint itself: it copies those pages into the database file and
 * fsyncs it, on the event loop, inside a request's commit (measured: 744 µs per commit on
 * average under a steady send load, 34 % of all SQL time). The connections that write therefore
 * run with `wal_autocheckpoint = 0` while this thread runs. Should it stop or fail, the WAL
 * only grows (the next start's first connection checkpoints it); nothing is lost.
 */
export class WalCheckpoints {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(databasePath: string) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { path: databasePath, driver, intervalMs: INTERVAL_MS } });
    this.worker.on('message', (message: { error?: string }) => {
      if (message.error) processLog.error(`WAL checkpoint failed: ${message.error}`);
    });
    this.worker.on('error', (err) => processLog.error('WAL checkpoint thread failed', err));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // A thread that only checkpoints must not keep a process alive that has nothing else to do.
    this.worker.unref();
  }

  /** One last checkpoint, then the thread ends. */
  async close(): Promise<void> {
    // Waited for: the process must not end (with an unsettled await) before the thread has.
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
