import type { Redis } from 'ioredis';
import type { BucketCounts, PumpingCount, PumpingGuard } from '../domain/pumping-guard.js';

/** How often every process's counts are read back into this process's guard. */
const REFRESH_MS = 1000;

/**
 * The pumping guard's per-country counts of generated and verified codes, shared by every API
 * process through Redis (with REDIS_URL): two processes each seeing half an attack would each
 * judge too few codes to act. Each code counted here is added to a Redis hash per bucket of the
 * guard's window (expiring with it); once a second the window's buckets are read back into this
 * process's guard, which then decides from everyone's counts (up to a second late, which for a
 * judgement over minutes does not matter). Throttle decisions stay each process's, made from the
 * same figures.
 *
 * Without Redis, or while it is away, each process judges its own counts, as on one machine; a
 * Redis restart forgets the window, so the guard starts counting afresh (lenient for one window).
 */
export class SharedPumpingCounts {
  private guard: PumpingGuard | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** `redis`: the process's command connection (SharedCounters'), which its owner closes. */
  constructor(private readonly redis: Redis, private readonly prefix = 'smsgw:') {}

  /** Passes one code this process counted on to the others. */
  readonly record = (count: PumpingCount): void => {
    const guard = this.guard;
    if (!guard || this.redis.status !== 'ready') return;
    const key = this.key(count.bucketStart);
    this.redis.multi()
      .hincrby(key, `${count.country}|${count.kind === 'generated' ? 'g' : 'v'}`, 1)
      .pexpire(key, guard.rules.windowMs + guard.bucketMs)
      .exec().catch(() => undefined);
  };

  /** The guard whose codes this passes on, and (once `follow` is called) reads everyone's counts into. */
  attach(guard: PumpingGuard): void {
    this.guard = guard;
  }

  /**
   * Starts reading everyone's counts back, once a second. Only a process that judges codes needs them:
   * the API process calls this (createGateway); a worker process or the dispatch thread never does,
   * and so reads nothing from Redis for a guard it never consults.
   */
  follow(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  /** Reads the window's buckets from Redis into the guard; does nothing while Redis is away. */
  async refresh(now = Date.now()): Promise<void> {
    const guard = this.guard;
    if (!guard || this.redis.status !== 'ready') return;
    const first = Math.floor((now - guard.rules.windowMs) / guard.bucketMs) * guard.bucketMs;
    const starts: number[] = [];
    for (let start = first; start <= now; start += guard.bucketMs) starts.push(start);
    let hashes: Array<[Error | null, unknown]> | null;
    try {
      const pipeline = this.redis.pipeline();
      for (const start of starts) pipeline.hgetall(this.key(start));
      hashes = await pipeline.exec();
    } catch {
      return;
    }
    if (!hashes || hashes.some(([err]) => err)) return;
    const buckets = new Map<string, BucketCounts>();
    hashes.forEach(([, hash], i) => {
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const cut = field.lastIndexOf('|');
        const country = field.slice(0, cut);
        const id = `${country}@${starts[i]}`;
        const bucket = buckets.get(id) ?? { country, start: starts[i], generated: 0, verified: 0 };
        if (field.slice(cut + 1) === 'g') bucket.generated = Number(value);
        else bucket.verified = Number(value);
        buckets.set(id, bucket);
      }
    });
    guard.replaceCounts([...buckets.values()], Date.now());
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  private key(bucketStart: number): string {
    return `${this.prefix}pumping:${bucketStart}`;
  }
}
