/**
 * What may never reach a log line, whatever the level: a full phone number, a message body,
 * an OTP code, an API key or a credential header. Everything that logs goes through here:
 * Fastify's pino logger (`loggerOptions`) and the plain console output of the processes
 * (`processLog`).
 */

import { inspect } from 'node:util';
import type { FastifyServerOptions } from 'fastify';

type LoggerOptions = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>;
/** Where log lines are written (default stdout). */
export type LogStream = NonNullable<LoggerOptions['stream']>;

/**
 * `+14155552671`, `%2B14155552671` (a number in a URL), `+1 (415) 555-2671`, and any bare run
 * of 7 or more digits (a national number, an E.164 number without its `+`). A bare run must not
 * follow a letter or `_`, so the digits inside ids such as `msg_01j5…` stay readable.
 */
const PHONE_NUMBER = /(?:\+|%2[Bb])\d(?:[ ().-]{0,2}\d){6,}(?!\d)|(?<![\p{L}\p{N}_])\d{7,}(?!\d)/gu;
/** The gateway's own API keys (`sgw_` + 43 base64url characters). */
const API_KEY = /sgw_[A-Za-z0-9_-]{4,}/g;
/** A credential pasted into a message: `Bearer …`, `Basic …`. */
const CREDENTIAL = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}/gi;

/** `+14155552671` -> `+*******2671`: every digit but the last four becomes `*` (a `%2B` prefix stays). */
function maskDigits(match: string): string {
  const prefix = match.startsWith('%') ? match.slice(0, 3) : '';
  let keep = 4;
  let out = '';
  for (let i = match.length - 1; i >= prefix.length; i--) {
    const c = match[i];
    if (c >= '0' && c <= '9') out = (keep-- > 0 ? c : '*') + out;
    else out = c + out;
  }
  return prefix + out;
}

/** Masks phone numbers to their last four digits and removes API keys and credentials from free text. */
export function maskText(text: string): string {
  return text.replace(PHONE_NUMBER, maskDigits).replace(API_KEY, 'sgw_[redacted]').replace(CREDENTIAL, '$1 [redacted]');
}

/** Just the number masking, for values that are known to be phone numbers (an opt-out's id). */
export function maskPhoneNumbers(text: string): string {
  return text.replace(PHONE_NUMBER, maskDigits);
}

/**
 * Fields whose values are never logged, at any depth: bodies and texts (an SMS text may hold an
 * OTP code), codes, keys, secrets and credential headers. Compared in lower case.
 */
const SECRET_FIELDS = new Set([
  'authorization', 'proxy-authorization', 'x-api-key', 'cookie', 'set-cookie', 'x-webhook-signature', 'x-twilio-signature',
  'body', 'rawbody', 'raw_body', 'payload', 'message', 'text', 'content', 'custom_message', 'template_variables', 'variables',
  'otp', 'otp_code', 'code', 'key', 'api_key', 'apikey', 'key_hash', 'secret', 'password', 'token', 'auth_token', 'signature',
]);
const ERROR_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const REDACTED = '[Redacted]';
/** Fields pino serializes itself (with the serializers below): passed through untouched. */
const SERIALIZED_FIELDS = new Set(['req', 'res', 'err']);

const MAX_DEPTH = 6;
const MAX_ITEMS = 50;

interface ScrubbedError {
  type: string;
  message: string;
  stack: string;
  [field: string]: unknown;
}

/** An error (or what a library passed off as one) with its message and stack masked, its other fields scrubbed. */
function scrubError(err: object, depth: number, seen: WeakSet<object>): ScrubbedError {
  const e = err as { message?: unknown; stack?: unknown; cause?: unknown };
  const out: ScrubbedError = {
    type: err instanceof Error ? err.constructor?.name ?? 'Error' : 'Error',
    message: maskText(String(e.message ?? '')),
    stack: maskText(String(e.stack ?? '')),
  };
  for (const [name, value] of Object.entries(err)) {
    if (name === 'message' || name === 'stack' || name === 'cause') continue;
    // An error's own code (`ECONNRESET`) is kept; anything else in the field could be an OTP code.
    if (name === 'code') out.code = typeof value === 'string' && ERROR_CODE.test(value) ? value : typeof value === 'number' ? value : REDACTED;
    else out[name] = SECRET_FIELDS.has(name.toLowerCase()) ? REDACTED : scrub(value, depth + 1, seen);
  }
  if (e.cause !== undefined) out.cause = scrub(e.cause, depth + 1, seen);
  return out;
}

/**
 * A copy of a value fit for a log line: strings masked, secret fields replaced, errors made
 * plain objects (masked message and stack), buffers and class instances (a request, a socket,
 * whose JSON form could carry a body) reduced to their size or class name.
 */
