import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { processLog } from '../logging.js';

/** How often the thread checkpoints; a busy gateway writes a few MB of WAL in that time. */
const INTERVAL_MS = 100;
/** 64 MiB of 4 KiB pages: past this, a fully copied WAL is restarted from its beginning. */
const RESTART_AFTER_FRAMES = 16_384;

/**
 * The thread's whole program (CommonJS, run with `eval`, so it needs no file of its own beside
 * either `dist/` or the TypeScript sources): a connection of its own that moves committed WAL
 * frames into the database file every INTERVAL_MS, without waiting for readers or writers
 * (PASSIVE), until told to stop.
 *
 * Copying frames does not shorten the WAL. A writer starts it over only if it begins while every
 * frame is copied and no other connection reads from it; with two writing threads and this one,
 * that instant rarely comes under load, and the WAL grew to 941 MB in 73 s of figure 1's load
 * (bench/RESULTS.md). So once it holds more than RESTART_AFTER_FRAMES, all copied, the thread
 * restarts it itself (RESTART). Without a wait (busy_timeout 0) that succeeds only at an instant
 * with no writer and no reader; otherwise the next turn tries again. Once it succeeds, writers hold
 * off only for the few milliseconds it takes.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
// A checkpoint that finds another one running (another process's) skips its turn instead of waiting.
db.pragma('busy_timeout = 0');
const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');
const restart = db.prepare('pragma wal_checkpoint(RESTART)');
const run = () => {
  try {
    const { log, checkpointed } = checkpoint.get();
    // Only with the WAL all copied: then RESTART just needs an instant with no writer and no reader.
    if (log > workerData.restartAfterFrames && checkpointed === log && restart.get().busy === 0) parentPort.postMessage({ restarted: true });
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

  private restartCount = 0;

  constructor(databasePath: string, { intervalMs = INTERVAL_MS, restartAfterFrames = RESTART_AFTER_FRAMES } = {}) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { path: databasePath, driver, intervalMs, restartAfterFrames } });
    this.worker.on('message', (message: { error?: string; restarted?: boolean }) => {
      if (message.restarted) this.restartCount++;
      if (message.error) processLog.error(`WAL checkpoint failed: ${message.error}`);
    });
    this.worker.on('error', (err) => processLog.error('WAL checkpoint thread failed', err));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // A thread that only checkpoints must not keep a process alive that has nothing else to do.
    this.worker.unref();
  }

  /** How many times the thread has started the WAL over. */
  get restarts(): number {
    return this.restartCount;
  }

  /** One last checkpoint, then the thread ends. */
  async close(): Promise<void> {
    // Waited for: the process must not end (with an unsettled await) before the thread has.
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
