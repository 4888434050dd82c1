import { describe, expect, it } from 'vitest';
import { WriteTurn, WriteTurnTimeoutError } from '../../src/store/write-turn.js';

/** The two parties of one buffer, as the API thread and the dispatch thread hold them. */
function parties(waitLimitMs = 5000) {
  const main = WriteTurn.create();
  return { main, thread: new WriteTurn(main.buffer, 2, waitLimitMs), mainWithLimit: new WriteTurn(main.buffer, 1, waitLimitMs) };
}

const settled = async (p: Promise<unknown>) => {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setTimeout(r, 30));
  return done;
};

describe('WriteTurn', () => {
  it('lets one party write at a time and hands the turn to the one waiting', async () => {
    const { main, thread } = parties();
    const order: string[] = [];
    await main.acquire();
    const threadTurn = thread.acquire().then(() => order.push('thread'));
    expect(await settled(threadTurn)).toBe(false);
    main.release();
    await threadTurn;
    // Handed over: the main thread now waits for the thread, even though it asks right away.
    const mainAgain = main.acquire().then(() => order.push('main'));
    expect(await settled(mainAgain)).toBe(false);
    thread.release();
    await mainAgain;
    main.release();
    expect(order).toEqual(['thread', 'main']);
  });

  it('picks up a handed-over turn in the next microtasks when asked, not only when the wake-up task runs', async () => {
    const { main, thread } = parties();
    await thread.acquire();
    let acquired = false;
    const waiting = main.acquire().then(() => { acquired = true; });
    await new Promise((r) => setTimeout(r, 5));
    const microtasks = async () => { for (let i = 0; i < 20; i++) await Promise.resolve(); };
    // Not handed over yet: asking changes nothing.
    main.pickUp();
    await microtasks();
    expect(acquired).toBe(false);
    thread.release();
    // Handed over, but its wake-up is a task: microtasks alone do not deliver it...
    await microtasks();
    expect(acquired).toBe(false);
    // ...asking does.
    main.pickUp();
    await microtasks();
    expect(acquired).toBe(true);
    await waiting;
    main.release();
  });

  it('does not let one party keep the turn while the other waits', async () => {
    const { main, thread } = parties();
    const turns: string[] = [];
    let holder: string | undefined;
    let overlaps = 0;
    const loop = async (turn: WriteTurn, name: string) => {
      for (let i = 0; i < 5; i++) {
        await turn.acquire();
        if (holder !== undefined) overlaps++;
        holder = name;
        turns.push(name);
        await new Promise((r) => setTimeout(r, 2));
        holder = undefined;
        // Asks again at once: a plain lock would go back to the one releasing it.
        turn.release();
      }
    };
    await Promise.all([loop(main, 'main'), loop(thread, 'thread')]);
    expect(overlaps).toBe(0);
    for (let i = 1; i < turns.length; i++) expect(turns[i]).not.toBe(turns[i - 1]);
  });

  it('gives up after its wait limit, and a party that died holding the turn releases it through releaseAbandoned', async () => {
    const { thread, mainWithLimit } = parties(100);
    await thread.acquire();
    await expect(mainWithLimit.acquire()).rejects.toBeInstanceOf(WriteTurnTimeoutError);
    const waiting = mainWithLimit.acquire();
    WriteTurn.releaseAbandoned(thread.buffer, 2);
    await waiting;
    mainWithLimit.release();
    // Free again: either party gets it at once.
    expect(await settled(thread.acquire())).toBe(true);
    thread.release();
  });

  it('a party that died waiting is not handed the turn', async () => {
    const { main, thread } = parties(100);
    await main.acquire();
    // The thread starts waiting, then dies: its wait is never resolved by anyone.
    void thread.acquire().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 10));
    WriteTurn.releaseAbandoned(thread.buffer, 2);
    main.release();
    expect(await settled(main.acquire())).toBe(true);
    main.release();
  });

  it('works across threads: the turn is never held by a worker thread and this one at once', async () => {
    const { Worker } = await import('node:worker_threads');
    const main = WriteTurn.create();
    // [who holds the turn (0: nobody, 1: this thread, 2: the worker), overlaps the worker saw, the worker's turns]
    // [3]: set to start both loops together.
    const log = new Int32Array(new SharedArrayBuffer(16));
    const worker = new Worker(new URL('./fixtures/write-turn-worker.mjs', import.meta.url), { workerData: { turn: main.buffer, log: log.buffer } });
    const messages: string[] = [];
    const done = new Promise((resolve, reject) => {
      worker.on('message', (m: string) => (messages.push(m), m === 'done' && resolve(m)));
      worker.once('error', reject);
    });
    while (!messages.includes('ready')) await new Promise((r) => setTimeout(r, 5));
    Atomics.store(log, 3, 1);
    Atomics.notify(log, 3);
    let overlaps = 0;
    for (let i = 0; i < 200; i++) {
      await main.acquire();
      if (Atomics.exchange(log, 0, 1) !== 0) overlaps++;
      for (const end = performance.now() + 0.2; performance.now() < end;);
      Atomics.store(log, 0, 0);
      main.release();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    await worker.terminate();
    expect(overlaps + Atomics.load(log, 1)).toBe(0);
    expect(Atomics.load(log, 2)).toBe(200);
  });
});
