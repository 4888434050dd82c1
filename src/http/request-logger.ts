import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LogFn } from 'pino';

/**
 * `request.log`, made only when something is logged. Fastify makes a pino child per request, and
 * with the redaction of logging.ts that child cost ~3.5 KB of garbage and its CPU on every call,
 * though with request logging off (the default) a request logs only when it fails.
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

  readonly fatal: LogFn = (...args: Parameters<LogFn>) => this.logger.fatal(...args);
  readonly error: LogFn = (...args: Parameters<LogFn>) => this.logger.error(...args);
  readonly warn: LogFn = (...args: Parameters<LogFn>) => this.logger.warn(...args);
  readonly info: LogFn = (...args: Parameters<LogFn>) => this.logger.info(...args);
  readonly debug: LogFn = (...args: Parameters<LogFn>) => this.logger.debug(...args);
  readonly trace: LogFn = (...args: Parameters<LogFn>) => this.logger.trace(...args);
  readonly silent: LogFn = (...args: Parameters<LogFn>) => this.logger.silent(...args);

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

export function requestLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(parent, bindings, options);
}
