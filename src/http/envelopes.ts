import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { IDEMPOTENCY_CONFLICT } from './api-error.ts';

/**
 * The documented error bodies. The published API answers errors in a different envelope per endpoint
 * family; each family is defined here once: its bodies, the Zod schemas a route declares for them, and the
 * status a failed authentication answers with. Routes name theirs in `config.envelope`; every error path
 * (the error handler, the gate, rate limits, the router's refusals, unknown routes) answers through
 * `sendError` / `sendUnauthorized` below.
 */
export type EnvelopeName =
  'intake' | 'payments' | 'bundles' | 'caseRead' | 'caseForm' | 'latestCaseId' | 'users' | 'standard';

/** Why a key was refused: none was sent, or it is unknown or revoked. */
export type KeyRefusal = 'missing' | 'invalid';

export interface Envelope {
  /** The status of a missing, unknown or revoked `cv-api-key` (the bundles family answers it with 400). */
  readonly unauthorizedStatus: number;
  /** Body for a missing, unknown or revoked `cv-api-key`. */
  unauthorized(reason: KeyRefusal): Record<string, unknown>;
  /** Body for any other error with this status and message. */
  error(status: number, message: string): Record<string, unknown>;
  /** The message of a request that failed its schema, from the first issue (`field` as a JSON pointer). */
  validationMessage(instancePath: string, context: string | undefined, issue: string): string;
  /** What a route declares for `unauthorizedStatus`, and for every other error status. */
  readonly unauthorizedSchema: z.ZodType;
  readonly errorSchema: z.ZodType;
}

/** The documented 409 of every endpoint that takes an `idempotencyKey` (Case Create, Case Payment Create). */
export function idempotencyConflictBody(description = IDEMPOTENCY_CONFLICT): Record<string, unknown> {
  return { status: 409, success: false, code: 'IDEMPOTENCY_ERROR', description };
}

export const idempotencyConflictSchema = z
  .object({
    status: z.literal(409),
    success: z.literal(false),
    code: z.literal('IDEMPOTENCY_ERROR'),
    description: z.string(),
  })
  .meta({ id: 'IdempotencyConflict', description: 'A reused idempotencyKey with a different request' });

/** `/shippingAddress/city` -> `shippingAddress.city`; the root path becomes the location name. */
function fieldPath(instancePath: string, context: string | undefined): string {
  const path = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  return path || context || 'body';
}

const validationFailed = (instancePath: string, context: string | undefined, issue: string) =>
  `Validation failed: ${fieldPath(instancePath, context)}: ${issue}`;

const keyRefusedSchema = z
  .object({ status: z.literal(401), error: z.string() })
  .meta({ id: 'KeyRefused', description: 'No key, or an unknown or revoked key (Case Create and payment endpoints)' });

/** The bundles family names every 4xx but a 404 by the same summary, and says what was wrong in `error`. */
const bundleSummary = (status: number, message: string) =>
  status === 404 || status >= 500 ? message : 'Invalid request parameters';

