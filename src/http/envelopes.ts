/**
 * The documented error bodies. The published API uses a different envelope per endpoint family;
 * each is built here and nowhere else. Routes name theirs in `config.envelope`.
 */
import { caseReadEnvelopes } from '../modules/cases/lifecycle/envelopes.ts';

export type EnvelopeName = 'intake' | 'payments' | 'standard' | keyof typeof caseReadEnvelopes;

export interface Envelope {
  /** Body for a missing (`missing`), unknown or revoked `cv-api-key`. */
  unauthorized(reason?: 'missing' | 'invalid'): Record<string, unknown>;
  /** Body for any other error with this status and message. */
  error(status: number, message: string): Record<string, unknown>;
}

export const envelopes: Record<EnvelopeName, Envelope> = {
  // POST /api/v1/dynamic-case (seed 003) and the forms API beside it.
  intake: {
    unauthorized: () => ({ status: 401, error: 'Invalid request' }),
    error: (_status, message) => ({ success: false, error: message }),
  },
  // POST /api/v1/cases/:caseId/payments (seed 000), payments/setup, payments/intent, promo codes.
  payments: {
    unauthorized: () => ({ status: 401, error: 'Invalid API key' }),
    error: (_status, message) => ({ success: false, message }),
  },
  // Our own routes (admin API, health, unknown paths): one consistent shape.
  standard: {
    unauthorized: () => ({ status: 401, success: false, error: 'Unauthorized' }),
    error: (status, message) => ({ status, success: false, error: message }),
  },
  ...caseReadEnvelopes,
};

const IDEMPOTENCY_CONFLICT = 'A record with the provided idempotencyKey already exists for this organization.';

/** The documented 409 of every endpoint that takes an `idempotencyKey` (seed 003, reused by seed 000). */
export function idempotencyConflictBody(description = IDEMPOTENCY_CONFLICT): Record<string, unknown> {
  return { status: 409, success: false, code: 'IDEMPOTENCY_ERROR', description };
}

/** A domain error with the HTTP status it maps to; the route's envelope shapes its body. */
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

/** The documented 409; `description` says why when the key is not simply used (a request still in progress). */
export class IdempotencyConflictError extends ApiError {
  constructor(description = IDEMPOTENCY_CONFLICT) {
    super(409, description, 'IDEMPOTENCY_ERROR');
  }
}
