const OWNER = 0;
const FREE = 0;
/** How long a turn is waited for before the write fails, as SQLite's own busy_timeout would. */
const WAIT_LIMIT_MS = 5000;

/** Index of a party's "I am waiting" flag. */
const waitingFlag = (party: WriteParty) => party;

/** Node 20 has it (V8 8.7+); TypeScript's lib declares it from es2024 only. */
const waitAsync = (Atomics as unknown as {
  waitAsync(cells: Int32Array, index: number, value: number, timeoutMs: number): { value: Promise<string> | string };
}).waitAsync;

/** The main thread is party 1, the dispatch thread party 2. */
export type WriteParty = 1 | 2;

export class WriteTurnTimeoutError extends Error {
  override readonly name = 'WriteTurnTimeoutError';
}

/**
 * Whose turn it is to write, between the two threads of one process that share a SQLite
 * database (the API's and the dispatch thread's). SQLite lets one connection write at a time;
 * a connection that finds the lock taken can only try again later, and polling on timers left
 * both threads idle while neither wrote. This hands the turn over instead: a thread that ends
 * its transaction gives the turn straight to the other one if it is waiting (so neither starves),
 * and the waiter is woken (`Atomics.waitAsync`, its event loop keeps serving meanwhile; the wake-up
 * waits behind the I/O that loop has ready, which `pickUp` shortens).
 * Other processes on the same file still meet SQLite's lock, which the group commit waits out.
 *
 * Layout of the shared Int32Array: [owner (0 = free, else the party), party 1 waiting, party 2 waiting].
 */
export class WriteTurn {
  private readonly cells: Int32Array;
  /** Ends the wait of a pending `acquire` early (see `pickUp`). */
  private wake: (() => void) | undefined;

  constructor(readonly buffer: SharedArrayBuffer, private readonly party: WriteParty, private readonly waitLimitMs = WAIT_LIMIT_MS) {
    this.cells = new Int32Array(buffer);
  }

  static create(): WriteTurn {
    return new WriteTurn(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT), 1);
  }

  /** Resolves once this thread may write; `release` must follow. */
  async acquire(): Promise<void> {
    const { cells, party } = this;
    if (Atomics.compareExchange(cells, OWNER, FREE, party) === FREE) return;
    Atomics.store(cells, waitingFlag(party), 1);
    const giveUpAt = Date.now() + this.waitLimitMs;
    try {
      for (;;) {
        const owner = Atomics.load(cells, OWNER);
        // Handed over by the other party, or found free.
        if (owner === party || (owner === FREE && Atomics.compareExchange(cells, OWNER, FREE, party) === FREE)) return;
        if (owner === FREE) continue;
        const left = giveUpAt - Date.now();
        if (left <= 0) {
          Atomics.store(cells, waitingFlag(party), 0);
          // Handed over while giving up: pass it on rather than keep it.
          if (Atomics.load(cells, OWNER) === party) WriteTurn.handOver(cells, party);
          throw new WriteTurnTimeoutError(`the other thread has held the database write turn for ${this.waitLimitMs} ms`);
        }
        // A pending waitAsync does not keep Node's event loop alive; the timer does, so the turn cannot be handed to a thread that has gone idle and ended.
        const alive = setTimeout(() => undefined, left);
        try {
          await Promise.race([waitAsync(cells, OWNER, owner, left).value, new Promise<void>((resolve) => { this.wake = resolve; })]);
        } finally {
          this.wake = undefined;
          clearTimeout(alive);
        }
      }
    } finally {
      Atomics.store(cells, waitingFlag(party), 0);
    }
  }

  /**
   * If the other thread has handed this one the turn, the waiting `acquire` goes on now. The handover's
   * own wake-up (Atomics.waitAsync) is a task the event loop runs only after the I/O it already has
   * ready, under load a run of requests: the turn sat unused ~0.6 ms per handover on the main thread,
   * 8 % of the time. Called between requests (GroupCommit takes each job), the wait ends in the next
   * microtask instead.
   */
  pickUp(): void {
    if (this.wake && Atomics.load(this.cells, OWNER) === this.party) this.wake();
  }

  /** Ends this thread's turn: to the other party if it waits, else free. */
  release(): void {
    WriteTurn.handOver(this.cells, this.party);
  }

  /**
   * The dispatch thread ended (or died): the turn must not stay with it, nor be handed to it later
   * because it died waiting. Called on the other party's thread, so no release of its own runs meanwhile.
   */
  static releaseAbandoned(buffer: SharedArrayBuffer, party: WriteParty): void {
    const cells = new Int32Array(buffer);
    Atomics.store(cells, waitingFlag(party), 0);
    if (Atomics.load(cells, OWNER) === party) WriteTurn.handOver(cells, party);
  }

  private static handOver(cells: Int32Array, party: WriteParty): void {
    const other: WriteParty = party === 1 ? 2 : 1;
    Atomics.store(cells, OWNER, Atomics.load(cells, waitingFlag(other)) === 1 ? other : FREE);
    Atomics.notify(cells, OWNER);
  }
}
