import http from 'node:http';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/schema.js';
import { twilioApiOf } from '../../src/twilio-compat/errors.js';

/** A route as the running app knows it. `url` uses Fastify's `:param` syntax. */
export interface DiscoveredRoute {
  method: string;
  url: string;
  params: string[];
}

/**
 * Every route of the running app, read from `printRoutes` (which includes hidden routes, unlike
 * /openapi.json), so a route added later is fuzzed without touching the test. HEAD twins of GET
 * routes and the swagger UI's static assets under /docs are left out.
 */
export function discoverRoutes(app: FastifyInstance): DiscoveredRoute[] {
  const tree = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: DiscoveredRoute[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│   |    )*)(?:├── |└── )(.*)$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    const rest = m[2];
    const withMethods = /^(.*) \(([A-Z, ]+)\)$/.exec(rest);
    const segment = withMethods ? withMethods[1] : rest;
    stack.length = depth;
    stack.push(segment);
    if (!withMethods) continue;
    const url = stack.join('');
    if (url === '/docs' || url.startsWith('/docs/') || url.includes('*')) continue;
    for (const method of withMethods[2].split(',').map((s) => s.trim())) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      routes.push({ method, url, params: [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((p) => p[1]) });
    }
  }
  return routes;
}

/** Tables a request may write to. A rejected request (status >= 400) must leave every count unchanged. */
export const WRITE_TABLES = ['messages', 'batches', 'otp_sessions', 'templates', 'idempotency_keys', 'message_events', 'template_versions'] as const;

export type RowCounts = Record<(typeof WRITE_TABLES)[number], number>;

export async function countRows(db: Kysely<Database>): Promise<RowCounts> {
  const counts = {} as RowCounts;
  for (const table of WRITE_TABLES) {
    const row = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  return counts;
}

/** `{table: before -> after}` for each table whose count changed; empty when none did. */
export function rowChanges(before: RowCounts, after: RowCounts): string[] {
  return WRITE_TABLES.filter((t) => before[t] !== after[t]).map((t) => `${t}: ${before[t]} -> ${after[t]}`);
}

export interface PlainResponse {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/**
 * What is wrong with an error reply, or undefined when it is a proper problem document:
 * application/problem+json with `type`, `title`, `status` (equal to the HTTP status) and `detail`.
 */
export function problemDefect(res: PlainResponse): string | undefined {
  const type = String(res.headers['content-type'] ?? '');
  if (!type.toLowerCase().startsWith('application/problem+json')) return `content-type is ${JSON.stringify(type)}, not application/problem+json; body ${preview(res.body, 200)}`;
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `body is not JSON: ${preview(res.body, 200)}`;
  }
  const missing = ['type', 'title', 'detail'].filter((k) => typeof body?.[k] !== 'string');
  if (typeof body?.status !== 'number') missing.push('status');
  if (missing.length > 0) return `problem lacks ${missing.join(', ')}: ${preview(res.body, 200)}`;
  if (body.status !== res.status) return `problem status ${body.status} differs from HTTP status ${res.status}`;
  return undefined;
}

/** The Twilio-compatible API's paths (src/http/routes/twilio-*.ts), whose errors are Twilio's, not problems. */
export function isTwilioPath(url: string): boolean {
  return twilioApiOf(url) !== undefined;
}

/** What is wrong with a Twilio-compatible error reply: it must be JSON `{code, message, more_info, status}`, status equal to the HTTP one. */
export function twilioErrorDefect(res: PlainResponse): string | undefined {
  const type = String(res.headers['content-type'] ?? '');
  if (!type.toLowerCase().startsWith('application/json')) return `content-type is ${JSON.stringify(type)}, not application/json; body ${preview(res.body, 200)}`;
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `body is not JSON: ${preview(res.body, 200)}`;
  }
  if (typeof body?.code !== 'number' || typeof body?.message !== 'string' || typeof body?.more_info !== 'string') return `not a Twilio error: ${preview(res.body, 200)}`;
  if (body.status !== res.status) return `error status ${body.status} differs from HTTP status ${res.status}`;
  return undefined;
}

/** The defect of an error reply to `url`: a problem document, or on the Twilio-compatible API Twilio's error shape. */
export function errorDefect(url: string, res: PlainResponse): string | undefined {
  return isTwilioPath(url) ? twilioErrorDefect(res) : problemDefect(res);
}

export function preview(text: string | Buffer | undefined, max = 160): string {
  if (text === undefined) return '(none)';
  const s = typeof text === 'string' ? text : text.toString('latin1');
  const shown = s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
  return JSON.stringify(shown);
}

