import type { GroupCommit } from '../store/group-commit.js';
import { purgeExpiredResponses } from '../store/idempotency-store.js';
import { PollingLoop } from './polling-loop.js';

/** Keys deleted per transaction: short, so sends waiting for the write lock wait only milliseconds. */
const KEYS_PER_TRANSACTION = 1_000;
/** How often to look once none is left past the window. */
const INTERVAL_MS = 60_000;

/**
 * The replies kept for `Idempotency-Key` answer for 24 hours; after that they go. Kept, each held a
 * request's whole reply (a send's messages) for ever: a client that names every request grew the data
 * directory by a reply per send, and a 1,000-recipient send-batch by a reply of ~200 kB.
 */
export class IdempotencyPurge {
  private readonly loop = new PollingLoop('idempotency key purge', INTERVAL_MS, () => this.purgeOnce());

  constructor(private readonly commits: GroupCommit) {}

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One batch; returns how many keys went (0: none past the window). */
  async purgeOnce(now = Date.now()): Promise<number> {
    return purgeExpiredResponses(this.commits, now, KEYS_PER_TRANSACTION);
  }
}
