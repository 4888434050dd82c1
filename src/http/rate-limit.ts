import type { FastifyInstance } from 'fastify';
import type { RateLimits } from '../config.js';
import type { Caller } from '../domain/api-keys.js';
import { RateLimitedError } from '../domain/errors.js';
import { memoryCounters, SlidingWindow, type CounterFactory } from '../services/sliding-window.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route outside `/api` that is an API call all the same (the Twilio-compatible API): limited like one. */
    apiCall?: boolean;
  }
}

export interface ApiVerdict {
  allowed: boolean;
  /** Of the window that binds: the one with the fewest places left, or when refused, the one to wait longest for. */
  limit: number;
  per: 'second' | 'minute' | 'hour';
  remaining: number;
  /** Seconds until the binding window admits another call (when refused), or until its oldest call leaves it. */
  resetSeconds: number;
}

/**
 * RATE_LIMIT_PER_SECOND/_PER_MINUTE/_PER_HOUR as sliding windows (see SlidingWindow): a call
 * counts in all three or, when any is full, in none, so a refused call costs no later one.
 */
export class ApiRateLimiter {
  private readonly windows: SlidingWindow[];
  private readonly names = ['second', 'minute', 'hour'] as const;

  constructor(limits: RateLimits, counters: CounterFactory = memoryCounters) {
    this.windows = [
      new SlidingWindow('api_second', limits.perSecond, 1000, counters),
      new SlidingWindow('api_minute', limits.perMinute, 60_000, counters),
      new SlidingWindow('api_hour', limits.perHour, 3_600_000, counters),
    ];
  }

  async hit(key: string, now: number): Promise<ApiVerdict> {
    const counts = await Promise.all(this.windows.map((w) => w.count(key, now)));
    const refused = counts.filter((c) => !c.allowed);
    if (refused.length > 0) {
      await Promise.all(counts.map((c, i) => this.windows[i].takeBack(c)));
      const longest = refused.reduce((a, b) => (b.resetMs > a.resetMs ? b : a));
      const i = counts.indexOf(longest);
      return { allowed: false, limit: this.windows[i].limit, per: this.names[i], remaining: 0, resetSeconds: seconds(longest.resetMs) };
    }
    // Ties go to the shortest window, the one a client meets first.
    const binding = counts.reduce((a, b) => (b.remaining < a.remaining ? b : a));
    const i = counts.indexOf(binding);
    return { allowed: true, limit: this.windows[i].limit, per: this.names[i], remaining: binding.remaining, resetSeconds: seconds(binding.resetMs) };
  }
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Limits every `/api` call per API key, or per client address for calls without one (keys off):
 * registered after authentication, so the key is known. Decided by the matched route, never the
 * raw URL: a request line in absolute form (`POST http://x/api/sms/send`) reaches the same route
 * and must meet the same limit. Provider delivery reports are never limited (a dropped one loses a
 * status); an unmatched `/api` path is, since it still costs a reply.
 */
export function limitApiCalls(app: FastifyInstance, limiter: ApiRateLimiter): void {
  // Callback-style, as every hook on the hot path: an async hook costs one more promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions;
    if (route.config?.providerWebhook || (route.url !== undefined && !route.url.startsWith('/api/') && !route.config?.apiCall)) return done();
    // `caller` is unset on routes that declare no scope.
    const keyId = (request.caller as Caller | null)?.keyId;
    limiter.hit(keyId ? `key:${keyId}` : `ip:${request.ip}`, Date.now()).then((verdict) => {
      reply.header('ratelimit-limit', verdict.limit).header('ratelimit-remaining', verdict.remaining).header('ratelimit-reset', verdict.resetSeconds);
      if (!verdict.allowed) return done(new RateLimitedError(`rate limit of ${verdict.limit} requests per ${verdict.per} exceeded; retry in ${verdict.resetSeconds} s`, verdict.resetSeconds));
      done();
    }, done);
  });
}
