import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { envelopes } from './envelopes.ts';

/**
 * The headers of every API answer, errors included: an API answer is data, never a page, so nothing may load
 * from it or frame it, and no cache keeps it. The API reference's pages (under /docs) and the web console's
 * (under /console) carry `nosniff` and a Content-Security-Policy of their own instead.
 */
export const API_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
} as const;

/** A folder of pages, so `/docsXYZ` is an API answer (a 404). */
const inFolder = (url: string, folder: string) =>
  url === folder || url.startsWith(`${folder}/`) || url.startsWith(`${folder}?`);

/**
 * The pages that set their own policy: the API reference (/docs, src/http/openapi.ts) and the web console
 * (/console, src/modules/console/routes.ts).
 */
function isPage(url: string): boolean {
  return inFolder(url, '/docs') || inFolder(url, '/console');
}

/** The security headers and the request id on every answer that goes through Fastify. */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (isPage(request.url)) reply.header('x-content-type-options', API_HEADERS['x-content-type-options']);
    else reply.headers(API_HEADERS);
    done(null, payload);
  });
}

/**
 * Fastify's `clientErrorHandler`: the answer to a request Node's HTTP parser refuses before Fastify sees it (no
 * route, no hook runs): headers or URL over Node's limit (431), a malformed request (400), a request that took
 * too long to arrive (408). In the standard envelope with the same headers as every API answer, and the
 * connection closed, as Node and Fastify's own handler do.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request headers (the URL included) are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request took too long to arrive']
        : [400, 'Malformed HTTP request'];
  const body = JSON.stringify(envelopes.standard.error(status, message));
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-request-id': randomUUID(),
    ...API_HEADERS,
    connection: 'close',
  };
  if (socket.writable) {
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('')}\r\n${body}`);
  }
  socket.destroy(error);
}
