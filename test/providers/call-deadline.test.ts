import { describe, expect, it } from 'vitest';
import { callDeadline } from '../../src/providers/call-deadline.js';

describe('callDeadline', () => {
  it('aborts after its time with a TimeoutError, as AbortSignal.timeout does', async () => {
    const { signal } = callDeadline(20);
    expect(signal.aborted).toBe(false);
    const reason = await new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)));
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe('TimeoutError');
    // What fetch rejects with when its signal aborts: the dispatcher and http-outcome.ts read the name as PROVIDER_TIMEOUT.
    const refused = await fetch('http://127.0.0.1:9/', { signal }).catch((err: Error) => err);
    expect((refused as Error).name).toBe('TimeoutError');
  });

  it('never aborts once cleared', async () => {
    const { signal, clear } = callDeadline(20);
    clear();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(signal.aborted).toBe(false);
  });
});
