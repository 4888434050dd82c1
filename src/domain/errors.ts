/** One field-level problem, named the way a client wrote it (`to[0].number`). */
export interface FieldError {
  field: string;
  message: string;
  reason?: string;
}

/** Base of every error that becomes a problem+json reply; anything else is a 500. */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly errors: FieldError[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export class ValidationError extends AppError {
  constructor(detail: string, errors: FieldError[] = []) {
    super(422, 'Validation failed', detail, errors);
  }
}

export class BadRequestError extends AppError {
  constructor(detail: string) {
    super(400, 'Bad request', detail);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super(404, 'Not found', `${what} ${id} does not exist`);
  }
}

export class ConflictError extends AppError {
  constructor(detail: string) {
    super(409, 'Conflict', detail);
  }
}

export class UnauthorizedError extends AppError {
  constructor(detail: string) {
    super(401, 'Unauthorized', detail);
  }
}

export class RateLimitedError extends AppError {
  constructor(detail: string, retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super(429, 'Too many requests', detail, [], { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))), ...headers });
  }
}
