import { open, type FileHandle } from 'node:fs/promises';

/**
 * Makes committed WAL frames durable without blocking the event loop. SQLite runs with
 * synchronous=NORMAL (a commit writes the WAL but does not fsync it) and the group commit
 * awaits `sync()` before answering: the fdatasync runs on libuv's thread pool while requests
 * keep being parsed, and one fdatasync covers every commit made before it started. A commit
 * whose frames were not yet on disk when power failed was never acknowledged, and SQLite's
 * WAL checksums discard a torn tail on recovery.
 */
export class WalSync {
  private file: FileHandle | undefined;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly walPath: string) {}

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.flush().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // A flush already under way may have started before our write: wait for the one after it.
    this.next ??= this.running.then(() => {
      this.next = undefined;
      return this.sync();
    });
    return this.next;
  }

  private async flush(): Promise<void> {
    this.file ??= await open(this.walPath, 'r+');
    await this.file.datasync();
  }

  async close(): Promise<void> {
    await this.file?.close();
    this.file = undefined;
  }
}
