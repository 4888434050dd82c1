import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CircuitBreaker } from '../domain/circuit-breaker.js';
import { processLog } from '../logging.js';


interface CircuitNews {
  provider: string;
  state: 'open' | 'closed';
  openedAt?: number;
  /** The announcing process, which already knows. */
  origin: string;
}

/**
 * Every process's circuit breakers kept in step through Redis (with REDIS_URL): a provider that
 * one worker finds down is gone around by all of them within milliseconds, rather than each
 * worker spending its own `CIRCUIT_FAILURE_THRESHOLD` messages to find out, and the cool-down ends
 * everywhere at once. An opening is a Redis key that expires with the cool-down (read by a process
 * that starts or reconnects later) and a pub/sub message; a probe that gets through closes every
 * process's circuit. Each process still counts its own consecutive failures and, after the
 * cool-down, sends its own single probe: N workers probe a recovering provider with at most N
 * messages, each of which is a real message it would have sent anyway.
 *
 * Without Redis, or while it is away, each process's breakers decide alone, as on one machine:
 * nothing is lost, a dead provider is only found out once per process.
 */
export class SharedCircuits {
  private readonly subscriber: Redis;
  private readonly origin = randomUUID();
  private readonly channel: string;

  /** `publisher`: the process's command connection (SharedCounters'); subscribing needs a connection of its own. */
  constructor(
    private readonly publisher: Redis,
    private readonly breakers: ReadonlyMap<string, CircuitBreaker>,
    private readonly coolDownMs: number,
    private readonly prefix = 'smsgw:',
  ) {
    this.channel = `${prefix}circuits`;
    this.subscriber = publisher.duplicate({ enableOfflineQueue: true });
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, text: string) => this.receive(text));
    // On every (re)connection of the listener: openings announced while this process was away are still in their keys.
    this.subscriber.on('ready', () => void this.catchUp());
    this.subscriber.subscribe(this.channel).catch(() => undefined);
  }

  /** Tells the other processes of a change this process's own counts made. */
  announce(provider: string, to: 'open' | 'closed', openedAt: number): void {
    const news: CircuitNews = { provider, state: to, origin: this.origin, ...(to === 'open' ? { openedAt } : {}) };
    const change = to === 'open'
      ? this.publisher.set(this.key(provider), String(openedAt), 'PX', Math.max(1, this.coolDownMs))
      : this.publisher.del(this.key(provider));
    change.then(() => this.publisher.publish(this.channel, JSON.stringify(news)))
      // Redis away: this process's breaker still holds; the others find out on their own.
      .catch(() => undefined);
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
  }

  private key(provider: string): string {
    return `${this.prefix}circuit:${provider}`;
  }

  private receive(text: string): void {
    let news: CircuitNews;
    try {
      news = JSON.parse(text) as CircuitNews;
    } catch {
      return;
    }
    if (news.origin === this.origin) return;
    const breaker = this.breakers.get(news.provider);
    if (!breaker) return;
    if (news.state === 'open' && typeof news.openedAt === 'number') breaker.openedElsewhere(news.openedAt, Date.now());
    else if (news.state === 'closed') breaker.closedElsewhere(Date.now());
  }

  private async catchUp(): Promise<void> {
    const providers = [...this.breakers.keys()];
    if (providers.length === 0) return;
    try {
      const openedAt = await this.publisher.mget(providers.map((p) => this.key(p)));
      openedAt.forEach((value, i) => {
        if (value !== null && Number.isFinite(Number(value))) this.breakers.get(providers[i])!.openedElsewhere(Number(value), Date.now());
      });
    } catch (err) {
      processLog.warn(`could not read the shared circuit states: ${(err as Error).message}`);
    }
  }
}