export function scrub(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return maskText(value);
  if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  if (depth > MAX_DEPTH) return '[Depth]';
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (value instanceof Error) return scrubError(value, depth, seen);
  if (value instanceof Date) return value;
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => scrub(v, depth + 1, seen));
    if (value.length > MAX_ITEMS) items.push(`[${value.length - MAX_ITEMS} more]`);
    return items;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return `[${(value as object).constructor?.name ?? 'object'}]`;
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) out[name] = SECRET_FIELDS.has(name.toLowerCase()) ? REDACTED : scrub(v, depth + 1, seen);
  return out;
}

/** The merge object of a log call: its own serialized fields (req, res, err) are left to the serializers. */
function scrubMergeObject(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    out[name] = SERIALIZED_FIELDS.has(name) ? v : SECRET_FIELDS.has(name.toLowerCase()) ? REDACTED : scrub(v, 1);
  }
  return out;
}

/** A JSON string literal, escapes included. */
const JSON_STRING = /"(?:[^"\\]|\\.)*"/g;
const NEEDS_MASK = /\d{4}|sgw_|bearer|basic/i;

/**
 * The last line of defence, on the finished JSON line: masks inside every string (the message,
 * bindings, serializer output, stack traces), never the numbers pino writes itself (`time`, `pid`).
 */
export function maskLogLine(line: string): string {
  if (!NEEDS_MASK.test(line)) return line;
  return line.replace(JSON_STRING, (literal) => {
    if (!NEEDS_MASK.test(literal)) return literal;
    // Escapes (`\n12345678`) would hide a number's start from the pattern: mask the decoded text.
    if (literal.includes('\\')) return JSON.stringify(maskText(JSON.parse(literal) as string));
    return maskText(literal);
  });
}

/**
 * pino's `redact` for credential headers wherever a request's headers are logged. The `*.headers`
 * paths cost ~1.2 µs per child logger (pino runs them on its bindings; a request makes its child only
 * when it logs, see http/request-logger.ts) and are kept: `logMethod` never sees a child's bindings,
 * and pino applies a `formatters.bindings` to the root logger only, so they are what scrubs headers
 * bound to a child.
 */
const REDACT_PATHS = ['authorization', 'x-api-key', 'cookie', 'set-cookie', 'proxy-authorization'].flatMap((h) => [
  `req.headers["${h}"]`, `headers["${h}"]`, `request.headers["${h}"]`, `*.headers["${h}"]`,
]);

/** At debug and trace an operator asks for every request; below, per-request lines would cost more than the request. */
export function logsRequests(level: string): boolean {
  return level === 'debug' || level === 'trace';
}

/**
 * Fastify's logger: credential headers redacted, every argument of every log call scrubbed
 * (`scrub`), requests serialized without headers or body, and each finished line masked again
 * (`maskLogLine`).
 */
export function loggerOptions(level: string, stream?: LogStream): LoggerOptions {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: {
      // Never headers or body; the URL may hold a number (`/api/opt-outs/%2B1…`), masked.
      req: (req: { method?: string; url?: string; ip?: string; socket?: { remotePort?: number } }) => ({
        method: req.method,
        url: req.url === undefined ? undefined : maskText(req.url),
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: (err: Error) => (err !== null && typeof err === 'object' ? scrubError(err, 0, new WeakSet()) : { type: 'Error', message: maskText(String(err)), stack: '' }),
    },
    hooks: {
      logMethod(args: unknown[], method: (...a: unknown[]) => void) {
        const [first, ...rest] = args;
        if (first instanceof Error) {
          // pino would take the message from the error: take it masked instead.
          const message = typeof rest[0] === 'string' ? rest.shift() as string : first.message;
          return method.apply(this, [{ err: first }, maskText(String(message)), ...rest.map((a) => scrub(a))]);
        }
        let head: unknown;
        if (first === null || typeof first !== 'object') head = scrub(first);
        else if (Object.getPrototypeOf(first) === Object.prototype) head = scrubMergeObject(first as Record<string, unknown>);
        else {
          // Still a merge object, never taken for the message: a class instance becomes its name.
          const scrubbed = scrub(first);
          head = typeof scrubbed === 'object' ? scrubbed : { value: scrubbed };
        }
        return method.apply(this, [head, ...rest.map((a) => scrub(a))]);
      },
      streamWrite: maskLogLine,
    },
  };
}

/** An error as text for the console: scrubbed (masked, secret fields removed), with its stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const { stack, message, type, ...rest } = scrubError(err, 0, new WeakSet());
    const extra = Object.keys(rest).length > 0 ? ` ${inspect(rest, { depth: 4, breakLength: Infinity })}` : '';
    return `${stack || `${type}: ${message}`}${extra}`;
  }
  return maskLogLine(JSON.stringify(scrub(err)) ?? String(err));
}

/**
 * The console output of the processes (worker loops, start and stop, circuit changes), masked
 * like the HTTP logger's lines.
 */
export const processLog = {
  info(message: string): void {
    console.log(maskText(message));
  },
  warn(message: string): void {
    console.warn(maskText(message));
  },
  error(message: string, err?: unknown): void {
    if (err === undefined) console.error(maskText(message));
    else console.error(maskText(message), describeError(err));
  },
};
