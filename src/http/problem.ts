import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldError } from '../domain/errors.js';

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'bad-request', 401: 'unauthorized', 403: 'forbidden', 404: 'not-found', 409: 'conflict',
  413: 'payload-too-large', 415: 'unsupported-media-type', 422: 'validation-error', 429: 'rate-limited', 500: 'internal-error',
};

export function sendProblem(reply: FastifyReply, status: number, title: string, detail: string, errors: FieldError[] = []): FastifyReply {
  const body: Record<string, unknown> = { type: `urn:sms-gateway:problem:${TYPE_BY_STATUS[status] ?? 'error'}`, title, status, detail };
  if (errors.length > 0) body.errors = errors;
  return reply.code(status).type('application/problem+json').send(body);
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
  if (status >= 400 && status < 500) {
    const title = status === 413 ? 'Payload too large' : status === 415 ? 'Unsupported media type' : 'Bad request';
    return sendProblem(reply, status, title, error.message);
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(reply, 500, 'Internal server error', 'the gateway failed to handle this request; it has been logged');
}
