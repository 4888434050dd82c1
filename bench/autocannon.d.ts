declare module 'autocannon' {
  namespace autocannon {
    interface Histogram { average: number; mean: number; p50: number; p90: number; p99: number; max: number }
    interface Result { requests: Histogram; latency: Histogram; throughput: Histogram; errors: number; timeouts: number; non2xx: number; '2xx': number }
    interface Instance { on(event: 'response', listener: (...args: unknown[]) => void): Instance }
  }
  function autocannon(options: Record<string, unknown>): Promise<autocannon.Result>;
  function autocannon(options: Record<string, unknown>, done: (err: Error | null, result: autocannon.Result) => void): autocannon.Instance;
  export default autocannon;
}
