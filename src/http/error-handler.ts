import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isConnectionLost } from '../db/database.ts';
import { ApiError } from './api-error.ts';
import {
  envelopeOf,
  envelopes,
  sendError,
  sendIdempotencyConflict,
  sendUnauthorized,
  type EnvelopeName,
} from './envelopes.ts';
import type { Scope } from './gate.ts';
import { API_HEADERS } from './security-headers.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which documented error body this route answers with (default: standard). */
    envelope?: EnvelopeName;
  }
}

/** Fastify's own error codes at the edge, mapped to messages a client can act on. */
const edgeErrors: Record<string, { status: number; message: (error: FastifyError) => string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, message: () => 'Validation failed: body: Malformed JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, message: () => 'Validation failed: body: Required' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, message: () => 'Request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    message: () => 'Unsupported Content-Type: send application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, message: () => 'Content-Length does not match the body' },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, message: () => 'Invalid Content-Type header' },
};

export function registerErrorHandling(app: FastifyInstance): void {
  // The connection to the database was lost under the request (a terminated backend, a failover) or could
  // not be made. Its transaction is committed whole or not at all (a COMMIT whose answer was lost may have
  // gone through), so a retry with the same idempotency key is safe and finds it either way.
  const databaseUnavailable = (request: FastifyRequest, reply: FastifyReply, error: unknown) => {
    request.log.warn({ err: error }, 'database connection lost; answered 503');
    return sendError(request, reply, 503, 'The database is unavailable; please retry');
  };

  app.setErrorHandler(async (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // A request whose key was not read again (gate.ts, keyConfirmedByWrite) did not reach its write, or its
    // write found the key revoked: the key is confirmed before anything about the request is answered.
    const scope = request.scope as Scope | null;
    if (scope?.keyToCheckInWrite) {
      let active: boolean;
      try {
        active = await scope.confirmKey();
      } catch (confirmError) {
        if (isConnectionLost(confirmError)) return databaseUnavailable(request, reply, confirmError);
        request.log.error({ err: confirmError }, 'API key could not be confirmed');
        return sendError(request, reply, 500, 'Internal server error');
      }
      if (!active) return sendUnauthorized(request, reply);
    }

    if (error instanceof ApiError) {
      if (error.code === 'IDEMPOTENCY_ERROR') return sendIdempotencyConflict(reply, error.message);
      if (error.statusCode === 401) return sendUnauthorized(request, reply);
      return sendError(request, reply, error.statusCode, error.message);
    }

    if (error.validation) {
      const [first] = error.validation;
      const message = first
        ? envelopeOf(request).validationMessage(
            first.instancePath,
            error.validationContext,
            first.message ?? 'is invalid',
          )
        : 'Validation failed';
      return sendError(request, reply, 400, message);
    }

    const edge = error.code ? edgeErrors[error.code] : undefined;
    if (edge) return sendError(request, reply, edge.status, edge.message(error));

    // Any other 4xx that Fastify or a plugin raised keeps its status; its message is ours to show.
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(request, reply, error.statusCode, error.message);
    }

    // PostgreSQL text cannot hold U+0000 (SQLSTATE 22021), nor jsonb a \u0000 (22P05): the request carried
    // one in a field stored or searched as is (a query filter, a name); the statement failed and wrote nothing.
    const sqlState = (error as { code?: unknown }).code;
    if (sqlState === '22021' || sqlState === '22P05') {
      return sendError(request, reply, 400, 'Text must not contain NUL characters');
    }

    if (isConnectionLost(error)) return databaseUnavailable(request, reply, error);

    // Unexpected: log the error (never the body), answer without internals.
    request.log.error({ err: error }, 'unhandled error');
    return sendError(request, reply, 500, 'Internal server error');
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send(envelopes.standard.error(404, `Route ${request.method} ${request.url.split('?')[0]} not found`));
  });
}

/**
 * Fastify's `frameworkErrors`: the router's own refusals (a malformed or over-long path parameter) in the
 * standard envelope, instead of Fastify's body that echoes the path. No route matched, so no route hook
 * runs: the request id and the API headers are set here.
 */
export function answerRouterError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
  void reply
    .code(status)
    .header('x-request-id', request.id)
    .headers(API_HEADERS)
    .send(envelopes.standard.error(status, status === 414 ? 'A path parameter is too long' : 'Malformed URL'));
}