/** `{"a":{"a":…1…}}` nested `depth` objects deep, built as text: JSON.stringify would overflow the stack. */
export function deepObjectJson(depth: number, leaf = '1'): string {
  return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

export function deepArrayJson(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

export interface HttpRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  agent?: http.Agent;
}

export interface TimedResponse extends PlainResponse {
  ms: number;
}

/** One request over real HTTP; rejects on a timeout rather than hanging the test. */
export function httpRequest(port: number, req: HttpRequest): Promise<TimedResponse> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
    const r = http.request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent: req.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
      res.on('error', reject);
    });
    r.setTimeout(req.timeoutMs ?? 10_000, () => r.destroy(new Error(`no reply to ${req.method} ${req.path.slice(0, 80)} within ${req.timeoutMs ?? 10_000} ms`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Parses one HTTP/1.1 response from raw bytes; undefined until it is complete. */
export function parseResponse(data: Buffer, complete = false): PlainResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let rest = data.subarray(headEnd + 4);
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      if (eol < 0) return complete ? { status, headers, body: Buffer.concat(parts).toString('utf8') } : undefined;
      const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(parts).toString('utf8') };
      if (rest.length < eol + 2 + size + 2) return complete ? { status, headers, body: Buffer.concat(parts).toString('utf8') } : undefined;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      rest = rest.subarray(eol + 2 + size + 2);
    }
  }
  const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
  if (length !== undefined && rest.length >= length) return { status, headers, body: rest.subarray(0, length).toString('utf8') };
  return complete ? { status, headers, body: rest.toString('utf8') } : undefined;
}

/**
 * Sends a request over a raw socket and reads the reply from whatever bytes arrive, so a server
 * that answers early and closes (a 413 before the body is read) is seen answering, not as EPIPE.
 * The body is written in `chunkBytes` pieces (pausing `pauseMs` between them) until `sendBytes`
 * have gone or the reply has come; `declaredBytes` goes in Content-Length (else the body is chunked
 * when `chunked`, or sized to what is sent). `bytesSent` tells how much had been sent when the
 * reply was complete.
 */
export function rawRequest(port: number, opts: {
  method: string; path: string; headers?: Record<string, string>; body?: Buffer; chunked?: boolean; declaredBytes?: number;
  sendBytes?: number; chunkBytes?: number; pauseMs?: number; timeoutMs?: number;
  /** Leave a chunked body unfinished: a reply then proves the server did not wait for the end. */
  leaveOpen?: boolean;
}): Promise<TimedResponse & { bytesSent: number }> {
  const started = performance.now();
  // Small writes: Node destroys a socket on EPIPE without reading what the server had already
  // answered, so a large write still pending when a refusing server closes would hide a reply that
  // is there (curl and a plain socket read it). 16 kB writes were seen to never lose it.
  const filler = Buffer.alloc(opts.chunkBytes ?? 16 * 1024, 0x61);
  const body = opts.body ?? Buffer.alloc(0);
  const total = opts.sendBytes ?? body.length;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let bytesSent = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      const res = parseResponse(Buffer.concat(received), err !== undefined);
      if (!res && !err) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (res && res.status > 0) resolve({ ...res, ms: performance.now() - started, bytesSent });
      else reject(err ?? new Error('no reply'));
    };
    const timer = setTimeout(() => finish(new Error(`no reply to ${opts.method} ${opts.path.slice(0, 80)} within ${opts.timeoutMs ?? 10_000} ms (${bytesSent} body bytes sent)`)), opts.timeoutMs ?? 10_000);
    socket.on('data', (d: Buffer) => {
      received.push(d);
      finish();
    });
    socket.on('end', () => finish(new Error('connection closed without a reply')));
    // EPIPE / ECONNRESET after the reply came are expected: the server refused the rest of the body.
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error('connection closed without a reply')));
    const headers: Record<string, string | number> = { host: `127.0.0.1:${port}`, connection: 'close', ...opts.headers };
    if (opts.chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = opts.declaredBytes ?? total;
    const head = `${opts.method} ${opts.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
    socket.write(head);
    const pump = () => {
      if (done || socket.destroyed) return;
      if (bytesSent >= total) {
        if (opts.chunked && !opts.leaveOpen) socket.write('0\r\n\r\n');
        return;
      }
      const piece = opts.body ? body.subarray(bytesSent, bytesSent + filler.length) : filler.subarray(0, Math.min(filler.length, total - bytesSent));
      const framed = opts.chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
      socket.write(framed, (err) => {
        if (err) return;
        bytesSent += piece.length;
        if (opts.pauseMs) setTimeout(pump, opts.pauseMs);
        else setImmediate(pump);
      });
    };
    pump();
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
