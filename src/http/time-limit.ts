import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from './api-error.ts';

/**
 * The time a handler has to answer (REQUEST_TIMEOUT_MS, docs/api/limits-and-audit.md): past it the client
 * gets 503 `Request timed out` in the route's envelope (through the error handler) and the connection is
 * closed after it, or, if the response had already started, a closed connection. The handler itself is not interrupted: what it committed stays
 * committed, which is why intake and payment requests carry an idempotency key.
 *
 * Instead of Fastify's `handlerTimeout` (a timer, an AbortController and a close listener per request, and
 * a `request.signal` that Fastify 5.12 aborts as soon as a POST body has been read: fastify/fastify#6725),
 * requests in flight sit in one map that a single timer sweeps `SWEEPS_PER_LIMIT` times per limit (at
 * least once a second), so a request is answered at most a sweep after its limit.
 */
const SWEEPS_PER_LIMIT = 10;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route answers in its own time (the admin API's backup of the whole database). */
    timeLimit?: boolean;
  }
}

/**
 * The 503, and the end of the connection: the request's body may still be arriving (a client trickling it),
 * and nothing after it on this connection can be read in order anyway.
 */
function timedOut(reply: FastifyReply): void {
  const socket = reply.request.raw.socket;
  reply.raw.once('finish', () => socket.destroy());
  reply.header('connection', 'close').send(new ApiError(503, 'Request timed out', 'REQUEST_TIMEOUT'));
}

export function registerHandlerTimeLimit(app: FastifyInstance, limitMs: number): void {
  const deadlines = new Map<FastifyReply, number>();

  app.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.config.timeLimit !== false) deadlines.set(reply, Date.now() + limitMs);
    done();
  });
  app.addHook('onResponse', (_request, reply, done) => {
    deadlines.delete(reply);
    done();
  });

  const sweep = () => {
    const now = Date.now();
    for (const [reply, deadline] of deadlines) {
      const response = reply.raw;
      if (reply.sent || response.writableEnded || response.destroyed) {
        deadlines.delete(reply); // answered, or the client went away: onResponse may not run
      } else if (now >= deadline) {
        deadlines.delete(reply);
        if (response.headersSent) response.destroy();
        else timedOut(reply);
      }
    }
  };
  const timer = setInterval(sweep, Math.min(1000, Math.max(1, Math.floor(limitMs / SWEEPS_PER_LIMIT))));
  timer.unref();
  app.addHook('onClose', (_instance, done) => {
    clearInterval(timer);
    done();
  });
}
