/**
 * A signal that aborts a provider call after `ms`, as `AbortSignal.timeout(ms)` does (its reason a
 * DOMException named TimeoutError, which the HTTP clients and the dispatcher read as PROVIDER_TIMEOUT),
 * but whose timer `clear` ends once the call is over. AbortSignal.timeout's timer stays until it fires or
 * the signal is collected, through a FinalizationRegistry: ~16 µs of CPU a signal at thousands of sends a
 * second, against under 1 µs for this (bench/RESULTS.md, fourteenth pass).
 */
export function callDeadline(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
  // As AbortSignal.timeout's: a call in flight keeps the process up by its own I/O, not by its deadline.
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
