import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import pg from 'pg';
import { processLog } from '../logging.js';

/**
 * "There is new work": sent when messages are queued, heard by every dispatcher, so an idle
 * worker picks up a fresh OTP within milliseconds instead of at its next poll. Best effort by
 * design: a lost wake-up only costs the poll interval, since the database remains the queue.
 */
export interface WakeUps {
  notify(): void;
  subscribe(listener: () => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'sms_gateway_wake';
/** At most one wake-up per process per this many ms: under load the dispatcher is busy anyway. */
const COALESCE_MS = 5;

abstract class CoalescingWakeUps implements WakeUps {
  protected readonly local = new EventEmitter();
  /** A wake-up went out less than COALESCE_MS ago; `pending`: another is owed at the end of the spell. */
  private throttled = false;
  private pending = false;

  constructor() {
    this.local.setMaxListeners(0);
  }

  notify(): void {
    // This thread's loops hear it at once; others through the shared channel: the first wake-up
    // of a quiet spell goes out at once (an OTP to an idle system), the rest of a burst as one,
    // at the end of the spell.
    this.local.emit('wake');
    if (this.throttled) {
      this.pending = true;
      return;
    }
    this.publish();
    this.throttled = true;
    const endSpell = () => {
      if (!this.pending) {
        this.throttled = false;
        return;
      }
      this.pending = false;
      this.publish();
      setTimeout(endSpell, COALESCE_MS).unref();
    };
    setTimeout(endSpell, COALESCE_MS).unref();
  }

  subscribe(listener: () => void): () => void {
    this.local.on('wake', listener);
    return () => this.local.off('wake', listener);
  }

  protected abstract publish(): void;
  abstract close(): Promise<void>;
}

/**
 * One process: its threads (the API and the dispatch thread) hear each other through a
 * BroadcastChannel named after the database, so two gateways in one process (tests) do not.
 */
export class LocalWakeUps extends CoalescingWakeUps {
  private readonly channel: BroadcastChannel;

  constructor(databaseUrl: string) {
    super();
    this.channel = new BroadcastChannel(`sms-gateway-wake:${databaseUrl}`);
    this.channel.onmessage = () => this.local.emit('wake');
    // A wake-up channel must not keep a finished process alive.
    (this.channel as BroadcastChannel & { unref(): void }).unref();
  }

  private closed = false;

  protected publish(): void {
    // A wake-up owed at the end of a spell may come due after close.
    if (!this.closed) this.channel.postMessage(1);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.channel.close();
  }
}

/** PostgreSQL without Redis: LISTEN/NOTIFY on a connection of its own. */
export class PostgresWakeUps extends CoalescingWakeUps {
  private readonly listener: pg.Client;
  private readonly sender: pg.Pool;

  constructor(databaseUrl: string) {
    super();
    this.sender = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    this.listener = new pg.Client({ connectionString: databaseUrl });
    this.listener.on('notification', () => this.local.emit('wake'));
    this.listener.on('error', (err) => processLog.warn(`wake-up listener lost: ${err.message}; workers fall back to polling`));
    this.listener.connect().then(() => this.listener.query(`listen ${CHANNEL}`)).catch((err: Error) => {
      processLog.warn(`cannot LISTEN for wake-ups (${err.message}); workers fall back to polling`);
    });
  }

  protected publish(): void {
    this.sender.query(`notify ${CHANNEL}`).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.listener.end(), this.sender.end()]);
  }
}

/** Redis pub/sub: the shared channel when REDIS_URL is set. */
export class RedisWakeUps extends CoalescingWakeUps {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;

  constructor(redisUrl: string, prefix = 'smsgw:') {
    super();
    this.channel = `${prefix}wake`;
    const options = { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false };
    this.publisher = new Redis(redisUrl, options);
    this.subscriber = new Redis(redisUrl, { ...options, enableOfflineQueue: true });
    for (const client of [this.publisher, this.subscriber]) client.on('error', () => undefined);
    this.subscriber.subscribe(this.channel).catch(() => undefined);
    this.subscriber.on('message', () => this.local.emit('wake'));
  }

  protected publish(): void {
    this.publisher.publish(this.channel, '1').catch(() => undefined);
  }

  async close(): Promise<void> {
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }
}

export function createWakeUps(databaseUrl: string, redisUrl: string | undefined, redisPrefix?: string): WakeUps {
  if (redisUrl) return new RedisWakeUps(redisUrl, redisPrefix);
  if (databaseUrl.startsWith('postgres')) return new PostgresWakeUps(databaseUrl);
  return new LocalWakeUps(databaseUrl);
}
