import { describe, expect, it } from 'vitest';
import { PollingLoop } from '../../src/services/polling-loop.js';

describe('PollingLoop', () => {
  it('while its step finds work, lets the event loop turn between steps', async () => {
    let steps = 0;
    let seenAfter: number | undefined;
    // A step that never leaves the microtask queue: without a turn between steps, nothing else would run until the work is done.
    const loop = new PollingLoop('test', 60_000, async () => (++steps <= 5 ? 1 : 0));
    setImmediate(() => { seenAfter = steps; });
    loop.start();
    await new Promise((r) => setTimeout(r, 20));
    await loop.stop();
    expect(steps).toBe(6);
    expect(seenAfter).toBeLessThan(5);
  });

  it('waits its interval when a step found nothing, and a nudge runs it at once', async () => {
    let steps = 0;
    const loop = new PollingLoop('test', 60_000, async () => { steps++; return 0; });
    loop.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(steps).toBe(1);
    loop.nudge();
    await new Promise((r) => setTimeout(r, 20));
    expect(steps).toBe(2);
    await loop.stop();
  });
});
