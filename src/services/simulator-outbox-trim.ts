import type { Kysely } from 'kysely';
import type { GroupCommit } from '../store/group-commit.js';
import type { Database } from '../store/schema.js';
import { trimOutbox } from '../store/simulator-outbox-store.js';
import { PollingLoop } from './polling-loop.js';

/** Entries deleted per transaction: short, so sends waiting for the write lock wait only milliseconds. */
const ENTRIES_PER_TRANSACTION = 1_000;
/** How often to look once nothing is left to trim. */
const INTERVAL_MS = 5_000;

/**
 * SIMULATOR_OUTBOX_KEEP: the simulated phones keep their newest entries, not every message ever
 * sent to them. A load test through the simulator otherwise grew the data directory by ~370 bytes a
 * message (bench/RESULTS.md). Retention (MESSAGE_RETENTION_DAYS) still deletes entries with their
 * messages, whatever this keeps.
 */
export class SimulatorOutboxTrim {
  private readonly loop = new PollingLoop('simulator outbox trim', INTERVAL_MS, () => this.trimOnce());

  constructor(private readonly db: Kysely<Database>, private readonly commits: GroupCommit, private readonly keep: number) {}

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One batch; returns how many entries went (0: none beyond what the outbox keeps, or none it may let go). */
  async trimOnce(): Promise<number> {
    return trimOutbox(this.db, this.commits, this.keep, ENTRIES_PER_TRANSACTION);
  }
}
