import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';

type LogArgs = Parameters<FastifyBaseLogger['info']>;

/**
 * `request.log`, whose pino child is made only when a line is written at an enabled level. Fastify
 * makes a child per request, and with the redaction of logging.ts that cost 1.3 µs and 3.5 KB of
 * garbage on every call (bench/RESULTS.md, thirteenth pass), though with request logging off (the
 * default) a request logs only when it fails. Only the methods of `FastifyBaseLogger` are here.
 */
export class RequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(private readonly parent: FastifyBaseLogger, private readonly bindings: Bindings, private readonly options: ChildLoggerOptions) {}

  private get logger(): FastifyBaseLogger {
    return this.made ??= this.parent.child(this.bindings, this.options);
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  /** Whether a line at `level` would be written: before the child exists, by the level it would get. */
  private writes(level: string): boolean {
    if (this.made) return true;
    const values = (this.parent as Partial<Logger>).levels?.values;
    if (!values) return true;
    const threshold = values[this.level];
    return threshold !== undefined && values[level] >= threshold;
  }

  fatal(...args: LogArgs): void {
    if (this.writes('fatal')) this.logger.fatal(...args);
  }

  error(...args: LogArgs): void {
    if (this.writes('error')) this.logger.error(...args);
  }

  warn(...args: LogArgs): void {
    if (this.writes('warn')) this.logger.warn(...args);
  }

  info(...args: LogArgs): void {
    if (this.writes('info')) this.logger.info(...args);
  }

  debug(...args: LogArgs): void {
    if (this.writes('debug')) this.logger.debug(...args);
  }

  trace(...args: LogArgs): void {
    if (this.writes('trace')) this.logger.trace(...args);
  }

  silent(..._args: LogArgs): void {
    // Writes nothing, as pino's own.
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

export function requestLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(parent, bindings, options);
}