export const envelopes: Record<EnvelopeName, Envelope> = {
  // The Case Create endpoint (POST /api/v1/dynamic-case) and the forms API beside it.
  intake: {
    unauthorizedStatus: 401,
    unauthorized: () => ({ status: 401, error: 'Invalid request' }),
    error: (_status, message) => ({ success: false, error: message }),
    validationMessage: validationFailed,
    unauthorizedSchema: keyRefusedSchema,
    errorSchema: z
      .object({ success: z.literal(false), error: z.string() })
      .meta({ id: 'IntakeError', description: 'An error of the Case Create endpoint and the forms API' }),
  },
  // Case Payment Create, payments/setup, payments/intent, promo codes, the payment configuration.
  payments: {
    unauthorizedStatus: 401,
    unauthorized: () => ({ status: 401, error: 'Invalid API key' }),
    error: (_status, message) => ({ success: false, message }),
    // The payment bodies' schemas (src/modules/payments/body-schemas.ts) give the published bare sentences
    // ("Amount must be a positive number"), which name their field themselves; queries and the rest keep the form.
    validationMessage: (instancePath, context, issue) =>
      context === 'body' ? issue : validationFailed(instancePath, context, issue),
    unauthorizedSchema: keyRefusedSchema,
    errorSchema: z
      .object({ success: z.literal(false), message: z.string() })
      .meta({ id: 'PaymentError', description: 'An error of the payment and promo code endpoints' }),
  },
  // The Product Bundles List and Product Bundle Detail endpoints: a refused key is a 400 like any bad parameter.
  bundles: {
    unauthorizedStatus: 400,
    unauthorized: () => ({
      status: 400,
      success: false,
      message: 'Invalid request parameters',
      error: 'Invalid API key',
    }),
    error: (status, message) => ({ status, success: false, message: bundleSummary(status, message), error: message }),
    validationMessage: (instancePath, context, issue) =>
      `${instancePath.replace(/^\//, '') || context || 'request'}: ${issue}`,
    get unauthorizedSchema() {
      return this.errorSchema;
    },
    errorSchema: z
      .object({ status: z.number(), success: z.literal(false), message: z.string(), error: z.string() })
      .meta({ id: 'BundleError', description: 'An error of the product bundle endpoints, a refused key included' }),
  },
  // The case detail, the case list and the case actions, whose pages show no error body, answer like their sibling
  // Patient Add Form to Case endpoint (docs/api/cases.md).
  caseRead: {
    unauthorizedStatus: 401,
    unauthorized: (reason) => ({
      status: 401,
      success: false,
      error: reason === 'missing' ? 'Secret key not provided!' : 'Invalid API key',
    }),
    error: (status, message) => ({ status, success: false, error: message }),
    validationMessage: validationFailed,
    unauthorizedSchema: z
      .object({ status: z.literal(401), success: z.literal(false), error: z.string() })
      .meta({ id: 'CaseReadKeyRefused', description: 'No key, or an unknown or revoked key (case reads)' }),
    errorSchema: z
      .object({ status: z.number(), success: z.literal(false), error: z.string() })
      .meta({ id: 'CaseReadError', description: 'An error of the case detail and case list' }),
  },
  // The Patient Add Form to Case endpoint: its page lists every error, a missing key included, as a 400.
  caseForm: {
    unauthorizedStatus: 400,
    unauthorized: (reason) => ({
      status: 400,
      success: false,
      error: reason === 'missing' ? 'Secret key not provided!' : 'Invalid API key',
    }),
    error: (status, message) => ({ status, success: false, error: message }),
    validationMessage: validationFailed,
    get unauthorizedSchema() {
      return this.errorSchema;
    },
    errorSchema: z.object({ status: z.number(), success: z.literal(false), error: z.string() }),
  },
  // The Patient Get Case Id endpoint: the bare `{"error"}` of its page.
  latestCaseId: {
    unauthorizedStatus: 401,
    unauthorized: (reason) => ({
      error: reason === 'missing' ? 'Secret key not provided!' : 'Organization with [CV-Api-Key-Hash] not found!',
    }),
    error: (_status, message) => ({ error: message }),
    validationMessage: validationFailed,
    unauthorizedSchema: z.object({ error: z.string() }).meta({ id: 'LatestCaseIdError' }),
    get errorSchema() {
      return this.unauthorizedSchema;
    },
  },
  // The users endpoints (check-user, POST /api/v1/users): `{status, success, message}`, as their pages show.
  users: {
    unauthorizedStatus: 401,
    unauthorized: (reason) => ({
      status: 401,
      success: false,
      message: reason === 'missing' ? 'Secret key not provided!' : 'Invalid API key',
    }),
    error: (status, message) => ({ status, success: false, message }),
    validationMessage: validationFailed,
    unauthorizedSchema: z.object({ status: z.literal(401), success: z.literal(false), message: z.string() }),
    errorSchema: z.object({ status: z.number(), success: z.literal(false), message: z.string() }),
  },
  // Our own routes (admin API, health, unknown paths): one consistent shape.
  standard: {
    unauthorizedStatus: 401,
    unauthorized: () => ({ status: 401, success: false, error: 'Unauthorized' }),
    error: (status, message) => ({ status, success: false, error: message }),
    validationMessage: validationFailed,
    unauthorizedSchema: z
      .object({ status: z.literal(401), success: z.literal(false), error: z.string() })
      .meta({ id: 'Unauthorized', description: 'No or a wrong admin token (admin API)' }),
    errorSchema: z
      .object({ status: z.number(), success: z.literal(false), error: z.string() })
      .meta({ id: 'Error', description: "An error of care360's own routes (admin API, health, unknown paths)" }),
  },
};

/** The family a request's route answers errors in (`config.envelope`; the standard one by default). */
export function envelopeOf(request: FastifyRequest): Envelope {
  return envelopes[request.routeOptions.config?.envelope ?? 'standard'];
}

/** A case's state as a staff action found it (the 409 of a staff action, docs/api/staff.md). */
export const foundCaseSchema = z.object({
  caseId: z.uuid(),
  status: z.string(),
  isArchived: z.boolean(),
  isEscalated: z.boolean(),
  assigneeId: z.uuid().nullable(),
  version: z.number().int().describe('Send as expectedVersion to act only on this state'),
});

/**
 * The 409 of a staff action on a case whose state does not allow it (another member acted first, or the case
 * changed since it was read): the standard envelope with the state the action found.
 */
export function caseConflictBody(message: string, found: z.infer<typeof foundCaseSchema>): Record<string, unknown> {
  return { status: 409, success: false, error: message, found };
}

export const caseConflictSchema = z.object({
  status: z.literal(409),
  success: z.literal(false),
  error: z.string(),
  found: foundCaseSchema,
});

/** Answers an error in the request's family. */
export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, message: string) {
  return reply.code(status).send(envelopeOf(request).error(status, message));
}

/** Answers a missing, unknown or revoked key in the request's family, with that family's status. */
export function sendUnauthorized(request: FastifyRequest, reply: FastifyReply, reason: KeyRefusal = 'invalid') {
  const envelope = envelopeOf(request);
  return reply.code(envelope.unauthorizedStatus).send(envelope.unauthorized(reason));
}

/** Answers the documented 409 of a used idempotency key. */
export function sendIdempotencyConflict(reply: FastifyReply, description?: string) {
  return reply.code(409).send(idempotencyConflictBody(description));
}

/**
 * A route's error responses for its schema: each status with its family's schema (at 401, the refused key's).
 * `idempotencyConflict`: the route takes an `idempotencyKey`, and its 409 is the documented conflict body.
 */
export function errorResponses<Status extends number>(
  family: EnvelopeName,
  statuses: readonly Status[],
  options: { idempotencyConflict?: boolean } = {},
): Record<Status, z.ZodType> {
  const envelope = envelopes[family];
  const responses = {} as Record<Status, z.ZodType>;
  for (const status of statuses) {
    responses[status] =
      status === 409 && options.idempotencyConflict
        ? idempotencyConflictSchema
        : status === 401
          ? envelope.unauthorizedSchema
          : envelope.errorSchema;
  }
  return responses;
}
