import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ObservabilityConfig } from '../config.ts';
import { sendUnauthorized } from '../http/envelopes.ts';
import type { Observability } from './index.ts';
import type { Metrics } from './metrics.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's span, when tracing is on (src/observability/http.ts). */
    traceSpan: Span | null;
  }
}

/** The label of a request that matched no route: its URL is never a label. */
const UNMATCHED = 'unmatched';

const routeOf = (request: FastifyRequest): string => request.routeOptions.url ?? UNMATCHED;

/**
 * Requests measured (a latency histogram by route template, method and status) and traced (a server span
 * per request, continuing a caller's `traceparent`, with the request id), and GET /metrics. Registered
 * first, so its `onRequest` hook opens the span before any other runs. Nothing is added for a part that is off.
 */
export function registerObservability(
  app: FastifyInstance,
  observability: Observability,
  config: ObservabilityConfig,
  sources: { auditBacklog: () => number },
): void {
  const { metrics, tracer } = observability;
  app.addHook('onClose', async () => observability.shutdown());
  if (metrics) metrics.auditBacklog(sources.auditBacklog);

  if (tracer) {
    app.decorateRequest('traceSpan', null);
    app.addHook('onRequest', (request, _reply, done) => {
      const parent = propagation.extract(ROOT_CONTEXT, request.headers);
      const route = routeOf(request);
      const span = tracer.startSpan(
        `${request.method} ${route}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': request.method,
            'http.route': route,
            'care360.request_id': request.id,
          },
        },
        parent,
      );
      request.traceSpan = span;
      // Everything after this hook (authentication's key look-up, the body, the handler and its statements) runs
      // in the request's context: Node carries it through the body's reads (tracing.test.ts sends a 500 KB body
      // over a socket and checks the statements' parents).
      context.with(trace.setSpan(parent, span), done);
    });
  }

  if (metrics || tracer) {
    app.addHook('onResponse', (request, reply, done) => {
      const status = reply.statusCode;
      metrics?.httpRequest(request.method, routeOf(request), status, reply.elapsedTime / 1000);
      const span = request.traceSpan;
      if (span) {
        span.setAttribute('http.response.status_code', status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      done();
    });
  }

  if (metrics && config.metricsToken) registerMetricsRoute(app, metrics, config.metricsToken);
  if (metrics && config.metricsPort !== undefined) serveMetricsOnLoopback(app, metrics, config.metricsPort);
}

function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** GET /metrics on the main port, for a bearer of METRICS_TOKEN only (401 to anyone else). */
function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, token: string): void {
  app.get('/metrics', { schema: { hide: true }, config: { envelope: 'standard' } }, async (request, reply) => {
    const header = request.headers.authorization;
    const given = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
    if (given === undefined || !sameSecret(given, token)) {
      return sendUnauthorized(request, reply.header('www-authenticate', 'Bearer'));
    }
    const { contentType, body } = await metrics.exposition();
    return reply.header('content-type', contentType).send(body);
  });
}

/**
 * GET /metrics without a token on 127.0.0.1:METRICS_PORT, a listener of its own (for a Prometheus agent on
 * the same host). It starts with the app (a port in use stops the start) and closes with it.
 */
function serveMetricsOnLoopback(app: FastifyInstance, metrics: Metrics, port: number): void {
  let server: Server | undefined;
  app.addHook('onReady', async () => {
    server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
        return;
      }
      metrics.exposition().then(
        ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
        () => response.writeHead(500, { 'content-type': 'text/plain' }).end('Metrics unavailable\n'),
      );
    });
    const listening = once(server, 'listening'); // rejects on an 'error' event before it
    server.listen(port, '127.0.0.1');
    await listening;
    app.log.info({ port }, `metrics on http://127.0.0.1:${port}/metrics`);
  });
  app.addHook('onClose', async () => {
    if (server?.listening) await new Promise((resolve) => server!.close(resolve));
  });
}
