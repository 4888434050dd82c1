import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { processLog } from '../logging.js';
import { memoryCounters, type CounterFactory } from './sliding-window.js';

/**
 * Where the counters behind API limits and per-number caps live. With REDIS_URL they are shared
 * by every process through Redis; when Redis cannot be reached each process falls back to its
 * own in-memory counters (rate-limiter-flexible's insurance limiter) — each then enforces the
 * whole limit alone, so N processes may let up to N times it through until Redis is back. That is
 * logged, shown in /ready and /metrics, and needs no repair: Redis keeps nothing worth keeping
 * (a restart only forgets recent counts, which makes limits briefly lenient, never stricter).
 */
export class SharedCounters {
  readonly factory: CounterFactory;
  /** The command connection, with REDIS_URL: the other shared state (circuits, pumping counts) uses it too. */
  readonly redis: Redis | undefined;
  private up = true;

  constructor(redisUrl: string | undefined, private readonly prefix = 'smsgw:') {
    if (!redisUrl) {
      this.factory = memoryCounters;
      return;
    }
    const redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
    this.redis = redis;
    redis.on('error', () => this.mark(false));
    redis.on('ready', () => this.mark(true));
    this.factory = ({ keyPrefix, points, durationSeconds }) => {
      const limiter = new RateLimiterRedis({
        storeClient: redis, keyPrefix: `${prefix}${keyPrefix}`, points, duration: durationSeconds,
        insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration: durationSeconds }),
      });
      // The library keeps a key's count as an integer string under getKey(key); absent once expired.
      const readMany = async (keys: string[]): Promise<number[]> => {
        try {
          const values = await redis.mget(keys.map((k) => limiter.getKey(k)));
          return values.map((v) => Math.max(0, Number(v ?? 0) || 0));
        } catch {
          // Redis away: the library's own reads answer from its insurance limiter.
          return Promise.all(keys.map(async (k) => Math.max(0, (await limiter.get(k))?.consumedPoints ?? 0)));
        }
      };
      return Object.assign(limiter, { readMany });
    };
  }

  /**
   * Resolves once Redis answers, or has failed to (an error, or `ms` passed): until then commands
   * fail at once (no offline queue) and every process would count alone, as while Redis is away.
   */
  async connected(ms = 2000): Promise<void> {
    const redis = this.redis;
    if (!redis || redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        redis.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      redis.on('ready', done);
      redis.on('error', done);
    });
  }

  /**
   * Starts (or pushes out) a pause every process sees: `pauseLeft(key)` answers until `ms` have
   * passed. Does nothing without Redis or when it cannot be reached.
   */
  async pause(key: string, ms: number): Promise<void> {
    try {
      await this.redis?.set(`${this.prefix}pause:${key}`, '1', 'PX', Math.max(1, Math.ceil(ms)));
    } catch {
      // Redis away: the caller's own pause still holds in this process.
    }
  }

  /** Milliseconds left of the pause `key` (0 when none); undefined without Redis or when it cannot say. */
  async pauseLeft(key: string): Promise<number | undefined> {
    if (!this.redis) return undefined;
    try {
      return Math.max(0, await this.redis.pttl(`${this.prefix}pause:${key}`));
    } catch {
      return undefined;
    }
  }

  /** `off` without REDIS_URL; else whether Redis answers. */
  status(): 'off' | 'ok' | 'unavailable' {
    if (!this.redis) return 'off';
    return this.up && this.redis.status === 'ready' ? 'ok' : 'unavailable';
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
  }

  private mark(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    if (up) processLog.warn('Redis is back: limits are shared between processes again');
    else processLog.warn('Redis is unavailable: each process now enforces limits with its own counters until it is back');
  }
}
