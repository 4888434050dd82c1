import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldError } from '../domain/errors.js';
import { twilioApiOf, twilioErrorHandler } from '../twilio-compat/errors.js';

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'bad-request', 401: 'unauthorized', 403: 'forbidden', 404: 'not-found', 409: 'conflict',
  408: 'request-timeout', 413: 'payload-too-large', 414: 'uri-too-long', 415: 'unsupported-media-type', 422: 'validation-error',
  429: 'rate-limited', 431: 'headers-too-large', 500: 'internal-error',
};

function problemBody(status: number, title: string, detail: string, errors: FieldError[] = []): Record<string, unknown> {
  const body: Record<string, unknown> = { type: `urn:sms-gateway:problem:${TYPE_BY_STATUS[status] ?? 'error'}`, title, status, detail };
  if (errors.length > 0) body.errors = errors;
  return body;
}

export function sendProblem(reply: FastifyReply, status: number, title: string, detail: string, errors: FieldError[] = []): FastifyReply {
  return reply.code(status).type('application/problem+json').send(problemBody(status, title, detail, errors));
}

/** `/to/0/number` -> `to[0].number`, the way a client wrote the field. */
function fieldName(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra) parts.push(extra);
  return parts.reduce((name, part) => (/^\d+$/.test(part) ? `${name}[${part}]` : name ? `${name}.${part}` : part), '');
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

function validationErrors(issues: AjvIssue[], context: string | undefined): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const issue of issues) {
    const missing = issue.keyword === 'required' ? String(issue.params?.missingProperty ?? '') : undefined;
    let field = fieldName(issue.instancePath ?? '', missing);
    if (!field) field = context === 'body' ? 'body' : context ?? 'request';
    // A union's every branch reports; one line per field is enough.
    if (seen.has(field)) continue;
    seen.add(field);
    let message = missing ? 'is required' : issue.message ?? 'is invalid';
    if (issue.keyword === 'anyOf' || issue.keyword === 'const') message = 'is not one of the allowed values';
    if (issue.keyword === 'format') message = `must be a valid ${String(issue.params?.format)}`;
    out.push({ field, message });
  }
  return out;
}

/** The one place errors become problem+json: typed errors keep their status, anything unknown is a 500. */
export function errorHandler(error: FastifyError & { validationContext?: string }, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError) {
    for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
    return sendProblem(reply, error.status, error.title, error.message, error.errors);
  }
  if (error.validation) {
    const errors = validationErrors(error.validation as AjvIssue[], error.validationContext);
    return sendProblem(reply, 422, 'Validation failed', errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return sendProblem(reply, status, STATUS_CODES[status] ?? 'Bad request', error.message);
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(reply, 500, 'Internal server error', 'the gateway failed to handle this request; it has been logged');
}

/** Errors Fastify raises before routing (a path that is not valid percent-encoding, a too-long parameter). */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const [status, title, detail] = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? [414, 'URI too long', 'a path segment is longer than any id this API uses']
    : error.code === 'FST_ERR_BAD_URL' ? [400, 'Bad request', 'the path is not valid percent-encoded UTF-8']
      : [error.statusCode && error.statusCode < 500 ? error.statusCode : 400, 'Bad request', error.message];
  // The Twilio-compatible API's clients read Twilio's error shape, even for a request refused before routing.
  const twilioApi = twilioApiOf(request.url);
  if (twilioApi) return twilioErrorHandler(twilioApi)(Object.assign(new Error(detail), { statusCode: status }) as FastifyError, request, reply);
  return sendProblem(reply, status, title, detail);
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (headers too large, a
 * malformed request line, a request that took too long): still answered as problem+json.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request was not received in time']
    : error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are larger than allowed']
      : [400, 'the request is not valid HTTP'] as const;
  const body = JSON.stringify(problemBody(status, STATUS_CODES[status] ?? 'Bad request', detail));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
