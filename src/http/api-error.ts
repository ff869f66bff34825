/** A domain error with the HTTP status it maps to; the route's envelope shapes its body (envelopes.ts). */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string | undefined;

  constructor(statusCode: number, message: string, code?: string) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.code = code;
  }
}

export const IDEMPOTENCY_CONFLICT = 'A record with the provided idempotencyKey already exists for this organization.';

/** The documented 409 of a used idempotency key; `description` says why when the key is not simply used. */
export class IdempotencyConflictError extends ApiError {
  constructor(description = IDEMPOTENCY_CONFLICT) {
    super(409, description, 'IDEMPOTENCY_ERROR');
  }
}
