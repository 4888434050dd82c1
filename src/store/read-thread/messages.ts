/** What the main thread and a read thread (src/store/read-thread/entry.ts) tell each other. */

/** workerData of a read thread. */
export interface ReadThreadData {
  /** The SQLite file, opened read-only. */
  path: string;
  busyTimeoutMs: number;
  /** PRAGMA cache_size: negative is KiB. */
  cacheSize: number;
}

/** One compiled statement to run, parameters bound as better-sqlite3 binds them. */
export interface ReadQuery {
  id: number;
  sql: string;
  parameters: readonly unknown[];
}

/** An error as it crosses threads: structured cloning keeps an Error's message but not its `code`. */
export interface ThreadError {
  name: string;
  message: string;
  code?: string;
}

export type ReadAnswer =
  | { id: number; rows: unknown[] }
  | { id: number; changes: number }
  | { id: number; error: ThreadError };
